//! `events.db`: raw playback events, append-only, in their own SQLite file with their own
//! writer thread. Request handlers hand events over a bounded channel and never wait: the
//! thread takes whatever has arrived (up to 5,000, or 100 ms' worth) and inserts it in one
//! transaction. When the channel is full an event is dropped and counted, so a flood costs
//! analytics, never the app.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::AnalyticsError;
use super::beacon::EventKind;

/// Version 1: `raw_events` ids never repeat (AUTOINCREMENT), so the rollup's high-water
/// mark stays true after retention empties the table; heartbeats carry the duration.
const SCHEMA_VERSION: i64 = 1;
const RAW_EVENTS: &str = "
CREATE TABLE IF NOT EXISTS raw_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unix milliseconds, the server's clock when the beacon arrived.
    at       INTEGER NOT NULL,
    session  TEXT NOT NULL,
    user_id  INTEGER,
    title_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    -- ms for timings, seconds for a heartbeat's position, 1 for a fatal error or a CMCD
    -- request that reported a stall.
    value    REAL,
    height   INTEGER,
    bitrate  INTEGER,
    detail   TEXT,
    device   TEXT NOT NULL,
    browser  TEXT NOT NULL,
    -- A heartbeat's media duration, seconds.
    duration REAL
);
CREATE INDEX IF NOT EXISTS raw_events_at ON raw_events (at);
";

/// The device class and browser of a User-Agent, coarse on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub device: &'static str,
    pub browser: &'static str,
}

impl Client {
    /// For what the origin sees (CMCD), where the User-Agent is not read.
    pub const UNKNOWN: Client = Client {
        device: "unknown",
        browser: "unknown",
    };

    pub fn from_user_agent(ua: &str) -> Client {
        let has = |s: &str| ua.contains(s);
        let device = if has("SmartTV") || has("SMART-TV") || has("Tizen") || has("Web0S") {
            "tv"
        } else if has("iPad") || (has("Android") && !has("Mobile")) {
            "tablet"
        } else if has("Mobile") || has("iPhone") {
            "phone"
        } else {
            "desktop"
        };
        let browser = if has("Edg/") {
            "edge"
        } else if has("Firefox/") {
            "firefox"
        } else if has("Chrome/") || has("Chromium/") {
            "chrome"
        } else if has("Safari/") {
            "safari"
        } else {
            "other"
        };
        Client { device, browser }
    }
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub at_ms: i64,
    pub session: String,
    pub user_id: Option<i64>,
    pub title_id: String,
    pub event: EventKind,
    pub client: Client,
}

/// What one row's value columns hold.
#[derive(Debug, Default)]
struct Columns {
    value: Option<f64>,
    height: Option<u32>,
    bitrate: Option<u32>,
    detail: Option<String>,
    duration: Option<f64>,
}

impl RawEvent {
    fn columns(&self) -> Columns {
        let none = Columns::default();
        match &self.event {
            EventKind::PageLoad { ms, .. } | EventKind::ExitBeforeStart { ms, .. } => Columns {
                value: Some(f64::from(*ms)),
                ..none
            },
            EventKind::FirstFrame { ms, height, .. } | EventKind::Rebuffer { ms, height, .. } => {
                Columns {
                    value: Some(f64::from(*ms)),
                    height: Some(*height),
                    ..none
                }
            }
            EventKind::Switch {
                height, bitrate, ..
            } => Columns {
                height: Some(*height),
                bitrate: Some(*bitrate),
                ..none
            },
            EventKind::Heartbeat {
                position,
                height,
                bitrate,
                duration,
                ..
            } => Columns {
                value: Some(*position),
                height: Some(*height),
                bitrate: Some(*bitrate),
                duration: Some(*duration),
                ..none
            },
            EventKind::Error {
                fatal,
                kind,
                details,
                height,
                ..
            } => Columns {
                value: Some(if *fatal { 1.0 } else { 0.0 }),
                height: Some(*height),
                detail: Some(format!("{kind}/{details}")),
                ..none
            },
            EventKind::Cmcd {
                bitrate,
                stalled,
                object,
                ..
            } => Columns {
                value: Some(if *stalled { 1.0 } else { 0.0 }),
                bitrate: Some(*bitrate),
                detail: Some(object.clone()),
                ..none
            },
            EventKind::PlayIntent { .. }
            | EventKind::Complete { .. }
            | EventKind::Visit { .. }
            | EventKind::Checkout { .. } => none,
        }
    }
}

