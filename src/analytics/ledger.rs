//! What the server remembers of recent playback sessions and beacon senders, in memory, so
//! one client cannot move the figures further than an honest player would:
//! - a session id belongs to the first owner that used it (a signed-in account, or an
//!   anonymous viewer's address and browser);
//! - each event number is taken once, in any order within a window of the last 128, so a
//!   replay adds nothing and batches that overtake each other are both kept;
//! - the kinds a playback reports once (play intent, first frame, completion, …) are taken
//!   once, and heartbeats no faster than a player sends them;
//! - an owner sends at most a burst of requests, then one every two seconds, and starts
//!   at most `NEW_SESSIONS_PER_HOUR` sessions an hour.
//!
//! Bounded: when a map is full, entries idle for two hours go first; only if that frees
//! nothing does it start afresh.

use std::collections::HashMap;

use super::beacon::{Beacon, EventKind, MAX_SESSION_EVENTS};

const LEDGER_SESSIONS: usize = 100_000;
const LEDGER_OWNERS: usize = 100_000;
/// Entries idle this long go first when a map is full.
const IDLE_MS: i64 = 2 * 3_600_000;
/// Event numbers remembered below the highest seen.
const WINDOW: u32 = 128;
/// A player sends a heartbeat every 10 s; a few more are allowed for clock skew.
const HEARTBEAT_MIN_MS: i64 = 8_000;
const HEARTBEAT_SLACK: i64 = 3;
/// Requests an owner may make at once, and the refill (one every two seconds).
const BURST: f64 = 20.0;
const REFILL_PER_MS: f64 = 1.0 / 2_000.0;
pub const NEW_SESSIONS_PER_HOUR: u32 = 60;

#[derive(Debug, Clone, Copy)]
struct SessionState {
    owner: u64,
    highest: Option<u32>,
    /// Bit `i`: event `highest - i` was taken.
    window: u128,
    events: u32,
    /// Once-only kinds taken (bit per `EventKind::once`).
    once: u8,
    heartbeats: i64,
    started_ms: i64,
    last_ms: i64,
}

