//! Rollups: raw events summed per hour and per day, per title, rendition, device class and
//! browser (`rollup_hourly`, `rollup_daily`: no viewer, so they stay small), plus the
//! drop-off curve's
//! heartbeats per twentieth of a title (`rollup_dropoff`), and per signed-in viewer: each
//! day's watching (`viewer_daily`, which also gives unique viewers), each title's
//! (`viewer_titles`), when they last played (`viewer_last`) and first played and checked
//! out (`viewer_firsts`, for the funnel), for segments and the funnel. Dashboards read these, never
//! the raw events. Every measure is a sum, so a rollup adds the events after a high-water mark
//! (`rollup_state.last_event`) to the rows and moves the mark in the same transaction: each
//! event is counted once, whatever crashes when. Days are UTC.

use rusqlite::{Connection, TransactionBehavior, params};

use super::AnalyticsError;

/// Upper bounds (ms) of the time-to-first-frame histogram's buckets; one more bucket
/// holds everything slower. Percentiles are read from it.
pub const TTFF_BOUNDS_MS: [u32; 9] = [250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000];
pub const TTFF_BUCKETS: usize = TTFF_BOUNDS_MS.len() + 1;
/// The drop-off curve's resolution: a title's length in twentieths.
pub const DROPOFF_BUCKETS: u32 = 20;
/// Seconds of watching one heartbeat stands for.
pub const HEARTBEAT_SECS: i64 = 10;

/// Each measure's column and how it sums a raw event.
fn measures() -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = [
        ("plays", "sum(kind = 'play_intent')"),
        (
            "anonymous_plays",
            "sum(kind = 'play_intent' AND user_id IS NULL)",
        ),
        ("completes", "sum(kind = 'complete')"),
        ("exits_before_start", "sum(kind = 'exit_before_start')"),
        ("errors", "sum(kind = 'error')"),
        ("fatal_errors", "sum(kind = 'error' AND value = 1)"),
        ("rebuffers", "sum(kind = 'rebuffer')"),
        (
            "rebuffer_ms",
            "sum(CASE WHEN kind = 'rebuffer' THEN CAST(value AS INTEGER) ELSE 0 END)",
        ),
        ("heartbeats", "sum(kind = 'heartbeat')"),
        (
            "bitrate_sum",
            "sum(CASE WHEN kind = 'heartbeat' THEN coalesce(bitrate, 0) ELSE 0 END)",
        ),
        ("page_loads", "sum(kind = 'page_load')"),
        (
            "page_load_ms",
            "sum(CASE WHEN kind = 'page_load' THEN CAST(value AS INTEGER) ELSE 0 END)",
        ),
        ("first_frames", "sum(kind = 'first_frame')"),
        (
            "first_frame_ms",
            "sum(CASE WHEN kind = 'first_frame' THEN CAST(value AS INTEGER) ELSE 0 END)",
        ),
        ("visits", "sum(kind = 'visit')"),
        ("checkouts", "sum(kind = 'checkout')"),
        ("cmcd_requests", "sum(kind = 'cmcd')"),
        ("cmcd_stalls", "sum(kind = 'cmcd' AND value = 1)"),
        (
            "cmcd_bitrate_sum",
            "sum(CASE WHEN kind = 'cmcd' THEN coalesce(bitrate, 0) ELSE 0 END)",
        ),
    ]
    .iter()
    .map(|(c, e)| (c.to_string(), e.to_string()))
    .collect();
    let mut low = -1i64;
    for (i, high) in TTFF_BOUNDS_MS
        .iter()
        .map(|h| i64::from(*h))
        .chain([i64::MAX])
        .enumerate()
    {
        m.push((
            format!("ttff_{i}"),
            format!("sum(kind = 'first_frame' AND value > {low} AND value <= {high})"),
        ));
        low = high;
    }
    m
}

/// The measure columns, comma-separated, for queries that read them back.
pub fn measure_columns() -> Vec<String> {
    measures().into_iter().map(|(c, _)| c).collect()
}

const KEYS: &str = "title_id TEXT NOT NULL, height INTEGER NOT NULL, device TEXT NOT NULL,
                    browser TEXT NOT NULL";