/// What the writer thread is handed.
enum Message {
    Event(RawEvent),
    /// Write what came before, bring the rollups up to date (within a time budget) and
    /// answer.
    Sync(SyncSender<()>),
    /// A member was deleted: their per-viewer rollups go (their raw events age out).
    Forget(i64),
}

/// What the writer does between batches, set from outside without queueing behind events
/// (so a full channel never stops retention).
#[derive(Default)]
struct Upkeep {
    /// Drop raw events from before this (Unix ms); 0: none yet.
    keep_raw_before_ms: AtomicI64,
}

pub struct Recorder {
    sender: Mutex<Option<SyncSender<Message>>>,
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
    upkeep: Arc<Upkeep>,
}

/// Events waiting for the writer before new ones are dropped.
const CHANNEL: usize = 200_000;
const BATCH: usize = 5_000;
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// Raw events rolled up in one step after a batch of inserts: a backlog is worked off in
/// steps, so new events are never held up for long.
const ROLLUP_STEP: i64 = 50_000;
/// How long a `sync` may keep rolling up before it answers.
const SYNC_BUDGET: Duration = Duration::from_millis(1500);
/// Raw events deleted in one step by retention, and how often retention runs.
const RETENTION_STEP: i64 = 50_000;
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// Hourly rollups are for alerts and recent trends; older ones are dropped.
const HOURLY_KEPT_MS: i64 = 35 * 86_400_000;

pub fn open_events_db(path: &Path) -> Result<Connection, AnalyticsError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A forgotten viewer's rows are zeroed, not left in free pages (nor in backups).
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    migrate(&conn)?;
    Ok(conn)
}

