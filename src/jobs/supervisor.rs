//! The server's job loop: recovers after a crash, then keeps up to `transcode.jobs` workers
//! busy with queued jobs until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::control::RunningJobs;
use super::publish;
use super::queue;
use super::runner::{JobEnv, JobError, now, run_claimed};
use crate::catalog;

/// Puts the world back in order after a crash or `kill -9`: finishes interrupted
/// publishes, re-queues jobs whose owner is gone, removes orphaned staging folders.
pub async fn recover(env: &JobEnv) -> Result<(), JobError> {
    let unfinished = env
        .db
        .read(|c| catalog::unfinished(c).map_err(JobError::from))
        .await?;
    let data = env.data.clone();
    let completed =
        tokio::task::spawn_blocking(move || publish::interrupted_publishes(&data, &unfinished))
            .await
            .map_err(|_| crate::db::DbError::Task)?;
    for (asset_id, source, manifest) in completed {
        tracing::info!(asset = %asset_id, "finishing a publish interrupted by a crash");
        env.db
            .write(move |tx| {
                catalog::mark_ready(tx, &asset_id, &source, &manifest, now())?;
                if let Some(job) = queue::active_job_for(tx, &asset_id)? {
                    queue::finish(tx, job, true, now())?;
                }
                Ok::<_, JobError>(())
            })
            .await?;
    }
    // Packages made before manifests listed their files: list them once, or the origin,
    // which serves only listed files, would serve nothing of them.
    let legacy = env
        .db
        .read(|c| catalog::ready_without_file_list(c).map_err(JobError::from))
        .await?;
    if !legacy.is_empty() {
        let data = env.data.clone();
        let listed =
            tokio::task::spawn_blocking(move || publish::list_legacy_packages(&data, &legacy))
                .await
                .map_err(|_| crate::db::DbError::Task)?;
        tracing::info!(
            packages = listed.len(),
            "listed the files of packages made by an older version"
        );
        env.db
            .write(move |tx| {
                for (asset_id, manifest) in &listed {
                    catalog::set_manifest(tx, asset_id, manifest, now())?;
                }
                Ok::<_, JobError>(())
            })
            .await?;
    }
    let requeued = env
        .db
        .write(|tx| {
            queue::requeue_abandoned(tx, now(), &queue::process_alive).map_err(JobError::from)
        })
        .await?;
    if !requeued.is_empty() {
        tracing::info!(jobs = ?requeued, "re-queued jobs interrupted by a crash");
    }
    let running: Vec<String> = env
        .db
        .read(|c| {
            let mut stmt = c.prepare("SELECT asset_id, id FROM jobs WHERE state = 'running'")?;
            let rows = stmt.query_map([], |r| {
                Ok(publish::staging_name(&r.get::<_, String>(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(JobError::from)
        })
        .await?;
    publish::clean_staging(&env.data, &|name| running.iter().any(|r| r == name));
    Ok(())
}

pub async fn run(
    env: JobEnv,
    wake: Arc<Notify>,
    running_jobs: Arc<RunningJobs>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(env.transcode.jobs));
    let mut running = JoinSet::new();
    let pid = std::process::id();
    let mut sweep = tokio::time::interval(Duration::from_secs(10));
    loop {
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            let claimed = env
                .db
                .write(move |tx| queue::claim_next(tx, pid, now()))
                .await;
            match claimed {
                Ok(Some(job)) => {
                    let env = env.clone();
                    let cancel = running_jobs.register(&job.asset_id, shutdown.clone());
                    let (wake, running_jobs) = (wake.clone(), running_jobs.clone());
                    running.spawn(async move {
                        let asset = job.asset_id.clone();
                        tracing::info!(asset = %asset, attempt = job.attempt, "transcoding");
                        if let Err(e) = run_claimed(&env, job, &mut |_, _| {}, cancel).await {
                            tracing::error!(asset = %asset, error = %e, "job could not be carried out");
                        }
                        running_jobs.unregister(&asset);
                        drop(permit);
                        wake.notify_one();
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the job queue");
                    break;
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = sweep.tick() => {
                // Jobs abandoned by another process (a crashed `marquee ingest`) come back here.
                let _ = env.db.write(|tx| queue::requeue_abandoned(tx, now(), &queue::process_alive)).await;
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // Workers see the same shutdown signal, stop, and put their jobs back in the queue.
    while running.join_next().await.is_some() {}
}
