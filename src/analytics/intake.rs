//! Beacons taken in: checked (`beacon`), admitted by the session ledger (the session's
//! owner, sequence, cap), stamped with the server's time, the account and the client, and
//! handed to the writer (`recorder`) without waiting. Every event also passes the
//! `Guard`: the data dir's free-space floor and a budget across all senders; what either
//! turns away is dropped (counted, logged now and then) while the player is answered as
//! usual, so it does not retry.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::beacon::{Beacon, EventKind};
use super::cmcd::{Cmcd, CmcdLimit};
use super::ledger::{Refused, SessionLedger};
use super::recorder::{Client, RawEvent, Recorder};

pub struct Intake {
    recorder: Recorder,
    ledger: Mutex<SessionLedger>,
    cmcd_limit: Mutex<CmcdLimit>,
    guard: Mutex<Guard>,
}

/// How many events may be stored across all senders: `burst` at once, then `per_second`
/// (`analytics.events_per_second`, `analytics.events_burst`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventBudget {
    pub per_second: u32,
    pub burst: u32,
}

impl EventBudget {
    pub fn of(config: &crate::config::AnalyticsConfig) -> EventBudget {
        EventBudget {
            per_second: config.events_per_second,
            burst: config.events_burst,
        }
    }
}

/// Why events were not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    /// The data dir's free space is below `ingest.min_free_mb`.
    DiskLow,
    /// Past the budget across all senders.
    OverBudget,
}

impl Dropped {
    fn reason(self) -> &'static str {
        match self {
            Dropped::DiskLow => "disk_low",
            Dropped::OverBudget => "over_budget",
        }
    }
}

/// Free space is measured again at most this often.
const DISK_CHECK_EVERY: Duration = Duration::from_secs(1);
/// At most one warning per reason this often, with the count since the last.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The floor and the budget every stored event passes.
struct Guard {
    budget: EventBudget,
    tokens: f64,
    refilled: Instant,
    /// The data dir and `ingest.min_free_mb`; none: no floor (a bare recorder in tests).
    floor: Option<(PathBuf, u64)>,
    disk_checked: Option<Instant>,
    disk_low: bool,
    /// Per reason: when it was last warned about, and what was dropped since.
    warned: [(Option<Instant>, u64); 2],
}

impl Guard {
    fn new(budget: EventBudget) -> Guard {
        Guard {
            budget,
            tokens: f64::from(budget.burst),
            refilled: Instant::now(),
            floor: None,
            disk_checked: None,
            disk_low: false,
            warned: [(None, 0); 2],
        }
    }

    /// How many of `wanted` events may be stored now; `budgeted`: they count against the
    /// budget across senders (what players send), not only the disk floor.
    fn allow(&mut self, wanted: usize, budgeted: bool) -> usize {
        if self.disk_is_low() {
            self.dropped(Dropped::DiskLow, wanted);
            return 0;
        }
        if !budgeted {
            return wanted;
        }
        let now = Instant::now();
        let burst = f64::from(self.budget.burst);
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * f64::from(self.budget.per_second))
        .min(burst);
        self.refilled = now;
        let allowed = wanted.min(self.tokens.max(0.0) as usize);
        self.tokens -= allowed as f64;
        if allowed < wanted {
            self.dropped(Dropped::OverBudget, wanted - allowed);
        }
        allowed
    }

    fn disk_is_low(&mut self) -> bool {
        let Some((root, min_free_mb)) = &self.floor else {
            return false;
        };
        if self
            .disk_checked
            .is_none_or(|at| at.elapsed() >= DISK_CHECK_EVERY)
        {
            self.disk_checked = Some(Instant::now());
            // A folder that cannot be measured is not taken for a full disk.
            self.disk_low =
                crate::disk::DiskSpace::of(root, *min_free_mb).is_ok_and(|s| s.is_low());
        }
        self.disk_low
    }

    fn dropped(&mut self, why: Dropped, n: usize) {
        crate::metrics::global().analytics_events_dropped(why.reason(), n as u64);
        let (last, since) = &mut self.warned[why as usize];
        *since += n as u64;
        if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let events = std::mem::take(since);
        match why {
            Dropped::DiskLow => tracing::warn!(
                events,
                "playback events are not stored: the data dir's free space is below ingest.min_free_mb"
            ),
            Dropped::OverBudget => tracing::warn!(
                events,
                per_second = self.budget.per_second,
                burst = self.budget.burst,
                "playback events are not stored: more arrive than analytics.events_per_second allows across all players"
            ),
        }
    }
}