/// Brings `events.db` to [`SCHEMA_VERSION`]: a version 0 file (issue 12's first cut) has its
/// events copied into the new table.
fn migrate(conn: &Connection) -> Result<(), AnalyticsError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return super::rollup::create_tables(conn);
    }
    let old: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'raw_events'",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        if old {
            conn.execute_batch(
                "DROP INDEX IF EXISTS raw_events_at;
                 ALTER TABLE raw_events RENAME TO raw_events_v0;",
            )?;
        }
        conn.execute_batch(RAW_EVENTS)?;
        if old {
            conn.execute_batch(
                "INSERT INTO raw_events (id, at, session, user_id, title_id, kind, value, height,
                                         bitrate, detail, device, browser)
                 SELECT id, at, session, user_id, title_id, kind, value, height, bitrate, detail,
                        device, browser FROM raw_events_v0;
                 DROP TABLE raw_events_v0;",
            )?;
        }
        super::rollup::create_tables(conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok::<_, AnalyticsError>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

impl Recorder {
    /// Opens (or makes) `events.db` at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Recorder, AnalyticsError> {
        Self::with_capacity(path, CHANNEL)
    }

    pub fn with_capacity(path: &Path, capacity: usize) -> Result<Recorder, AnalyticsError> {
        let conn = open_events_db(path)?;
        let (sender, receiver) = sync_channel(capacity);
        let upkeep = Arc::new(Upkeep::default());
        let writer_upkeep = upkeep.clone();
        let writer = std::thread::Builder::new()
            .name("events-writer".into())
            .spawn(move || write_loop(conn, receiver, &writer_upkeep))?;
        Ok(Recorder {
            sender: Mutex::new(Some(sender)),
            dropped: AtomicU64::new(0),
            writer: Mutex::new(Some(writer)),
            upkeep,
        })
    }

    fn sender(&self) -> Option<SyncSender<Message>> {
        self.sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands an event to the writer; false (and counted) when the writer is behind.
    pub fn record(&self, event: RawEvent) -> bool {
        let Some(sender) = self.sender() else {
            return false;
        };
        match sender.try_send(Message::Event(event)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Waits (at most `limit`) until every event handed over so far is written and rolled
    /// up; false if the writer did not get there in time.
    pub fn sync(&self, limit: Duration) -> bool {
        let Some(sender) = self.sender() else {
            return false;
        };
        let (done, wait) = sync_channel(1);
        let deadline = Instant::now() + limit;
        let mut message = Message::Sync(done);
        // The channel may be full: keep offering until the deadline.
        loop {
            match sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    message = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// Sets what retention keeps (raw events from `keep_raw_before_ms` on); never waits.
    pub fn upkeep(&self, keep_raw_before_ms: i64) {
        self.upkeep
            .keep_raw_before_ms
            .store(keep_raw_before_ms, Ordering::Relaxed);
    }

    /// Drops a deleted member's per-viewer rollups (queued behind what came before).
    pub fn forget(&self, user_id: i64) {
        if let Some(sender) = self.sender() {
            // Blocking is fine: a member deletion is rare and the writer drains quickly.
            let _ = sender.send(Message::Forget(user_id));
        }
    }

    /// Events dropped because the writer was behind, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops taking events and waits until every one handed over is written.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

/// One bounded step of rollup; whether more is waiting.
fn roll_up_step(conn: &mut Connection) -> bool {
    match super::rollup::roll_up(conn, ROLLUP_STEP) {
        Ok(n) => n == ROLLUP_STEP,
        Err(e) => {
            tracing::warn!(error = %e, "playback events could not be rolled up");
            false
        }
    }
}

fn write_loop(mut conn: Connection, receiver: Receiver<Message>, upkeep: &Upkeep) {
    let mut pending: Option<Message> = None;
    let mut retention_at = Instant::now();
    // A backlog (from before a restart, or a burst) is rolled up while no events come.
    let mut behind = true;
    loop {
        if retention_at.elapsed() >= RETENTION_EVERY {
            retention_at = Instant::now();
            retain(&mut conn, upkeep.keep_raw_before_ms.load(Ordering::Relaxed));
        }
        let first = match pending.take() {
            Some(m) => m,
            None => {
                let wait = if behind {
                    Duration::ZERO
                } else {
                    RETENTION_EVERY
                };
                match receiver.recv_timeout(wait) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        if behind {
                            behind = roll_up_step(&mut conn);
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        let mut batch = Vec::new();
        match first {
            Message::Event(e) => batch.push(e),
            control => {
                control_step(&mut conn, control);
                continue;
            }
        }
        let deadline = Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(Message::Event(e)) => batch.push(e),
                // A control message waits for the batch before it to be written.
                Ok(control) => {
                    pending = Some(control);
                    break;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Err(e) = insert(&mut conn, &batch) {
            tracing::warn!(error = %e, events = batch.len(), "playback events could not be written; dropped");
        }
        // One bounded step of rollup after every batch keeps the rollups current and a
        // backlog shrinking, without holding new events up for long.
        behind = roll_up_step(&mut conn);
    }
    // Everything is written; what is not rolled up yet is at the next start.
    let _ = super::rollup::roll_up(&mut conn, ROLLUP_STEP);
}

/// Rolls up until caught up or out of `budget`.
fn catch_up(conn: &mut Connection, budget: Duration) {
    let until = Instant::now() + budget;
    while Instant::now() < until {
        match super::rollup::roll_up(conn, ROLLUP_STEP) {
            Ok(n) if n < ROLLUP_STEP => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "playback events could not be rolled up");
                return;
            }
        }
    }
}

/// Drops raw events from before `keep_raw_before_ms` (rolled up ones only) and hourly
/// rollups past their keeping time.
fn retain(conn: &mut Connection, keep_raw_before_ms: i64) {
    if keep_raw_before_ms <= 0 {
        return;
    }
    let hourly_before = (crate::clock::now() * 1000 - HOURLY_KEPT_MS) / 1000;
    let result =
        super::rollup::drop_raw_before(conn, keep_raw_before_ms, RETENTION_STEP).and_then(|_| {
            conn.execute("DELETE FROM rollup_hourly WHERE hour < ?1", [hourly_before])?;
            Ok(())
        });
    if let Err(e) = result {
        tracing::warn!(error = %e, "old playback events could not be dropped");
    }
}

fn control_step(conn: &mut Connection, message: Message) {
    match message {
        Message::Event(_) => {}
        Message::Sync(done) => {
            catch_up(conn, SYNC_BUDGET);
            let _ = done.try_send(());
        }
        Message::Forget(user_id) => {
            catch_up(conn, SYNC_BUDGET);
            if let Err(e) = super::rollup::forget_viewer(conn, user_id) {
                tracing::warn!(error = %e, user_id, "a deleted member's viewing could not be dropped");
            }
        }
    }
}

fn insert(conn: &mut Connection, batch: &[RawEvent]) -> Result<(), AnalyticsError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO raw_events (at, session, user_id, title_id, kind, value, height, bitrate,
                                     detail, device, browser, duration)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for e in batch {
            let c = e.columns();
            stmt.execute(params![
                e.at_ms,
                e.session,
                e.user_id,
                e.title_id,
                e.event.name(),
                c.value,
                c.height,
                c.bitrate,
                c.detail,
                e.client.device,
                e.client.browser,
                c.duration
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(session: &str, n: u32) -> RawEvent {
        RawEvent {
            at_ms: i64::from(n),
            session: session.into(),
            user_id: Some(1),
            title_id: "t1".into(),
            event: EventKind::Heartbeat {
                n,
                position: f64::from(n),
                height: 360,
                bitrate: 800_000,
                duration: 600.0,
            },
            client: Client::from_user_agent(
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            ),
        }
    }

    #[test]
    fn events_from_many_threads_are_all_written_in_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("events.db");
        let recorder = std::sync::Arc::new(Recorder::open(&path).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let r = recorder.clone();
                std::thread::spawn(move || {
                    for n in 0..2_500 {
                        assert!(r.record(event(&format!("session{t}"), n)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        recorder.close();
        let conn = Connection::open(&path).unwrap();
        let (count, sessions, chrome): (i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), count(DISTINCT session), sum(browser = 'chrome' AND device = 'desktop')
                 FROM raw_events WHERE kind = 'heartbeat' AND height = 360",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((count, sessions, chrome), (10_000, 4, 10_000));
        assert_eq!(recorder.dropped(), 0);
        assert!(
            !recorder.record(event("late", 1)),
            "closed: nothing more is taken"
        );
    }

    #[test]
    fn a_backlog_left_by_a_restart_is_rolled_up_without_new_events() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("events.db");
        let backlog = 3 * ROLLUP_STEP + 7;
        {
            let conn = open_events_db(&path).unwrap();
            conn.execute(
                &format!(
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {backlog} - 1)
                     INSERT INTO raw_events (at, session, title_id, kind, device, browser)
                     SELECT i, 's', 't1', 'play_intent', 'desktop', 'chrome' FROM n"
                ),
                [],
            )
            .unwrap();
        }
        let recorder = Recorder::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let rolled = || -> i64 {
            conn.query_row("SELECT last_event FROM rollup_state", [], |r| r.get(0))
                .unwrap()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while rolled() < backlog && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(rolled(), backlog, "every event, with none arriving");
        let plays: i64 = conn
            .query_row("SELECT sum(plays) FROM rollup_daily", [], |r| r.get(0))
            .unwrap();
        assert_eq!(plays, backlog);
        recorder.close();
    }

    #[test]
    fn user_agents_are_sorted_coarsely() {
        let c = Client::from_user_agent;
        assert_eq!(
            c("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1"),
            Client {
                device: "phone",
                browser: "safari"
            }
        );
        assert_eq!(
            c("Mozilla/5.0 (Linux; Android 14; SM-X710) Chrome/120.0 Safari/537.36"),
            Client {
                device: "tablet",
                browser: "chrome"
            }
        );
        assert_eq!(
            c("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 Edg/120.0"),
            Client {
                device: "desktop",
                browser: "edge"
            }
        );
        assert_eq!(
            c("Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) Chrome/94.0"),
            Client {
                device: "tv",
                browser: "chrome"
            }
        );
        assert_eq!(
            c("curl/8.0"),
            Client {
                device: "desktop",
                browser: "other"
            }
        );
    }
}
