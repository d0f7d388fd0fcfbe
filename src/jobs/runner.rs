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
use crate::media::{PackageManifest, TranscodeRequest, TranscodeSettings};

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
    #[error("cannot run the transcoder {exe}: {source}")]
    Worker { exe: String, source: std::io::Error },
    #[error("cannot prepare the staging folder {path}: {source}")]
    Staging {
        path: String,
        source: std::io::Error,
    },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl JobError {
    /// The reason an operator reads on a failed asset: what could not be done, and where.
    pub fn operator_reason(&self) -> String {
        let not_writable = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            )
        };
        match self {
            JobError::Publish(PublishError::Io { what, source }) if not_writable(source) => {
                format!("the library folder is not writable: cannot move {what}: {source}")
            }
            JobError::Staging { path, source } if not_writable(source) => {
                format!("the staging folder {path} is not writable: {source}")
            }
            other => other.to_string(),
        }
    }
}

#[derive(Clone)]
pub struct JobEnv {
    pub db: Db,
    pub data: DataDir,
    /// Swapped when transcoding settings change in the dashboard; each job reads it as
    /// it starts.
    pub transcode: std::sync::Arc<arc_swap::ArcSwap<TranscodeConfig>>,
    /// The sidecar size limits travel to the worker from here.
    pub ingest: IngestConfig,
    /// This binary, run as `marquee worker`.
    pub exe: PathBuf,
    /// Whether titles made for new media start published (changed live in the dashboard).
    pub new_titles: crate::catalog::title_sidecar::NewTitlePolicy,
}

