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
    let max_attempts = env.transcode.load().max_attempts;
    let abandoned = env
        .db
        .write(move |tx| {
            queue::requeue_abandoned(tx, now(), max_attempts, &queue::process_alive)
                .map_err(JobError::from)
        })
        .await?;
    if !abandoned.requeued.is_empty() {
        tracing::info!(jobs = ?abandoned.requeued, "re-queued jobs interrupted by a crash");
    }
    if !abandoned.failed.is_empty() {
        tracing::warn!(jobs = ?abandoned.failed, "jobs interrupted on every attempt have failed");
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
    remove_orphaned_packages(env).await
}

/// Library folders without an asset row (left by a crash mid-delete, or by hand) are
/// removed, their source and sidecars moved to `trash/` first.
async fn remove_orphaned_packages(env: &JobEnv) -> Result<(), JobError> {
    let data = env.data.clone();
    let folders = tokio::task::spawn_blocking(move || publish::library_folders(&data))
        .await
        .map_err(|_| crate::db::DbError::Task)?;
    let orphans = env
        .db
        .read(move |c| {
            let mut orphans = Vec::new();
            for id in folders {
                if !catalog::exists(c, &id)? {
                    orphans.push(id);
                }
            }
            Ok::<_, JobError>(orphans)
        })
        .await?;
    for id in orphans {
        let data = env.data.clone();
        let name = id.clone();
        let moved = tokio::task::spawn_blocking(move || publish::discard_orphan(&data, &name))
            .await
            .map_err(|_| crate::db::DbError::Task)?;
        match moved {
            Ok(trash) => {
                tracing::warn!(folder = ?id, trash = ?trash, "removed a library folder with no asset; its source is in the trash")
            }
            Err(e) => {
                tracing::error!(folder = ?id, error = %e, "cannot remove an orphaned library folder")
            }
        }
    }
    Ok(())
}

/// While ingest is paused for disk space, how often free space is looked at again.
const DISK_RECHECK: Duration = Duration::from_secs(2);

/// Whether no job may start now because free space is below `ingest.min_free_mb`; logs
/// when that changes. The operator sees the same test as an alert (`ops::health`).
fn pause_for_disk_space(env: &JobEnv, was_paused: bool) -> bool {
    let space = match crate::disk::DiskSpace::of(&env.data.root, env.ingest.min_free_mb) {
        Ok(space) => space,
        // Unknown is not full: statvfs failing must not stop ingest for good.
        Err(_) => return false,
    };
    let low = space.is_low();
    if low && !was_paused {
        tracing::warn!(disk = %space.describe(), "ingest paused: disk space is low; it resumes by itself when space returns");
    } else if !low && was_paused {
        tracing::info!(disk = %space.describe(), "ingest resumed: disk space is back above the floor");
    }
    low
}

pub async fn run(
    env: JobEnv,
    wake: Arc<Notify>,
    running_jobs: Arc<RunningJobs>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(env.transcode.load().jobs));
    let mut running = JoinSet::new();
    let pid = std::process::id();
    let mut sweep = tokio::time::interval(Duration::from_secs(10));
    let mut paused = false;
    loop {
        paused = pause_for_disk_space(&env, paused);
        while !paused && let Ok(permit) = slots.clone().try_acquire_owned() {
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
                            // Not even the failure could be recorded (the database is
                            // unwritable): the stale sweep takes the job back later.
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
        // A job waiting out a retry back-off is claimed when it falls due.
        let due_in = env
            .db
            .read(|c| queue::next_due(c, now()).map_err(JobError::from))
            .await
            .ok()
            .flatten()
            .map_or(Duration::from_secs(3600), |at| {
                Duration::from_secs((at - now()).max(1) as u64)
            });
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(due_in) => {}
            _ = sweep.tick() => {
                // Jobs abandoned by another process (a crashed `marquee ingest`) come back here.
                let max_attempts = env.transcode.load().max_attempts;
                let _ = env.db.write(move |tx| {
                    queue::requeue_abandoned(tx, now(), max_attempts, &queue::process_alive)
                }).await;
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(DISK_RECHECK), if paused => {}
            _ = shutdown.changed() => break,
        }
    }
    // Workers see the same shutdown signal, stop, and put their jobs back in the queue.
    while running.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DataDir};

    #[tokio::test]
    async fn recovery_clears_library_folders_without_an_asset_and_keeps_their_source() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path().join("data"));
        let env = JobEnv::open(&data, &Config::default()).unwrap();
        let orphan = data.asset_dir("orphan12");
        std::fs::create_dir_all(orphan.join("sidecars")).unwrap();
        std::fs::write(orphan.join("source.mov"), b"the operator's film").unwrap();
        std::fs::write(orphan.join("sidecars/film.en.srt"), b"subs").unwrap();
        std::fs::write(orphan.join("master.m3u8"), b"#EXTM3U").unwrap();
        // A folder whose asset exists is left alone.
        env.db
            .write_blocking(|tx| {
                tx.execute(
                    "INSERT INTO assets (id, title, status, source_path, source_size, source_mtime, created_at, updated_at)
                     VALUES ('kept1234', 't', 'ready', 'x', 0, 0, 0, 0)",
                    [],
                )
                .map_err(crate::db::DbError::from)
            })
            .unwrap();
        std::fs::create_dir_all(data.asset_dir("kept1234")).unwrap();
        std::fs::write(data.asset_dir("kept1234/master.m3u8"), b"#EXTM3U").unwrap();

        recover(&env).await.unwrap();
        assert!(!orphan.exists());
        let trash = data.trash().join("orphan12");
        assert_eq!(
            std::fs::read(trash.join("source.mov")).unwrap(),
            b"the operator's film"
        );
        assert_eq!(std::fs::read(trash.join("film.en.srt")).unwrap(), b"subs");
        assert!(data.asset_dir("kept1234/master.m3u8").is_file());
    }
}