const KEY_NAMES: &str = "title_id, height, device, browser";

/// The per-title audience measures `rollup_title_daily` keeps (the content tab's top
/// titles, trending).
const TITLE_MEASURES: [&str; 4] = ["plays", "anonymous_plays", "heartbeats", "completes"];

pub(super) fn create_tables(conn: &Connection) -> Result<(), AnalyticsError> {
    let cols: Vec<String> = measures()
        .into_iter()
        .map(|(c, _)| format!("{c} INTEGER NOT NULL"))
        .collect();
    let cols = cols.join(",\n    ");
    // Added after the first release of events.db: filled from `rollup_daily` the first
    // time, which holds everything up to the high-water mark.
    let narrow_are_new: bool = conn.query_row(
        "SELECT count(*) = 0 FROM sqlite_master WHERE name = 'rollup_site_daily'",
        [],
        |r| r.get(0),
    )?;
    let daily_exists: bool = conn.query_row(
        "SELECT count(*) = 1 FROM sqlite_master WHERE name = 'rollup_daily'",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS rollup_state (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             last_event INTEGER NOT NULL
         );
         INSERT OR IGNORE INTO rollup_state (id, last_event) VALUES (1, 0);
         CREATE TABLE IF NOT EXISTS rollup_hourly (
             hour INTEGER NOT NULL, {KEYS},
             {cols},
             PRIMARY KEY (hour, {KEY_NAMES})
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS rollup_daily (
             day INTEGER NOT NULL, {KEYS},
             {cols},
             PRIMARY KEY (day, {KEY_NAMES})
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS rollup_daily_title ON rollup_daily (title_id, day);
         -- The same without the title, for the site's audience and quality: a few dozen
         -- rows a day however large the catalog.
         CREATE TABLE IF NOT EXISTS rollup_site_daily (
             day INTEGER NOT NULL, height INTEGER NOT NULL, device TEXT NOT NULL,
             browser TEXT NOT NULL,
             {cols},
             PRIMARY KEY (day, height, device, browser)
         ) WITHOUT ROWID;
         -- Per title and day, the audience only: what ranking titles reads.
         CREATE TABLE IF NOT EXISTS rollup_title_daily (
             day INTEGER NOT NULL, title_id TEXT NOT NULL,
             plays INTEGER NOT NULL, anonymous_plays INTEGER NOT NULL,
             heartbeats INTEGER NOT NULL, completes INTEGER NOT NULL,
             PRIMARY KEY (day, title_id)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS rollup_dropoff (
             day INTEGER NOT NULL,
             title_id TEXT NOT NULL,
             bucket INTEGER NOT NULL,
             heartbeats INTEGER NOT NULL,
             PRIMARY KEY (title_id, day, bucket)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS viewer_daily (
             day INTEGER NOT NULL,
             viewer INTEGER NOT NULL,
             plays INTEGER NOT NULL,
             heartbeats INTEGER NOT NULL,
             completes INTEGER NOT NULL,
             PRIMARY KEY (day, viewer)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS viewer_titles (
             viewer INTEGER NOT NULL,
             title_id TEXT NOT NULL,
             plays INTEGER NOT NULL,
             heartbeats INTEGER NOT NULL,
             completes INTEGER NOT NULL,
             -- Unix seconds of the last event.
             last_at INTEGER NOT NULL,
             PRIMARY KEY (viewer, title_id)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS viewer_titles_title ON viewer_titles (title_id, completes);
         -- Who watched these titles (a segment's genres): the index holds all it reads.
         CREATE INDEX IF NOT EXISTS viewer_titles_watched
             ON viewer_titles (title_id, heartbeats, completes);
         CREATE TABLE IF NOT EXISTS viewer_last (
             viewer INTEGER PRIMARY KEY,
             last_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS viewer_firsts (
             viewer INTEGER PRIMARY KEY,
             first_play_at INTEGER,
             first_checkout_at INTEGER
         );"
    ))?;
    if narrow_are_new && daily_exists {
        let names = measure_columns();
        let sums: Vec<String> = names.iter().map(|c| format!("sum({c})")).collect();
        let title_sums: Vec<String> = TITLE_MEASURES.iter().map(|c| format!("sum({c})")).collect();
        conn.execute_batch(&format!(
            "INSERT INTO rollup_site_daily (day, height, device, browser, {names})
             SELECT day, height, device, browser, {sums} FROM rollup_daily GROUP BY 1, 2, 3, 4;
             INSERT INTO rollup_title_daily (day, title_id, {title_names})
             SELECT day, title_id, {title_sums} FROM rollup_daily GROUP BY 1, 2;",
            names = names.join(", "),
            sums = sums.join(", "),
            title_names = TITLE_MEASURES.join(", "),
            title_sums = title_sums.join(", "),
        ))?;
    }
    Ok(())
}

/// Rolls up at most `max_events` raw events after the high-water mark; returns how many.
pub fn roll_up(conn: &mut Connection, max_events: i64) -> Result<i64, AnalyticsError> {
    // Immediate: the mark is read and moved under the write lock, so two rollups (the
    // writer's and a test's, say) never count the same events.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: i64 = tx.query_row("SELECT last_event FROM rollup_state", [], |r| r.get(0))?;
    let top: i64 = tx.query_row("SELECT coalesce(max(id), 0) FROM raw_events", [], |r| {
        r.get(0)
    })?;
    let upper = top.min(last.saturating_add(max_events.max(1)));
    if upper <= last {
        return Ok(0);
    }
    let measures = measures();
    let names: Vec<&str> = measures.iter().map(|(c, _)| c.as_str()).collect();
    let sums: Vec<&str> = measures.iter().map(|(_, e)| e.as_str()).collect();
    let adds: Vec<String> = names
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    for (table, bucket, width_ms) in [
        ("rollup_hourly", "hour", 3_600_000i64),
        ("rollup_daily", "day", 86_400_000),
    ] {
        tx.execute(
            &format!(
                "INSERT INTO {table} ({bucket}, {KEY_NAMES}, {names})
                 SELECT (at / {width_ms}) * {secs}, title_id, coalesce(height, 0), device,
                        browser, {sums}
                 FROM raw_events WHERE id > ?1 AND id <= ?2
                 GROUP BY 1, 2, 3, 4, 5
                 ON CONFLICT DO UPDATE SET {adds}",
                secs = width_ms / 1000,
                names = names.join(", "),
                sums = sums.join(", "),
                adds = adds.join(", "),
            ),
            params![last, upper],
        )?;
    }
    tx.execute(
        &format!(
            "INSERT INTO rollup_site_daily (day, height, device, browser, {names})
             SELECT (at / 86400000) * 86400, coalesce(height, 0), device, browser, {sums}
             FROM raw_events WHERE id > ?1 AND id <= ?2
             GROUP BY 1, 2, 3, 4
             ON CONFLICT DO UPDATE SET {adds}",
            names = names.join(", "),
            sums = sums.join(", "),
            adds = adds.join(", "),
        ),
        params![last, upper],
    )?;
    let title_sums: Vec<&str> = TITLE_MEASURES
        .iter()
        .map(|c| {
            measures
                .iter()
                .find(|(name, _)| name == c)
                .map(|(_, e)| e.as_str())
                .unwrap_or("0")
        })
        .collect();
    let title_adds: Vec<String> = TITLE_MEASURES
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    tx.execute(
        &format!(
            "INSERT INTO rollup_title_daily (day, title_id, {names})
             SELECT (at / 86400000) * 86400, title_id, {sums}
             FROM raw_events WHERE id > ?1 AND id <= ?2
             GROUP BY 1, 2
             ON CONFLICT DO UPDATE SET {adds}",
            names = TITLE_MEASURES.join(", "),
            sums = title_sums.join(", "),
            adds = title_adds.join(", "),
        ),
        params![last, upper],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO rollup_dropoff (day, title_id, bucket, heartbeats)
             SELECT (at / 86400000) * 86400, title_id,
                    min({last_bucket}, CAST(value * {DROPOFF_BUCKETS} / duration AS INTEGER)),
                    count(*)
             FROM raw_events
             WHERE id > ?1 AND id <= ?2 AND kind = 'heartbeat' AND duration > 0
             GROUP BY 1, 2, 3
             ON CONFLICT DO UPDATE SET heartbeats = heartbeats + excluded.heartbeats",
            last_bucket = DROPOFF_BUCKETS - 1
        ),
        params![last, upper],
    )?;
    // Per signed-in viewer: what segments and personal rails read.
    const VIEWING: &str =
        "user_id IS NOT NULL AND kind IN ('play_intent', 'heartbeat', 'complete')";
    const SUMS: &str = "sum(kind = 'play_intent'), sum(kind = 'heartbeat'), sum(kind = 'complete')";
    const ADDS: &str =
        "plays = plays + excluded.plays, heartbeats = heartbeats + excluded.heartbeats,
                        completes = completes + excluded.completes";
    tx.execute(
        &format!(
            "INSERT INTO viewer_daily (day, viewer, plays, heartbeats, completes)
             SELECT (at / 86400000) * 86400, user_id, {SUMS}
             FROM raw_events WHERE id > ?1 AND id <= ?2 AND {VIEWING}
             GROUP BY 1, 2
             ON CONFLICT DO UPDATE SET {ADDS}"
        ),
        params![last, upper],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO viewer_titles (viewer, title_id, plays, heartbeats, completes, last_at)
             SELECT user_id, title_id, {SUMS}, max(at) / 1000
             FROM raw_events WHERE id > ?1 AND id <= ?2 AND {VIEWING}
             GROUP BY 1, 2
             ON CONFLICT DO UPDATE SET {ADDS}, last_at = max(last_at, excluded.last_at)"
        ),
        params![last, upper],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO viewer_last (viewer, last_at)
             SELECT user_id, max(at) / 1000
             FROM raw_events WHERE id > ?1 AND id <= ?2 AND {VIEWING}
             GROUP BY 1
             ON CONFLICT DO UPDATE SET last_at = max(last_at, excluded.last_at)"
        ),
        params![last, upper],
    )?;
    tx.execute(
        "INSERT INTO viewer_firsts (viewer, first_play_at, first_checkout_at)
         SELECT user_id, min(CASE WHEN kind = 'play_intent' THEN at / 1000 END),
                min(CASE WHEN kind = 'checkout' THEN at / 1000 END)
         FROM raw_events
         WHERE id > ?1 AND id <= ?2 AND user_id IS NOT NULL AND kind IN ('play_intent', 'checkout')
         GROUP BY 1
         ON CONFLICT DO UPDATE SET
             first_play_at = coalesce(min(first_play_at, excluded.first_play_at),
                                      first_play_at, excluded.first_play_at),
             first_checkout_at = coalesce(min(first_checkout_at, excluded.first_checkout_at),
                                          first_checkout_at, excluded.first_checkout_at)",
        params![last, upper],
    )?;
    tx.execute("UPDATE rollup_state SET last_event = ?1", [upper])?;
    tx.commit()?;
    Ok(upper - last)
}

/// Deletes raw events from before `before_ms` that are rolled up already, in steps of
/// `step` (each its own transaction, so the writer is never held long); at most 20 steps
/// a call. Returns how many went.
pub fn drop_raw_before(
    conn: &mut Connection,
    before_ms: i64,
    step: i64,
) -> Result<i64, AnalyticsError> {
    let mut dropped = 0;
    for _ in 0..20 {
        let n = conn.execute(
            "DELETE FROM raw_events WHERE id IN (
                 SELECT id FROM raw_events
                 WHERE at < ?1 AND id <= (SELECT last_event FROM rollup_state)
                 ORDER BY at LIMIT ?2)",
            params![before_ms, step],
        )? as i64;
        dropped += n;
        if n < step {
            break;
        }
    }
    Ok(dropped)
}

/// Drops everything kept per viewer about a deleted member; their raw events become
/// anonymous.
pub fn forget_viewer(conn: &mut Connection, viewer: i64) -> Result<(), AnalyticsError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for table in [
        "viewer_daily",
        "viewer_titles",
        "viewer_last",
        "viewer_firsts",
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE viewer = ?1"), [viewer])?;
    }
    // Raw events not yet past retention stay for the aggregates, without the member.
    tx.execute(
        "UPDATE raw_events SET user_id = NULL WHERE user_id = ?1",
        [viewer],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
#[path = "rollup_tests.rs"]
mod tests;
