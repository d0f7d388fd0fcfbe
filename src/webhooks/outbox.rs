//! The durable outbox: `emit` writes one delivery per interested endpoint inside the
//! caller's transaction; the delivery loop takes due ones (`due`), and records each
//! attempt (`delivered`, `retry`, `give_up`).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{WebhookError, endpoints};
use crate::db::DbError;

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, endpoint_id, message_id, event_type, payload, state, attempts, \
    next_attempt_at, last_status, last_error, created_at, finished_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        endpoint_id: row.get(1)?,
        message_id: row.get(2)?,
        event_type: row.get(3)?,
        payload: row.get(4)?,
        state: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        last_status: row.get(8)?,
        last_error: row.get(9)?,
        created_at: row.get(10)?,
        finished_at: row.get(11)?,
    })
}

fn new_message_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes: [u8; 24] = rand::random();
    let id: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("msg_{id}")
}

/// Queues `event_type` with `data` for every enabled endpoint that wants it (one message
/// id for all of them). Call it inside the transaction of the change the event reports.
/// Returns how many deliveries were queued.
pub fn emit(
    tx: &Connection,
    event_type: &str,
    data: serde_json::Value,
    now: i64,
) -> Result<usize, DbError> {
    emit_to(tx, event_type, data, now, None)
}

/// `emit` to one endpoint only (the dashboard's "send test event"), enabled or not.
pub fn emit_to(
    tx: &Connection,
    event_type: &str,
    data: serde_json::Value,
    now: i64,
    only: Option<i64>,
) -> Result<usize, DbError> {
    let targets: Vec<i64> = match only {
        Some(id) => vec![id],
        None => endpoints::wanting(tx, event_type)?,
    };
    if targets.is_empty() {
        return Ok(0);
    }
    let timestamp = time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let payload =
        serde_json::json!({"type": event_type, "timestamp": timestamp, "data": data}).to_string();
    let message_id = new_message_id();
    for endpoint in &targets {
        tx.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, state,
                                             next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
            params![endpoint, message_id, event_type, payload, now],
        )
        .map_err(DbError::Sqlite)?;
    }
    Ok(targets.len())
}

/// Pending deliveries due at `now` to enabled endpoints (or test events), oldest first,
/// leaving out those of the endpoints in `skip` (ones with a delivery under way).
pub fn due(
    conn: &Connection,
    now: i64,
    limit: u32,
    skip: &[i64],
) -> Result<Vec<Delivery>, WebhookError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries d
         WHERE state = 'pending' AND next_attempt_at <= ?1
           AND endpoint_id NOT IN (SELECT value FROM json_each(?3))
         ORDER BY next_attempt_at, id LIMIT ?2"
    ))?;
    let skip = serde_json::to_string(skip).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(params![now, limit, skip], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the next pending delivery falls due, if any, leaving out the endpoints in `skip`.
pub fn next_due(conn: &Connection, skip: &[i64]) -> Result<Option<i64>, WebhookError> {
    let skip = serde_json::to_string(skip).unwrap_or_else(|_| "[]".into());
    Ok(conn.query_row(
        "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'
           AND endpoint_id NOT IN (SELECT value FROM json_each(?1))",
        [skip],
        |r| r.get(0),
    )?)
}

/// Whether a delivery is still waiting to be sent (not delivered, given up or deleted).
pub fn is_pending(conn: &Connection, id: i64) -> Result<bool, WebhookError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM webhook_deliveries WHERE id = ?1 AND state = 'pending'",
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Counts an attempt before it is sent, so one cut short by a crash still counts (the
/// receiver may have had it) and the log never shows fewer attempts than were made.
pub fn start_attempt(tx: &Connection, id: i64) -> Result<(), WebhookError> {
    tx.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// A delivered attempt (counted by `start_attempt`).
pub fn delivered(tx: &Connection, id: i64, status: u16, now: i64) -> Result<(), WebhookError> {
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'delivered',
                last_status = ?2, last_error = NULL, finished_at = ?3 WHERE id = ?1",
        params![id, status, now],
    )?;
    Ok(())
}

/// A failed attempt (counted by `start_attempt`) with another one at `next_at`.
pub fn retry(
    tx: &Connection,
    id: i64,
    status: Option<u16>,
    error: &str,
    next_at: i64,
) -> Result<(), WebhookError> {
    tx.execute(
        "UPDATE webhook_deliveries SET last_status = ?2,
                last_error = ?3, next_attempt_at = ?4 WHERE id = ?1",
        params![id, status, error, next_at],
    )?;
    Ok(())
}

/// A failed last attempt, or an endpoint that is gone or disabled.
pub fn give_up(
    tx: &Connection,
    id: i64,
    status: Option<u16>,
    error: &str,
    now: i64,
) -> Result<(), WebhookError> {
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'failed',
                last_status = coalesce(?2, last_status), last_error = ?3, finished_at = ?4
         WHERE id = ?1",
        params![id, status, error, now],
    )?;
    Ok(())
}

/// An endpoint's most recent deliveries, newest first.
pub fn recent(
    conn: &Connection,
    endpoint_id: i64,
    limit: u32,
) -> Result<Vec<Delivery>, WebhookError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![endpoint_id, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
