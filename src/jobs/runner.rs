//! Carries one claimed job to its end: run the worker, record progress, publish or fail,
//! retry crashes. Shared by the server's supervisor and `marquee ingest`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::process::{WorkerOutcome, run_worker};
use super::publish::{self, PublishError};
use super::queue::{self, ClaimedJob, QueueError};
use crate::catalog::{self, Asset, CatalogError};
use crate::config::{Config, DataDir, IngestConfig, TranscodeConfig};
use crate::db::{Db, DbError};
use crate::media::{TranscodeRequest, TranscodeSettings};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct JobEnv {
    pub db: Db,
    pub data: DataDir,
    pub transcode: TranscodeConfig,
    /// The sidecar size limits travel to the worker from here.
    pub ingest: IngestConfig,
    /// This binary, run as `marquee worker`.
    pub exe: PathBuf,
}

impl JobEnv {
    /// Prepares the data dir and opens the database, for `serve` and `ingest` alike.
    pub fn open(data: &DataDir, config: &Config) -> Result<JobEnv, JobError> {
        data.create_all()?;
        let db = Db::open(&data.db_path())?;
        Ok(JobEnv {
            db,
            data: data.clone(),
            transcode: config.transcode.clone(),
            ingest: config.ingest.clone(),
            exe: std::env::current_exe()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Ready,
    Failed(String),
    /// Back in the queue: crashed with attempts left, or interrupted by shutdown.
    Requeued,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `observer` sees (percent, eta seconds) as the worker reports.
pub async fn run_claimed(
    env: &JobEnv,
    job: ClaimedJob,
    observer: &mut (dyn FnMut(f64, Option<i64>) + Send),
    cancel: watch::Receiver<bool>,
) -> Result<JobEnd, JobError> {
    let asset_id = job.asset_id.clone();
    let asset: Asset = env.db.read(move |c| catalog::get(c, &asset_id)).await?;
    if !asset.source_path.is_file() {
        let reason = format!("the source file {} is gone", asset.source_path.display());
        return fail(env, &job, reason).await;
    }
    let staging = env
        .data
        .staging()
        .join(publish::staging_name(&asset.id, job.job_id));
    discard_staging(&staging).await;
    std::fs::create_dir_all(&staging)?;
    let request = TranscodeRequest {
        source: asset.source_path.clone(),
        output_dir: staging.clone(),
        sidecars: asset.sidecars.clone(),
        settings: settings_of(&env.transcode, &env.ingest),
    };

    let heartbeat = spawn_heartbeat(env.db.clone(), job.job_id);
    let started = Instant::now();
    let mut last_write = Instant::now() - Duration::from_secs(10);
    let db = env.db.clone();
    let id = asset.id.clone();
    let mut on_progress = |percent: f64| {
        let eta = eta_secs(percent, started.elapsed());
        observer(percent, eta);
        // At most one progress write a second: the writer is shared with everything else.
        if last_write.elapsed() >= Duration::from_secs(1) {
            last_write = Instant::now();
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                let _ = db
                    .write(move |tx| catalog::set_progress(tx, &id, percent, eta, now()))
                    .await;
            });
        }
    };
    let timeout = Duration::from_secs(env.transcode.timeout_secs);
    let outcome = run_worker(&env.exe, &request, timeout, &mut on_progress, cancel).await;
    heartbeat.abort();
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            discard_staging(&staging).await;
            return Err(e.into());
        }
    };

    match outcome {
        WorkerOutcome::Done(manifest) => {
            let data = env.data.clone();
            let asset_for_publish = asset.clone();
            let source = tokio::task::spawn_blocking(move || {
                publish::publish(&data, &asset_for_publish, &staging)
            })
            .await
            .map_err(|_| DbError::Task)??;
            let job_id = job.job_id;
            let id = asset.id.clone();
            env.db
                .write(move |tx| {
                    catalog::mark_ready(tx, &id, &source, &manifest, now())?;
                    queue::finish(tx, job_id, true, now())?;
                    Ok::<_, JobError>(())
                })
                .await?;
            tracing::info!(asset = %asset.id, title = %asset.title, "ready");
            Ok(JobEnd::Ready)
        }
        WorkerOutcome::Failed(reason) => {
            discard_staging(&staging).await;
            fail(env, &job, reason).await
        }
        WorkerOutcome::TimedOut => {
            discard_staging(&staging).await;
            fail(
                env,
                &job,
                format!(
                    "transcoding took longer than the {} s limit (transcode.timeout_secs)",
                    timeout.as_secs()
                ),
            )
            .await
        }
        WorkerOutcome::Crashed(how) => {
            discard_staging(&staging).await;
            if job.attempt >= env.transcode.max_attempts {
                let reason = format!(
                    "the transcoder crashed on each of {} attempts (last: {how})",
                    job.attempt
                );
                return fail(env, &job, reason).await;
            }
            tracing::warn!(asset = %asset.id, attempt = job.attempt, "worker {how}; retrying");
            let job_id = job.job_id;
            env.db
                .write(move |tx| queue::requeue(tx, job_id, now()))
                .await?;
            Ok(JobEnd::Requeued)
        }
        WorkerOutcome::Cancelled => {
            discard_staging(&staging).await;
            let job_id = job.job_id;
            // A shutdown is not the job's fault: give the attempt back.
            env.db
                .write(move |tx| {
                    queue::requeue(tx, job_id, now())?;
                    tx.execute(
                        "UPDATE jobs SET attempts = max(attempts - 1, 0) WHERE id = ?1",
                        [job_id],
                    )
                    .map_err(DbError::from)?;
                    Ok::<_, JobError>(())
                })
                .await?;
            Ok(JobEnd::Requeued)
        }
    }
}

async fn fail(env: &JobEnv, job: &ClaimedJob, reason: String) -> Result<JobEnd, JobError> {
    let (id, job_id, r) = (job.asset_id.clone(), job.job_id, reason.clone());
    env.db
        .write(move |tx| {
            catalog::mark_failed(tx, &id, &r, now())?;
            queue::finish(tx, job_id, false, now())?;
            Ok::<_, JobError>(())
        })
        .await?;
    tracing::warn!(asset = %job.asset_id, "failed: {reason}");
    Ok(JobEnd::Failed(reason))
}

/// Removes a staging folder on the blocking pool: a crashed job's partial package can be
/// large, and deleting it must not stall the executor.
async fn discard_staging(staging: &std::path::Path) {
    let staging = staging.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(staging)).await;
}

fn spawn_heartbeat(db: Db, job_id: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let _ = db
                .write(move |tx| queue::heartbeat(tx, job_id, now()))
                .await;
        }
    })
}

fn eta_secs(percent: f64, elapsed: Duration) -> Option<i64> {
    (percent >= 1.0).then(|| (elapsed.as_secs_f64() * (100.0 - percent) / percent).round() as i64)
}

pub fn settings_of(t: &TranscodeConfig, i: &IngestConfig) -> TranscodeSettings {
    TranscodeSettings {
        segment_secs: t.segment_secs,
        ladder: t.ladder.clone(),
        audio_kbps: t.audio_kbps,
        preset: t.preset.clone(),
        threads: t.threads,
        max_subtitle_mb: i.max_subtitle_mb,
        max_image_mb: i.max_image_mb,
    }
}

impl From<rusqlite::Error> for JobError {
    fn from(e: rusqlite::Error) -> Self {
        JobError::Db(DbError::Sqlite(e))
    }
}