impl SessionState {
    /// Takes event number `n` if it is new.
    fn take_number(&mut self, n: u32) -> bool {
        match self.highest {
            None => {
                self.highest = Some(n);
                self.window = 1;
                true
            }
            Some(high) if n > high => {
                let shift = n - high;
                self.window = if shift >= WINDOW {
                    0
                } else {
                    self.window << shift
                };
                self.window |= 1;
                self.highest = Some(n);
                true
            }
            Some(high) => {
                let back = high - n;
                if back >= WINDOW || self.window & (1 << back) != 0 {
                    return false;
                }
                self.window |= 1 << back;
                true
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct OwnerState {
    tokens: f64,
    last_ms: i64,
    hour: i64,
    new_sessions: u32,
}

/// Why a beacon was refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many requests from this owner: try later.
    TooMany,
    /// This owner started too many sessions this hour.
    TooManySessions,
}

#[derive(Debug, Default)]
pub struct SessionLedger {
    sessions: HashMap<String, SessionState>,
    owners: HashMap<u64, OwnerState>,
}

impl SessionLedger {
    /// The events of `beacon` that are new, in order, for `owner` at `now_ms`; nothing for
    /// another owner's session id or a replay; an error when the owner is over its limits.
    pub fn admit(
        &mut self,
        owner: u64,
        beacon: Beacon,
        now_ms: i64,
    ) -> Result<Vec<EventKind>, Refused> {
        if self.owners.len() >= LEDGER_OWNERS && !self.owners.contains_key(&owner) {
            self.owners.retain(|_, o| now_ms - o.last_ms < IDLE_MS);
            if self.owners.len() >= LEDGER_OWNERS {
                self.owners.clear();
            }
        }
        let o = self.owners.entry(owner).or_insert(OwnerState {
            tokens: BURST,
            last_ms: now_ms,
            hour: now_ms / 3_600_000,
            new_sessions: 0,
        });
        o.tokens = (o.tokens + (now_ms - o.last_ms).max(0) as f64 * REFILL_PER_MS).min(BURST);
        o.last_ms = now_ms;
        if o.tokens < 1.0 {
            return Err(Refused::TooMany);
        }
        o.tokens -= 1.0;
        if self.sessions.len() >= LEDGER_SESSIONS && !self.sessions.contains_key(&beacon.session) {
            self.sessions.retain(|_, s| now_ms - s.last_ms < IDLE_MS);
            if self.sessions.len() >= LEDGER_SESSIONS {
                self.sessions.clear();
            }
        }
        if !self.sessions.contains_key(&beacon.session) {
            if o.hour != now_ms / 3_600_000 {
                o.hour = now_ms / 3_600_000;
                o.new_sessions = 0;
            }
            if o.new_sessions >= NEW_SESSIONS_PER_HOUR {
                return Err(Refused::TooManySessions);
            }
            o.new_sessions += 1;
        }
        let state = self.sessions.entry(beacon.session).or_insert(SessionState {
            owner,
            highest: None,
            window: 0,
            events: 0,
            once: 0,
            heartbeats: 0,
            started_ms: now_ms,
            last_ms: now_ms,
        });
        if state.owner != owner {
            return Ok(Vec::new());
        }
        state.last_ms = now_ms;
        let mut events = beacon.events;
        events.sort_by_key(EventKind::seq);
        let mut admitted = Vec::new();
        for e in events {
            if state.events >= MAX_SESSION_EVENTS {
                break;
            }
            if let Some(bit) = e.once()
                && state.once & (1 << bit) != 0
            {
                continue;
            }
            if matches!(e, EventKind::Heartbeat { .. })
                && state.heartbeats
                    >= HEARTBEAT_SLACK + (now_ms - state.started_ms).max(0) / HEARTBEAT_MIN_MS
            {
                continue;
            }
            if !state.take_number(e.seq()) {
                continue;
            }
            if let Some(bit) = e.once() {
                state.once |= 1 << bit;
            }
            if matches!(e, EventKind::Heartbeat { .. }) {
                state.heartbeats += 1;
            }
            state.events += 1;
            admitted.push(e);
        }
        Ok(admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: &str) -> Beacon {
        Beacon::parse(
            format!(r#"{{"session": "abcdefghijklmnop", "title": "t1", "events": [{events}]}}"#)
                .as_bytes(),
        )
        .unwrap()
    }

    fn seqs(events: &[EventKind]) -> Vec<u32> {
        events.iter().map(EventKind::seq).collect()
    }

    #[test]
    fn a_session_is_its_first_owners_and_events_are_taken_once_in_any_order() {
        let mut ledger = SessionLedger::default();
        let t = 1_000_000;
        let first =
            batch(r#"{"kind": "play_intent", "n": 1}, {"kind": "first_frame", "n": 2, "ms": 300}"#);
        let exit = batch(r#"{"kind": "rebuffer", "n": 3, "ms": 50}"#);
        // The later batch overtakes the earlier one: both are kept.
        assert_eq!(seqs(&ledger.admit(7, exit.clone(), t).unwrap()), [3]);
        assert_eq!(seqs(&ledger.admit(7, first.clone(), t).unwrap()), [1, 2]);
        assert!(ledger.admit(7, first, t).unwrap().is_empty(), "a replay");
        assert!(ledger.admit(7, exit, t).unwrap().is_empty(), "a replay");
        assert!(
            ledger
                .admit(8, batch(r#"{"kind": "complete", "n": 9}"#), t)
                .unwrap()
                .is_empty(),
            "another owner"
        );
        // Once-only kinds: a second play intent under a new number adds nothing.
        let again = ledger
            .admit(
                7,
                batch(r#"{"kind": "play_intent", "n": 4}, {"kind": "complete", "n": 5}"#),
                t,
            )
            .unwrap();
        assert_eq!(seqs(&again), [5]);
    }

    #[test]
    fn heartbeats_come_no_faster_than_a_player_sends_them() {
        let mut ledger = SessionLedger::default();
        let t = 1_000_000;
        let many: Vec<String> = (1..=50)
            .map(|n| {
                format!(
                    r#"{{"kind": "heartbeat", "n": {n}, "position": 1, "height": 360, "bitrate": 1}}"#
                )
            })
            .collect();
        let taken = ledger.admit(7, batch(&many.join(",")), t).unwrap();
        assert_eq!(taken.len() as i64, HEARTBEAT_SLACK);
        // A minute later, about six more.
        let later: Vec<String> = (51..=100)
            .map(|n| {
                format!(
                    r#"{{"kind": "heartbeat", "n": {n}, "position": 1, "height": 360, "bitrate": 1}}"#
                )
            })
            .collect();
        let taken = ledger
            .admit(7, batch(&later.join(",")), t + 60_000)
            .unwrap();
        assert_eq!(taken.len(), 7);
    }

    #[test]
    fn an_owner_is_limited_in_requests_and_new_sessions() {
        let mut ledger = SessionLedger::default();
        let t = 5_000_000_000;
        let session = |i: u32| {
            Beacon::parse(
                format!(
                    r#"{{"session": "session-{i:012}", "title": "t1", "events": [{{"kind": "play_intent", "n": 1}}]}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let mut refused = None;
        for i in 0..100 {
            if let Err(r) = ledger.admit(9, session(i), t + i64::from(i) * 2_000) {
                refused = Some((i, r));
                break;
            }
        }
        assert_eq!(
            refused,
            Some((NEW_SESSIONS_PER_HOUR, Refused::TooManySessions))
        );
        // Requests faster than the refill run out after the burst.
        let mut ledger = SessionLedger::default();
        let results: Vec<bool> = (0..30)
            .map(|_| ledger.admit(10, session(1), t).is_ok())
            .collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), BURST as usize);
    }
}
