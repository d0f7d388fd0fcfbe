//! `events.db`: raw playback events, append-only, in their own SQLite file with their own
//! writer thread. Request handlers hand events over a bounded channel and never wait: the
//! thread takes whatever has arrived (up to 5,000, or 100 ms' worth) and inserts it in one
//! transaction. When the channel is full an event is dropped and counted, so a flood costs
//! analytics, never the app.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::AnalyticsError;
use super::beacon::EventKind;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS raw_events (
    id       INTEGER PRIMARY KEY,
    -- Unix milliseconds, the server's clock when the beacon arrived.
    at       INTEGER NOT NULL,
    session  TEXT NOT NULL,
    user_id  INTEGER,
    title_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    -- ms for timings, seconds for a heartbeat's position.
    value    REAL,
    height   INTEGER,
    bitrate  INTEGER,
    detail   TEXT,
    device   TEXT NOT NULL,
    browser  TEXT NOT NULL
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

impl RawEvent {
    /// (value, height, bitrate, detail) for the columns.
    fn columns(&self) -> (Option<f64>, Option<u32>, Option<u32>, Option<String>) {
        match &self.event {
            EventKind::PageLoad { ms, .. }
            | EventKind::FirstFrame { ms, .. }
            | EventKind::Rebuffer { ms, .. }
            | EventKind::ExitBeforeStart { ms, .. } => (Some(f64::from(*ms)), None, None, None),
            EventKind::Switch {
                height, bitrate, ..
            } => (None, Some(*height), Some(*bitrate), None),
            EventKind::Heartbeat {
                position,
                height,
                bitrate,
                ..
            } => (Some(*position), Some(*height), Some(*bitrate), None),
            EventKind::Error {
                fatal,
                kind,
                details,
                ..
            } => (
                Some(if *fatal { 1.0 } else { 0.0 }),
                None,
                None,
                Some(format!("{kind}/{details}")),
            ),
            EventKind::PlayIntent { .. } | EventKind::Complete { .. } => (None, None, None, None),
        }
    }
}

pub struct Recorder {
    sender: Mutex<Option<SyncSender<RawEvent>>>,
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Events waiting for the writer before new ones are dropped.
const CHANNEL: usize = 200_000;
const BATCH: usize = 5_000;
const BATCH_WAIT: Duration = Duration::from_millis(100);

pub fn open_events_db(path: &Path) -> Result<Connection, AnalyticsError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl Recorder {
    /// Opens (or makes) `events.db` at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Recorder, AnalyticsError> {
        Self::with_capacity(path, CHANNEL)
    }

    pub fn with_capacity(path: &Path, capacity: usize) -> Result<Recorder, AnalyticsError> {
        let conn = open_events_db(path)?;
        let (sender, receiver) = sync_channel(capacity);
        let writer = std::thread::Builder::new()
            .name("events-writer".into())
            .spawn(move || write_loop(conn, receiver))?;
        Ok(Recorder {
            sender: Mutex::new(Some(sender)),
            dropped: AtomicU64::new(0),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Hands an event to the writer; false (and counted) when the writer is behind.
    pub fn record(&self, event: RawEvent) -> bool {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sender) = sender.as_ref() else {
            return false;
        };
        match sender.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
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

fn write_loop(mut conn: Connection, receiver: Receiver<RawEvent>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(e) => batch.push(e),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Err(e) = insert(&mut conn, &batch) {
            tracing::warn!(error = %e, events = batch.len(), "playback events could not be written; dropped");
        }
    }
}

fn insert(conn: &mut Connection, batch: &[RawEvent]) -> Result<(), AnalyticsError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO raw_events (at, session, user_id, title_id, kind, value, height, bitrate,
                                     detail, device, browser)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for e in batch {
            let (value, height, bitrate, detail) = e.columns();
            stmt.execute(params![
                e.at_ms,
                e.session,
                e.user_id,
                e.title_id,
                e.event.name(),
                value,
                height,
                bitrate,
                detail,
                e.client.device,
                e.client.browser
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