/// Who sent a beacon: `owner` binds playback sessions (a hash of the viewer's session,
/// or of an anonymous viewer's address and browser), `user_id` the account if signed in.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    pub owner: u64,
    /// The sender's address, hashed (an IPv6 /64 as one), for the per-address budget;
    /// none for loopback, where a local proxy would make every viewer one address.
    pub address: Option<u64>,
    pub user_id: Option<i64>,
    pub client: Client,
}

impl Intake {
    pub fn new(recorder: Recorder) -> Intake {
        Intake {
            recorder,
            ledger: Mutex::new(SessionLedger::default()),
            cmcd_limit: Mutex::new(CmcdLimit::default()),
            guard: Mutex::new(Guard::new(EventBudget::of(&Default::default()))),
        }
    }

    /// Stops storing events while the filesystem of `data_root` has less than
    /// `min_free_mb` MB free (`ingest.min_free_mb`).
    pub fn set_disk_floor(&self, data_root: PathBuf, min_free_mb: u64) {
        let mut guard = self.guard();
        guard.floor = Some((data_root, min_free_mb));
        guard.disk_checked = None;
    }

    /// Sets the budget across all senders (the bucket starts full).
    pub fn set_budget(&self, budget: EventBudget) {
        let mut guard = self.guard();
        guard.budget = budget;
        guard.tokens = f64::from(budget.burst);
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a checked beacon; returns how many of its events were new, or why the sender
    /// is refused for now.
    pub fn take(&self, sender: Sender, beacon: Beacon, now_ms: i64) -> Result<usize, Refused> {
        let (session, title) = (beacon.session.clone(), beacon.title.clone());
        let admitted = self
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(sender.owner, sender.address, beacon, now_ms)?;
        let n = admitted.len();
        // Admitted either way, so a replay of a dropped event is still a replay.
        let stored = self.guard().allow(n, true);
        for event in admitted.into_iter().take(stored) {
            self.recorder.record(RawEvent {
                at_ms: now_ms,
                session: session.clone(),
                user_id: sender.user_id,
                title_id: title.clone(),
                event,
                client: sender.client,
            });
        }
        Ok(n)
    }

    /// Records one media request's CMCD data (see `cmcd`), as the origin served `asset_id`
    /// to `client`: under the asset's id (the player's content id is not trusted), at most
    /// as fast as a player fetches media from one address.
    pub fn take_cmcd(
        &self,
        client: Option<std::net::IpAddr>,
        cmcd: Cmcd,
        asset_id: &str,
        now_ms: i64,
    ) {
        if !self
            .cmcd_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(client, now_ms)
            || self.guard().allow(1, true) == 0
        {
            return;
        }
        self.recorder.record(RawEvent {
            at_ms: now_ms,
            session: cmcd.session,
            user_id: None,
            title_id: asset_id.to_string(),
            event: EventKind::Cmcd {
                n: 0,
                bitrate: cmcd.bitrate_kbps.saturating_mul(1000),
                stalled: cmcd.stalled,
                object: cmcd.object,
            },
            client: Client::UNKNOWN,
        });
    }

    /// Records that `user_id` started a checkout for `what` (a plan or title id), for the
    /// funnel.
    pub fn checkout_started(&self, user_id: i64, what: &str, now_ms: i64) {
        if self.guard().allow(1, false) == 0 {
            return;
        }
        self.recorder.record(RawEvent {
            at_ms: now_ms,
            session: "server".into(),
            user_id: Some(user_id),
            title_id: what.chars().take(40).collect(),
            event: EventKind::Checkout { n: 0 },
            client: Client::UNKNOWN,
        });
    }

    /// Waits (at most `limit`) until what was taken is written and rolled up.
    pub fn sync(&self, limit: std::time::Duration) -> bool {
        self.recorder.sync(limit)
    }

    /// Retention: raw events from before `keep_raw_before_ms` may go.
    pub fn upkeep(&self, keep_raw_before_ms: i64) {
        self.recorder.upkeep(keep_raw_before_ms);
    }

    /// A member was deleted: their per-viewer figures go.
    pub fn forget(&self, user_id: i64) {
        self.recorder.forget(user_id);
    }

    /// Writes what is queued and stops (at shutdown).
    pub fn close(&self) {
        self.recorder.close();
    }

    pub fn dropped(&self) -> u64 {
        self.recorder.dropped()
    }
}

/// Every 30 s until shutdown: hands the raw retention setting to the writer.
pub async fn upkeep_loop(
    intake: std::sync::Arc<Intake>,
    retention_days: impl Fn() -> u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let days = i64::from(retention_days());
        intake.upkeep((crate::clock::now() - days * 86_400) * 1000);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
