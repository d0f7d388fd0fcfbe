//! Beacons taken in: checked (`beacon`), admitted by the session ledger (the session's
//! owner, sequence, cap), stamped with the server's time, the account and the client, and
//! handed to the writer (`recorder`) without waiting.

use std::sync::Mutex;

use super::beacon::{Beacon, SessionLedger};
use super::recorder::{Client, RawEvent, Recorder};

pub struct Intake {
    recorder: Recorder,
    ledger: Mutex<SessionLedger>,
}

/// Who sent a beacon: `owner` binds playback sessions (a hash of the viewer's session,
/// or of an anonymous viewer's address and browser), `user_id` the account if signed in.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    pub owner: u64,
    pub user_id: Option<i64>,
    pub client: Client,
}

impl Intake {
    pub fn new(recorder: Recorder) -> Intake {
        Intake {
            recorder,
            ledger: Mutex::new(SessionLedger::default()),
        }
    }

    /// Takes a checked beacon; returns how many of its events were new.
    pub fn take(&self, sender: Sender, beacon: Beacon, now_ms: i64) -> usize {
        let (session, title) = (beacon.session.clone(), beacon.title.clone());
        let admitted = self
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(sender.owner, beacon);
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
        n
    }

    /// Writes what is queued and stops (at shutdown).
    pub fn close(&self) {
        self.recorder.close();
    }

    pub fn dropped(&self) -> u64 {
        self.recorder.dropped()
    }
}
