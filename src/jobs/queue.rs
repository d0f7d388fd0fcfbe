//! Job rows in SQLite. A job is claimed by one supervising process (`owner_pid`), which
//! refreshes `heartbeat_at` while the worker runs; a job whose owner stopped beating is
//! put back in the queue, so a crash of any process loses nothing.

use rusqlite::{Connection, OptionalExtension, params};

use crate::catalog::{self, AssetStatus};
use crate::db::DbError;

/// A running job whose owner has not beaten for this long is presumed dead.
pub const STALE_AFTER_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Db(DbError::Sqlite(e))
    }
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job_id: i64,
    pub asset_id: String,
    pub attempt: u32,
}

pub fn enqueue(conn: &Connection, asset_id: &str, now: i64) -> Result<i64, QueueError> {
    conn.execute(
        "INSERT INTO jobs (asset_id, state, created_at) VALUES (?1, 'queued', ?2)",
        params![asset_id, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Creates a job already running under `owner_pid` (the CLI runs its own jobs).
pub fn enqueue_running(
    conn: &Connection,
    asset_id: &str,
    owner_pid: u32,
    now: i64,
) -> Result<ClaimedJob, QueueError> {
    conn.execute(
        "INSERT INTO jobs (asset_id, state, attempts, owner_pid, heartbeat_at, created_at, started_at)
         VALUES (?1, 'running', 1, ?2, ?3, ?3, ?3)",
        params![asset_id, owner_pid, now],
    )?;
    catalog::set_status(conn, asset_id, AssetStatus::Processing, now)?;
    Ok(ClaimedJob {
        job_id: conn.last_insert_rowid(),
        asset_id: asset_id.to_string(),
        attempt: 1,
    })
}

/// Takes the oldest queued job that is due (a retried job waits out its back-off) for
/// `owner_pid`.
pub fn claim_next(
    conn: &Connection,
    owner_pid: u32,
    now: i64,
) -> Result<Option<ClaimedJob>, QueueError> {
    let next: Option<(i64, String, u32)> = conn
        .query_row(
            "SELECT id, asset_id, attempts FROM jobs
             WHERE state = 'queued' AND (run_after IS NULL OR run_after <= ?1) ORDER BY id LIMIT 1",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((job_id, asset_id, attempts)) = next else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, owner_pid = ?2, heartbeat_at = ?3,
                started_at = ?3, run_after = NULL, publishing_at = NULL
         WHERE id = ?1",
        params![job_id, owner_pid, now],
    )?;
    catalog::set_status(conn, &asset_id, AssetStatus::Processing, now)?;
    Ok(Some(ClaimedJob {
        job_id,
        asset_id,
        attempt: attempts + 1,
    }))
}

/// When the next waiting job becomes due, if one is waiting out a back-off.
pub fn next_due(conn: &Connection, now: i64) -> Result<Option<i64>, QueueError> {
    Ok(conn.query_row(
        "SELECT min(run_after) FROM jobs WHERE state = 'queued' AND run_after > ?1",
        [now],
        |r| r.get(0),
    )?)
}

pub fn heartbeat(conn: &Connection, job_id: i64, now: i64) -> Result<(), QueueError> {
    conn.execute(
        "UPDATE jobs SET heartbeat_at = ?2 WHERE id = ?1 AND state = 'running'",
        params![job_id, now],
    )?;
    Ok(())
}

pub fn finish(conn: &Connection, job_id: i64, succeeded: bool, now: i64) -> Result<(), QueueError> {
    conn.execute(
        "UPDATE jobs SET state = ?2, finished_at = ?3, owner_pid = NULL, publishing_at = NULL WHERE id = ?1",
        params![job_id, if succeeded { "done" } else { "failed" }, now],
    )?;
    Ok(())
}

/// Puts a running job back in the queue at once (its owner went away).
pub fn requeue(conn: &Connection, job_id: i64, now: i64) -> Result<(), QueueError> {
    retry_at(conn, job_id, now, None, None)
}

/// Puts a job back after a failure worth retrying: it waits until `run_after` and keeps
/// `error` for the operator.
pub fn retry_later(
    conn: &Connection,
    job_id: i64,
    now: i64,
    run_after: i64,
    error: &str,
) -> Result<(), QueueError> {
    retry_at(conn, job_id, now, Some(run_after), Some(error))
}

/// Puts a job interrupted by a shutdown back, giving its attempt back: not the job's fault.
pub fn give_back(conn: &Connection, job_id: i64, now: i64) -> Result<(), QueueError> {
    requeue(conn, job_id, now)?;
    conn.execute(
        "UPDATE jobs SET attempts = max(attempts - 1, 0) WHERE id = ?1",
        [job_id],
    )?;
    Ok(())
}

/// Puts back a job that ran out of disk space: the attempt is given back (the disk filling
/// is not the job's fault) and it runs again at `run_after` at the earliest, and only once
/// the supervisor finds space above the floor.
pub fn wait_for_space(
    conn: &Connection,
    job_id: i64,
    now: i64,
    run_after: i64,
    reason: &str,
) -> Result<(), QueueError> {
    retry_at(conn, job_id, now, Some(run_after), Some(reason))?;
    conn.execute(
        "UPDATE jobs SET attempts = max(attempts - 1, 0) WHERE id = ?1",
        [job_id],
    )?;
    Ok(())
}

fn retry_at(
    conn: &Connection,
    job_id: i64,
    now: i64,
    run_after: Option<i64>,
    error: Option<&str>,
) -> Result<(), QueueError> {
    let asset_id: Option<String> = conn
        .query_row("SELECT asset_id FROM jobs WHERE id = ?1", [job_id], |r| {
            r.get(0)
        })
        .optional()?;
    conn.execute(
        "UPDATE jobs SET state = 'queued', owner_pid = NULL, heartbeat_at = NULL, publishing_at = NULL,
                run_after = ?2, last_error = coalesce(?3, last_error)
         WHERE id = ?1",
        params![job_id, run_after, error],
    )?;
    if let Some(asset_id) = asset_id {
        catalog::set_status(conn, &asset_id, AssetStatus::Queued, now)?;
    }
    Ok(())
}

/// Seconds a job waits before attempt `attempt + 1`: `base`, doubling, at most an hour.
pub fn retry_delay(base_secs: u64, attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(12);
    base_secs.saturating_mul(1 << doublings).min(3600)
}

/// Marks a running job as publishing, if its asset still exists and the job is still
/// running. Deleting the asset checks the mark in its own write transaction, so the two
/// never interleave: either the delete came first (false: do not publish) or it waits.
pub fn begin_publish(conn: &Connection, job_id: i64, now: i64) -> Result<bool, QueueError> {
    let changed = conn.execute(
        "UPDATE jobs SET publishing_at = ?2 WHERE id = ?1 AND state = 'running'
           AND EXISTS (SELECT 1 FROM assets WHERE assets.id = jobs.asset_id)",
        params![job_id, now],
    )?;
    Ok(changed == 1)
}

/// Whether a job is moving this asset's package into the library right now.
pub fn is_publishing(conn: &Connection, asset_id: &str) -> Result<bool, QueueError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM jobs WHERE asset_id = ?1 AND state = 'running' AND publishing_at IS NOT NULL",
            [asset_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// What [`requeue_abandoned`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Abandoned {
    pub requeued: Vec<i64>,
    /// Jobs that had used every attempt: failed, with the reason given to their asset.
    pub failed: Vec<i64>,
}

/// Re-queues running jobs whose owner is dead: gone from the process table, or silent for
/// longer than [`STALE_AFTER_SECS`]. A job abandoned on its last attempt fails instead, so
/// a job that keeps taking its owner down (or keeps being abandoned) does not run forever.
/// `is_alive` is injected so tests can decide.
pub fn requeue_abandoned(
    conn: &Connection,
    now: i64,
    max_attempts: u32,
    is_alive: &dyn Fn(u32) -> bool,
) -> Result<Abandoned, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT id, asset_id, attempts, owner_pid, heartbeat_at FROM jobs WHERE state = 'running'",
    )?;
    type Row = (i64, String, u32, Option<u32>, Option<i64>);
    let running: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut done = Abandoned::default();
    for (job_id, asset_id, attempts, owner, beat) in running {
        let silent = beat.is_none_or(|b| now - b > STALE_AFTER_SECS);
        let dead = owner.is_none_or(|pid| !is_alive(pid));
        if !(silent || dead) {
            continue;
        }
        if attempts >= max_attempts {
            let reason = format!(
                "the job was interrupted on each of its {attempts} attempts: the process running it \
                 stopped or stopped responding (a crash, a kill, or the machine running out of memory)"
            );
            finish(conn, job_id, false, now)?;
            catalog::mark_failed(conn, &asset_id, &reason, now)?;
            done.failed.push(job_id);
        } else {
            requeue(conn, job_id, now)?;
            done.requeued.push(job_id);
        }
    }
    Ok(done)
}

/// The job attached to an asset, if any is still queued or running.
pub fn active_job_for(conn: &Connection, asset_id: &str) -> Result<Option<i64>, QueueError> {
    Ok(conn
        .query_row(
            "SELECT id FROM jobs WHERE asset_id = ?1 AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
            [asset_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether a process with this pid exists (signal 0 probes without sending anything).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    unsafe {
        libc::kill(pid as libc::pid_t, 0) == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::NewAsset;
    use crate::db::Db;

    fn db_with_asset(dir: &std::path::Path, id: &str) -> Db {
        let db = Db::open(&dir.join("t.db")).unwrap();
        db.write_blocking(|tx| {
            catalog::insert(tx, &NewAsset::for_test(id, "/inbox/t.mp4".into()), None, 0)?;
            enqueue(tx, id, 0)
        })
        .unwrap();
        db
    }

    fn job_state(db: &Db, job: i64) -> (String, u32, Option<i64>) {
        db.read_blocking(|c| {
            c.query_row(
                "SELECT state, attempts, run_after FROM jobs WHERE id = ?1",
                [job],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(QueueError::from)
        })
        .unwrap()
    }

    fn asset_status(db: &Db, id: &str) -> (String, Option<String>) {
        db.read_blocking(|c| {
            c.query_row(
                "SELECT status, error FROM assets WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(QueueError::from)
        })
        .unwrap()
    }

    #[test]
    fn abandoned_jobs_are_requeued_only_when_their_owner_is_dead_or_silent() {
        let tmp = tempfile::tempdir().unwrap();
        let db = db_with_asset(tmp.path(), "aaaa");
        let job = db
            .write_blocking(|tx| claim_next(tx, 42, 100))
            .unwrap()
            .unwrap();
        assert_eq!(job.attempt, 1);
        assert_eq!(asset_status(&db, "aaaa").0, "processing");

        // Alive and beating: left alone.
        let done = db
            .write_blocking(|tx| requeue_abandoned(tx, 110, 3, &|_| true))
            .unwrap();
        assert_eq!(done, Abandoned::default());
        assert_eq!(job_state(&db, job.job_id).0, "running");

        // Alive but silent for longer than STALE_AFTER_SECS: presumed hung.
        let done = db
            .write_blocking(|tx| requeue_abandoned(tx, 100 + STALE_AFTER_SECS + 1, 3, &|_| true))
            .unwrap();
        assert_eq!(done.requeued, vec![job.job_id]);
        assert_eq!(job_state(&db, job.job_id).0, "queued");
        assert_eq!(asset_status(&db, "aaaa").0, "queued");

        // Beating but the owner's pid is gone.
        let job = db
            .write_blocking(|tx| claim_next(tx, 42, 200))
            .unwrap()
            .unwrap();
        assert_eq!(job.attempt, 2);
        let done = db
            .write_blocking(|tx| requeue_abandoned(tx, 201, 3, &|pid| pid != 42))
            .unwrap();
        assert_eq!(done.requeued, vec![job.job_id]);
    }

    #[test]
    fn a_job_abandoned_on_its_last_attempt_fails_instead_of_running_forever() {
        let tmp = tempfile::tempdir().unwrap();
        let db = db_with_asset(tmp.path(), "bbbb");
        for attempt in 1..=2 {
            let job = db
                .write_blocking(|tx| claim_next(tx, 7, 0))
                .unwrap()
                .unwrap();
            assert_eq!(job.attempt, attempt);
            let done = db
                .write_blocking(|tx| requeue_abandoned(tx, 1, 2, &|_| false))
                .unwrap();
            if attempt < 2 {
                assert_eq!(done.requeued, vec![job.job_id]);
            } else {
                assert_eq!(done.failed, vec![job.job_id]);
                assert_eq!(job_state(&db, job.job_id).0, "failed");
            }
        }
        let (status, error) = asset_status(&db, "bbbb");
        assert_eq!(status, "failed");
        assert!(
            error
                .unwrap()
                .contains("interrupted on each of its 2 attempts")
        );
        assert!(
            db.write_blocking(|tx| claim_next(tx, 7, 10))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_retried_job_waits_out_its_back_off() {
        let tmp = tempfile::tempdir().unwrap();
        let db = db_with_asset(tmp.path(), "cccc");
        let job = db
            .write_blocking(|tx| claim_next(tx, 1, 0))
            .unwrap()
            .unwrap();
        db.write_blocking(|tx| retry_later(tx, job.job_id, 0, 30, "disk full"))
            .unwrap();
        assert_eq!(job_state(&db, job.job_id), ("queued".into(), 1, Some(30)));
        assert!(
            db.write_blocking(|tx| claim_next(tx, 1, 29))
                .unwrap()
                .is_none()
        );
        assert_eq!(db.read_blocking(|c| next_due(c, 29)).unwrap(), Some(30));
        let again = db
            .write_blocking(|tx| claim_next(tx, 1, 30))
            .unwrap()
            .unwrap();
        assert_eq!(again.attempt, 2);
        assert_eq!(db.read_blocking(|c| next_due(c, 30)).unwrap(), None);
        // A shutdown gives the attempt back.
        db.write_blocking(|tx| give_back(tx, job.job_id, 31))
            .unwrap();
        assert_eq!(job_state(&db, job.job_id), ("queued".into(), 1, None));
    }

    #[test]
    fn back_off_doubles_and_is_capped() {
        assert_eq!(retry_delay(30, 1), 30);
        assert_eq!(retry_delay(30, 2), 60);
        assert_eq!(retry_delay(30, 3), 120);
        assert_eq!(retry_delay(30, 40), 3600);
    }

    #[test]
    fn publishing_is_marked_and_refused_once_the_asset_is_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let db = db_with_asset(tmp.path(), "dddd");
        let job = db
            .write_blocking(|tx| claim_next(tx, 1, 0))
            .unwrap()
            .unwrap();
        assert!(!db.read_blocking(|c| is_publishing(c, "dddd")).unwrap());
        assert!(
            db.write_blocking(|tx| begin_publish(tx, job.job_id, 1))
                .unwrap()
        );
        assert!(db.read_blocking(|c| is_publishing(c, "dddd")).unwrap());
        db.write_blocking(|tx| finish(tx, job.job_id, true, 2))
            .unwrap();
        assert!(!db.read_blocking(|c| is_publishing(c, "dddd")).unwrap());

        // Deleted first: the publish must not go ahead.
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let db = db_with_asset(&other, "eeee");
        let job = db
            .write_blocking(|tx| claim_next(tx, 1, 0))
            .unwrap()
            .unwrap();
        db.write_blocking(|tx| catalog::delete(tx, "eeee")).unwrap();
        assert!(
            !db.write_blocking(|tx| begin_publish(tx, job.job_id, 1))
                .unwrap()
        );
    }
}
