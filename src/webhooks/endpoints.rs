//! Webhook endpoints: where events go, with which secret, and whether they still go there.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::target::TargetPolicy;
use super::{EVENT_TYPES, WebhookError, signing};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// The signing secret (`whsec_…`); the receiver verifies signatures with it.
    pub secret: String,
    /// `["*"]` or the event types it receives.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why Marquee stopped sending to it.
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, url, description, secret, events, enabled, disabled_reason, \
    consecutive_failures, created_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    let events: String = row.get(4)?;
    Ok(Endpoint {
        id: row.get(0)?,
        url: row.get(1)?,
        description: row.get(2)?,
        secret: row.get(3)?,
        events: events.split(',').map(str::to_owned).collect(),
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        consecutive_failures: row.get(7)?,
        created_at: row.get(8)?,
    })
}

/// What an operator sets; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointFields {
    /// An `https://` (or `http://`) address that accepts POSTs.
    pub url: Option<String>,
    pub description: Option<String>,
    /// Event types to send (`["*"]`: every one).
    pub events: Option<Vec<String>>,
    /// Turn a disabled endpoint back on (its failure count starts again), or off.
    pub enabled: Option<bool>,
}

fn check(f: &EndpointFields, policy: &TargetPolicy) -> Result<(), WebhookError> {
    if let Some(raw) = &f.url {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| WebhookError::Invalid(format!("{raw:?} is not a URL")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(WebhookError::Invalid(
                "a webhook URL starts with https:// (or http://) and names a host".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || raw.len() > 2000 {
            return Err(WebhookError::Invalid(
                "a webhook URL has no user name or password and is at most 2000 characters".into(),
            ));
        }
        policy.check_url(raw)?;
    }
    if let Some(events) = &f.events {
        if events.is_empty() {
            return Err(WebhookError::Invalid(
                "name at least one event, or * for all".into(),
            ));
        }
        if let Some(bad) = events
            .iter()
            .find(|e| *e != "*" && !EVENT_TYPES.contains(&e.as_str()))
        {
            return Err(WebhookError::Invalid(format!(
                "unknown event {bad:?}; one of {}",
                EVENT_TYPES.join(", ")
            )));
        }
    }
    if f.description.as_ref().is_some_and(|d| d.len() > 500) {
        return Err(WebhookError::Invalid(
            "the description is at most 500 characters".into(),
        ));
    }
    Ok(())
}

/// Adds an endpoint; a URL `policy` refuses is refused.
pub fn create(
    tx: &Connection,
    f: &EndpointFields,
    policy: &TargetPolicy,
    now: i64,
) -> Result<Endpoint, WebhookError> {
    check(f, policy)?;
    let url = f
        .url
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| WebhookError::Invalid("a webhook needs a URL".into()))?;
    let events = f
        .events
        .as_ref()
        .map(|e| e.join(","))
        .unwrap_or_else(|| "*".into());
    tx.execute(
        "INSERT INTO webhook_endpoints (url, description, secret, events, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            url,
            f.description.as_deref().unwrap_or(""),
            signing::new_secret(),
            events,
            now
        ],
    )?;
    get(tx, tx.last_insert_rowid())
}

pub fn update(
    tx: &Connection,
    id: i64,
    f: &EndpointFields,
    policy: &TargetPolicy,
    now: i64,
) -> Result<Endpoint, WebhookError> {
    check(f, policy)?;
    get(tx, id)?;
    tx.execute(
        "UPDATE webhook_endpoints SET url = coalesce(?2, url), description = coalesce(?3, description),
                events = coalesce(?4, events), updated_at = ?5,
                enabled = coalesce(?6, enabled),
                disabled_reason = CASE WHEN ?6 = 1 THEN NULL ELSE disabled_reason END,
                consecutive_failures = CASE WHEN ?6 = 1 THEN 0 ELSE consecutive_failures END
         WHERE id = ?1",
        params![
            id,
            f.url.as_deref().map(str::trim),
            f.description,
            f.events.as_ref().map(|e| e.join(",")),
            now,
            f.enabled
        ],
    )?;
    get(tx, id)
}

pub fn get(conn: &Connection, id: i64) -> Result<Endpoint, WebhookError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .ok_or(WebhookError::NotFound(id))
}

pub fn list(conn: &Connection) -> Result<Vec<Endpoint>, WebhookError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The enabled endpoints that receive `event_type` (for the outbox, inside the change's
/// transaction: its only failure is the database's).
pub fn wanting(conn: &Connection, event_type: &str) -> Result<Vec<i64>, crate::db::DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, events FROM webhook_endpoints WHERE enabled = 1")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut ids = Vec::new();
    for row in rows {
        let (id, events) = row?;
        if events.split(',').any(|e| e == "*" || e == event_type) {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub fn delete(tx: &Connection, id: i64) -> Result<Endpoint, WebhookError> {
    let endpoint = get(tx, id)?;
    tx.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [id])?;
    Ok(endpoint)
}

/// After an attempt: success clears the failure count; a failure adds one, and at
/// `disable_after` the endpoint is disabled with the reason. Returns true when this attempt
/// disabled it.
pub fn record_attempt(
    tx: &Connection,
    id: i64,
    ok: bool,
    disable_after: i64,
    reason: &str,
    now: i64,
) -> Result<bool, WebhookError> {
    if ok {
        tx.execute(
            "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = ?1",
            [id],
        )?;
        return Ok(false);
    }
    let failures: Option<i64> = tx
        .query_row(
            "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1
             WHERE id = ?1 RETURNING consecutive_failures",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    // Deleted while its delivery was under way: nothing left to count.
    let Some(failures) = failures else {
        return Ok(false);
    };
    if failures < disable_after {
        return Ok(false);
    }
    let changed = tx.execute(
        "UPDATE webhook_endpoints SET enabled = 0, updated_at = ?2,
                disabled_reason = ?3 WHERE id = ?1 AND enabled = 1",
        params![
            id,
            now,
            format!("{failures} deliveries in a row failed; the last: {reason}")
        ],
    )?;
    Ok(changed == 1)
}
