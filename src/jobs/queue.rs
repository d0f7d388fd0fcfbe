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

/// Takes the oldest queued job for `owner_pid`.
pub fn claim_next(
    conn: &Connection,
    owner_pid: u32,
    now: i64,
) -> Result<Option<ClaimedJob>, QueueError> {
    let next: Option<(i64, String, u32)> = conn
        .query_row(
            "SELECT id, asset_id, attempts FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((job_id, asset_id, attempts)) = next else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, owner_pid = ?2, heartbeat_at = ?3, started_at = ?3
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

pub fn heartbeat(conn: &Connection, job_id: i64, now: i64) -> Result<(), QueueError> {
    conn.execute(
        "UPDATE jobs SET heartbeat_at = ?2 WHERE id = ?1 AND state = 'running'",
        params![job_id, now],
    )?;
    Ok(())
}

pub fn finish(conn: &Connection, job_id: i64, succeeded: bool, now: i64) -> Result<(), QueueError> {
    conn.execute(
        "UPDATE jobs SET state = ?2, finished_at = ?3, owner_pid = NULL WHERE id = ?1",
        params![job_id, if succeeded { "done" } else { "failed" }, now],
    )?;
    Ok(())
}

/// Puts a running job back in the queue (its worker crashed, or its owner went away).
pub fn requeue(conn: &Connection, job_id: i64, now: i64) -> Result<(), QueueError> {
    let asset_id: Option<String> = conn
        .query_row("SELECT asset_id FROM jobs WHERE id = ?1", [job_id], |r| {
            r.get(0)
        })
        .optional()?;
    conn.execute(
        "UPDATE jobs SET state = 'queued', owner_pid = NULL, heartbeat_at = NULL WHERE id = ?1",
        [job_id],
    )?;
    if let Some(asset_id) = asset_id {
        catalog::set_status(conn, &asset_id, AssetStatus::Queued, now)?;
    }
    Ok(())
}

/// Re-queues running jobs whose owner is dead: gone from the process table, or silent for
/// longer than [`STALE_AFTER_SECS`]. `is_alive` is injected so tests can decide.
pub fn requeue_abandoned(
    conn: &Connection,
    now: i64,
    is_alive: &dyn Fn(u32) -> bool,
) -> Result<Vec<i64>, QueueError> {
    let mut stmt =
        conn.prepare("SELECT id, owner_pid, heartbeat_at FROM jobs WHERE state = 'running'")?;
    let running: Vec<(i64, Option<u32>, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut requeued = Vec::new();
    for (job_id, owner, beat) in running {
        let silent = beat.is_none_or(|b| now - b > STALE_AFTER_SECS);
        let dead = owner.is_none_or(|pid| !is_alive(pid));
        if silent || dead {
            requeue(conn, job_id, now)?;
            requeued.push(job_id);
        }
    }
    Ok(requeued)
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