impl JobEnv {
    /// Prepares the data dir and opens the database, for `serve` and `ingest` alike.
    pub fn open(data: &DataDir, config: &Config) -> Result<JobEnv, JobError> {
        data.create_all()?;
        let db = Db::open(&data.db_path())?;
        Ok(JobEnv {
            new_titles: crate::catalog::title_sidecar::NewTitlePolicy::new(
                config.catalog.new_titles == crate::config::NewTitles::Published,
            ),
            db,
            data: data.clone(),
            transcode: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(
                config.transcode.clone(),
            )),
            ingest: config.ingest.clone(),
            exe: std::env::current_exe()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Ready,
    Failed(String),
    /// Back in the queue: a failure worth retrying with attempts left, or a shutdown.
    Requeued,
    /// The asset was deleted while its job ran; nothing was published.
    Deleted,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Carries a claimed job to its end. Whatever goes wrong ends in a retry that counts
/// against `transcode.max_attempts` or in a failed asset with the reason: never in a job
/// left `running` for the stale sweep to start again forever. `Err` only when even that
/// could not be recorded. `observer` sees (percent, eta seconds) as the worker reports.
pub async fn run_claimed(
    env: &JobEnv,
    job: ClaimedJob,
    observer: &mut (dyn FnMut(f64, Option<i64>) + Send),
    cancel: watch::Receiver<bool>,
) -> Result<JobEnd, JobError> {
    let heartbeat = spawn_heartbeat(env.db.clone(), job.job_id);
    let end = attempt(env, &job, observer, cancel).await;
    heartbeat.abort();
    match end {
        Ok(end) => Ok(end),
        Err(e) => {
            let reason = e.operator_reason();
            if out_of_space(env, &reason) {
                return wait_for_space(env, &job, reason).await;
            }
            if job.attempt >= env.transcode.load().max_attempts {
                fail(env, &job, format!("{reason} (tried {} times)", job.attempt)).await
            } else {
                retry_later(env, &job, reason).await
            }
        }
    }
}

async fn attempt(
    env: &JobEnv,
    job: &ClaimedJob,
    observer: &mut (dyn FnMut(f64, Option<i64>) + Send),
    cancel: watch::Receiver<bool>,
) -> Result<JobEnd, JobError> {
    let asset_id = job.asset_id.clone();
    let asset = match env.db.read(move |c| catalog::get(c, &asset_id)).await {
        Ok(asset) => asset,
        Err(CatalogError::NotFound(_)) => return Ok(JobEnd::Deleted),
        Err(e) => return Err(e.into()),
    };
    if !asset.source_path.is_file() {
        // An earlier attempt may have moved the source into the library and then failed
        // to record it: finish that publish instead of failing a good package.
        if finish_interrupted_publish(env, job, &asset).await? {
            return Ok(JobEnd::Ready);
        }
        let reason = format!("the source file {} is gone", asset.source_path.display());
        return fail(env, job, reason).await;
    }
    // Checked again now, not only when the file was queued: a file swapped for a link
    // while it waited must not make the worker read (and publish) what the link names.
    if let Some(foreign) = std::iter::once(&asset.source_path)
        .chain(asset.sidecars.iter().map(|s| &s.path))
        .find(|p| !env.data.owns(p))
    {
        let reason = format!(
            "{} is no longer a plain file in the inbox (it was replaced by a symbolic link or something else); drop the file itself again",
            foreign.display()
        );
        return fail(env, job, reason).await;
    }
    let staging = env
        .data
        .staging()
        .join(publish::staging_name(&asset.id, job.job_id));
    discard_staging(&staging).await;
    std::fs::create_dir_all(&staging).map_err(|source| JobError::Staging {
        path: staging.display().to_string(),
        source,
    })?;
    let request = TranscodeRequest {
        source: asset.source_path.clone(),
        output_dir: staging.clone(),
        sidecars: asset.sidecars.clone(),
        settings: settings_of(&env.transcode.load(), &env.ingest),
    };

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
    let timeout = Duration::from_secs(env.transcode.load().timeout_secs);
    let outcome = run_worker(&env.exe, &request, timeout, &mut on_progress, cancel).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(source) => {
            discard_staging(&staging).await;
            return Err(JobError::Worker {
                exe: env.exe.display().to_string(),
                source,
            });
        }
    };

    match outcome {
        WorkerOutcome::Done(manifest) => {
            crate::metrics::global().transcode_finished(manifest.duration_secs, started.elapsed());
            publish_package(env, job, &asset, staging, manifest).await
        }
        WorkerOutcome::Failed(reason) => {
            discard_staging(&staging).await;
            if out_of_space(env, &reason) {
                return wait_for_space(env, job, reason).await;
            }
            fail(env, job, reason).await
        }
        WorkerOutcome::TimedOut => {
            discard_staging(&staging).await;
            fail(
                env,
                job,
                format!(
                    "transcoding took longer than the {} s limit (transcode.timeout_secs)",
                    timeout.as_secs()
                ),
            )
            .await
        }
        WorkerOutcome::Crashed(how) => {
            discard_staging(&staging).await;
            if out_of_space(env, &how) {
                return wait_for_space(env, job, format!("the transcoder {how}")).await;
            }
            if job.attempt >= env.transcode.load().max_attempts {
                let reason = format!(
                    "the transcoder crashed on each of {} attempts (last: {how})",
                    job.attempt
                );
                return fail(env, job, reason).await;
            }
            retry_later(env, job, format!("the transcoder {how}")).await
        }
        WorkerOutcome::Cancelled => {
            discard_staging(&staging).await;
            let job_id = job.job_id;
            // Deleted meanwhile, or a shutdown: neither is the job's fault, so the attempt
            // is given back (and a deleted asset's job is already gone with it).
            env.db
                .write(move |tx| queue::give_back(tx, job_id, now()))
                .await?;
            Ok(JobEnd::Requeued)
        }
    }
}

/// Moves the finished package into the library and marks the asset ready, exclusively
/// against a delete of the same asset (see [`queue::begin_publish`]).
async fn publish_package(
    env: &JobEnv,
    job: &ClaimedJob,
    asset: &Asset,
    staging: PathBuf,
    manifest: PackageManifest,
) -> Result<JobEnd, JobError> {
    let job_id = job.job_id;
    let go = env
        .db
        .write(move |tx| queue::begin_publish(tx, job_id, now()))
        .await?;
    if !go {
        discard_staging(&staging).await;
        tracing::info!(asset = %asset.id, "deleted while transcoding; nothing published");
        return Ok(JobEnd::Deleted);
    }
    let data = env.data.clone();
    let to_publish = asset.clone();
    let source =
        tokio::task::spawn_blocking(move || publish::publish(&data, &to_publish, &staging))
            .await
            .map_err(|_| DbError::Task)??;
    test_hook_pause_publish().await;
    record_ready(env, job_id, asset.id.clone(), source, manifest).await?;
    tracing::info!(asset = %asset.id, title = ?asset.title, "ready");
    Ok(JobEnd::Ready)
}

/// The asset is ready with its package and the source's new place; the job is done.
async fn record_ready(
    env: &JobEnv,
    job_id: i64,
    asset_id: String,
    source: PathBuf,
    manifest: PackageManifest,
) -> Result<(), JobError> {
    env.db
        .write(move |tx| {
            catalog::mark_ready(tx, &asset_id, &source, &manifest, now())?;
            queue::finish(tx, job_id, true, now())?;
            Ok::<_, JobError>(())
        })
        .await
}

/// Debug builds only: `MARQUEE_TEST_PUBLISH_PAUSE_MS` holds a publish after the files
/// moved and before the asset is marked ready, so a test can land a delete in between.
async fn test_hook_pause_publish() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("MARQUEE_TEST_PUBLISH_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tracing::info!(ms, "publish paused (test hook)");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Marks the asset ready if its package and source already sit in the library.
async fn finish_interrupted_publish(
    env: &JobEnv,
    job: &ClaimedJob,
    asset: &Asset,
) -> Result<bool, JobError> {
    let data = env.data.clone();
    let unfinished = vec![asset.clone()];
    let mut done =
        tokio::task::spawn_blocking(move || publish::interrupted_publishes(&data, &unfinished))
            .await
            .map_err(|_| DbError::Task)?;
    let Some((id, source, manifest)) = done.pop() else {
        return Ok(false);
    };
    record_ready(env, job.job_id, id, source, manifest).await?;
    tracing::info!(asset = %asset.id, "finished an interrupted publish");
    Ok(true)
}

async fn retry_later(env: &JobEnv, job: &ClaimedJob, reason: String) -> Result<JobEnd, JobError> {
    let delay = queue::retry_delay(env.transcode.load().retry_delay_secs, job.attempt);
    tracing::warn!(asset = %job.asset_id, attempt = job.attempt, retry_in_secs = delay,
        reason = ?reason, "attempt failed; will retry");
    let job_id = job.job_id;
    env.db
        .write(move |tx| {
            let at = now();
            queue::retry_later(tx, job_id, at, at + delay as i64, &reason)
        })
        .await?;
    Ok(JobEnd::Requeued)
}

/// Whether a failure was (or may have been) the disk filling up: the error says so, or
/// free space is now below the floor.
fn out_of_space(env: &JobEnv, reason: &str) -> bool {
    reason.contains("No space left on device")
        || crate::disk::DiskSpace::of(&env.data.root, env.ingest.min_free_mb)
            .is_ok_and(|space| space.is_low())
}

/// The disk is full: not the job's fault, so its attempt is given back; the source is
/// untouched in the inbox and the job runs again once there is space.
async fn wait_for_space(
    env: &JobEnv,
    job: &ClaimedJob,
    reason: String,
) -> Result<JobEnd, JobError> {
    let delay = env.transcode.load().retry_delay_secs;
    tracing::warn!(asset = %job.asset_id, reason = ?reason,
        "out of disk space; the job goes back to the queue and runs when there is space");
    let job_id = job.job_id;
    let reason = format!("out of disk space, waiting to retry: {reason}");
    env.db
        .write(move |tx| {
            let at = now();
            queue::wait_for_space(tx, job_id, at, at + delay as i64, &reason)
        })
        .await?;
    Ok(JobEnd::Requeued)
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
    tracing::warn!(asset = %job.asset_id, reason = ?reason, "failed");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::NewAsset;

    fn env_with_asset(tmp: &std::path::Path, exe: &str) -> JobEnv {
        let data = DataDir::new(tmp.join("data"));
        let mut config = crate::config::Config::default();
        config.transcode.max_attempts = 2;
        config.transcode.retry_delay_secs = 5;
        let mut env = JobEnv::open(&data, &config).unwrap();
        env.exe = PathBuf::from(exe);
        let source = data.inbox().join("film.mp4");
        std::fs::write(&source, b"not transcoded in this test").unwrap();
        env.db
            .write_blocking(|tx| {
                catalog::insert(tx, &NewAsset::for_test("abcd", source.clone()), None, 0)?;
                queue::enqueue(tx, "abcd", 0).map_err(JobError::from)
            })
            .unwrap();
        env
    }

    fn claim(env: &JobEnv, at: i64) -> Option<ClaimedJob> {
        env.db
            .write_blocking(|tx| queue::claim_next(tx, std::process::id(), at))
            .unwrap()
    }

    /// Runs the job and returns why it failed; any other end fails the test.
    async fn run_to_failure(
        env: &JobEnv,
        job: ClaimedJob,
        cancel: watch::Receiver<bool>,
    ) -> String {
        match run_claimed(env, job, &mut |_, _| {}, cancel).await.unwrap() {
            JobEnd::Failed(reason) => reason,
            end => panic!("{end:?}"),
        }
    }

    #[tokio::test]
    async fn a_worker_that_cannot_start_is_retried_later_then_fails_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let env = env_with_asset(tmp.path(), "/nonexistent/marquee");
        let (_cancel, cancel_rx) = watch::channel(false);

        let job = claim(&env, now()).unwrap();
        let end = run_claimed(&env, job.clone(), &mut |_, _| {}, cancel_rx.clone())
            .await
            .unwrap();
        assert_eq!(end, JobEnd::Requeued);
        let (state, run_after, last_error): (String, i64, String) = env
            .db
            .read_blocking(|c| {
                c.query_row(
                    "SELECT state, run_after, last_error FROM jobs WHERE id = ?1",
                    [job.job_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(DbError::from)
            })
            .unwrap();
        assert_eq!(state, "queued");
        assert!(run_after >= now() + 4, "the retry waits out the back-off");
        assert!(
            last_error.contains("cannot run the transcoder /nonexistent/marquee"),
            "{last_error}"
        );
        assert!(claim(&env, now()).is_none(), "not due yet");

        let job = claim(&env, run_after).unwrap();
        assert_eq!(job.attempt, 2);
        let reason = run_to_failure(&env, job, cancel_rx).await;
        assert!(
            reason.contains("cannot run the transcoder /nonexistent/marquee"),
            "{reason}"
        );
        assert!(reason.contains("tried 2 times"), "{reason}");
        let asset = env.db.read_blocking(|c| catalog::get(c, "abcd")).unwrap();
        assert_eq!(asset.status, crate::catalog::AssetStatus::Failed);
        assert_eq!(asset.error.as_deref(), Some(reason.as_str()));
        assert!(claim(&env, i64::MAX).is_none(), "nothing left to run");
        assert!(asset.source_path.is_file(), "the source stays where it was");
    }

    #[tokio::test]
    async fn a_source_swapped_for_a_link_while_queued_is_not_read() {
        let tmp = tempfile::tempdir().unwrap();
        let env = env_with_asset(tmp.path(), "/nonexistent/marquee");
        let secret = tmp.path().join("private.mp4");
        std::fs::write(&secret, b"someone else's video").unwrap();
        let source = env.data.inbox().join("film.mp4");
        std::fs::remove_file(&source).unwrap();
        std::os::unix::fs::symlink(&secret, &source).unwrap();
        let (_cancel, cancel_rx) = watch::channel(false);
        let job = claim(&env, now()).unwrap();
        let reason = run_to_failure(&env, job, cancel_rx).await;
        assert!(
            reason.contains("no longer a plain file in the inbox"),
            "{reason}"
        );
        assert!(source.is_symlink() && secret.is_file());
    }

    #[test]
    fn an_unwritable_library_is_named_in_the_reason() {
        let e = JobError::Publish(PublishError::Io {
            what: "staging/x to library/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert!(
            e.operator_reason()
                .starts_with("the library folder is not writable: ")
        );
    }
}
