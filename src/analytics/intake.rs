//! Beacons taken in: checked (`beacon`), admitted by the session ledger (the session's
//! owner, sequence, cap), stamped with the server's time, the account and the client, and
//! handed to the writer (`recorder`) without waiting.

use std::sync::Mutex;

use super::beacon::{Beacon, EventKind};
use super::cmcd::{Cmcd, CmcdLimit};
use super::ledger::{Refused, SessionLedger};
use super::recorder::{Client, RawEvent, Recorder};

pub struct Intake {
    recorder: Recorder,
    ledger: Mutex<SessionLedger>,
    cmcd_limit: Mutex<CmcdLimit>,
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
        }
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
        for event in admitted {
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
