//! Readiness (`/readyz`), the operator's status with its alerts (`/api/v1/status`), and
//! the numbers `/metrics` reads from the database at scrape time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::config::DataDir;
use crate::db::{Db, DbError};
use crate::disk::DiskSpace;

/// Set once the process has been asked to stop: it is then no longer ready. One flag for
/// the whole process, as there is one server per process.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

pub fn begin_shutdown() {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
}

/// A database that does not answer within this long counts as down.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, one sentence each; empty when ready.
    pub reasons: Vec<String>,
}

/// Ready when the database answers, the data dir is writable, free space is above
/// `ingest.min_free_mb`, and the process is not shutting down.
pub async fn readiness(db: &Db, data: &DataDir, min_free_mb: u64) -> Readiness {
    let mut reasons = Vec::new();
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        reasons.push("the server is shutting down".to_string());
    }
    let probe = db.read(|c| {
        c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(DbError::from)
    });
    match tokio::time::timeout(DB_PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => reasons.push(format!("the database does not answer: {e}")),
        Err(_) => reasons.push(format!(
            "the database did not answer within {} s",
            DB_PROBE_TIMEOUT.as_secs()
        )),
    }
    if let Err(e) = rustix::fs::access(&data.root, rustix::fs::Access::WRITE_OK) {
        reasons.push(format!(
            "the data dir {} is not writable: {e}",
            data.root.display()
        ));
    }
    match DiskSpace::of(&data.root, min_free_mb) {
        Ok(space) if space.is_low() => {
            reasons.push(format!("disk space is low: {}", space.describe()))
        }
        Ok(_) => {}
        Err(e) => reasons.push(format!("cannot measure free disk space: {e}")),
    }
    Readiness {
        ready: reasons.is_empty(),
        reasons,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// Stable: `disk_low`.
    pub code: &'static str,
    /// `critical` or `warning`.
    pub severity: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorStatus {
    /// No transcode starts while this is true; files wait in the inbox untouched.
    pub ingest_paused: bool,
    pub disk_free_bytes: u64,
    pub disk_min_free_bytes: u64,
    pub jobs_queued: i64,
    pub jobs_running: i64,
    /// What needs the operator's attention now; empty when all is well.
    pub alerts: Vec<Alert>,
}

/// Whether ingest must pause now: the same test the job supervisor applies before claiming.
pub fn disk_alert(data: &DataDir, min_free_mb: u64) -> Option<Alert> {
    match DiskSpace::of(&data.root, min_free_mb) {
        Ok(space) if space.is_low() => Some(Alert {
            code: "disk_low",
            severity: "critical",
            message: format!(
                "Ingest is paused: {}. Free some space (or lower the floor); ingest resumes by itself.",
                space.describe()
            ),
        }),
        Ok(_) => None,
        Err(e) => Some(Alert {
            code: "disk_unknown",
            severity: "warning",
            message: format!("Cannot measure free disk space on the data dir: {e}"),
        }),
    }
}

pub async fn status(db: &Db, data: &DataDir, min_free_mb: u64) -> Result<OperatorStatus, DbError> {
    let jobs = jobs_by_state(db).await?;
    let count = |state: &str| {
        jobs.iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    };
    let space = DiskSpace::of(&data.root, min_free_mb).ok();
    let alerts: Vec<Alert> = disk_alert(data, min_free_mb).into_iter().collect();
    Ok(OperatorStatus {
        ingest_paused: alerts.iter().any(|a| a.code == "disk_low"),
        disk_free_bytes: space.map_or(0, |s| s.free_bytes),
        disk_min_free_bytes: space.map_or(0, |s| s.min_free_bytes),
        jobs_queued: count("queued"),
        jobs_running: count("running"),
        alerts,
    })
}

/// Jobs counted by state (`queued`, `running`; finished ones are not counted).
pub async fn jobs_by_state(db: &Db) -> Result<Vec<(&'static str, i64)>, DbError> {
    db.read(|c| {
        let count = |state: &str| {
            c.query_row("SELECT count(*) FROM jobs WHERE state = ?1", [state], |r| {
                r.get(0)
            })
        };
        Ok(vec![
            ("queued", count("queued")?),
            ("running", count("running")?),
        ])
    })
    .await
}

/// The `/metrics` text.
pub async fn metrics_text(db: &Db) -> String {
    let jobs = jobs_by_state(db).await.unwrap_or_default();
    crate::metrics::global().render(&jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_until_the_floor_is_above_the_free_space_or_shutdown_begins() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path().to_path_buf());
        let db = Db::open(&data.db_path()).unwrap();
        let ready = readiness(&db, &data, 0).await;
        assert!(ready.ready, "{:?}", ready.reasons);
        let low = readiness(&db, &data, u64::MAX / 1_000_000).await;
        assert!(!low.ready && low.reasons[0].contains("disk space is low"));
        // The only test in this binary that touches the process-wide flag.
        begin_shutdown();
        let stopping = readiness(&db, &data, 0).await;
        assert_eq!(stopping.reasons, ["the server is shutting down"]);
    }
}
