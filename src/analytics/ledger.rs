//! What the server remembers of recent playback sessions and beacon senders, in memory, so
//! one client cannot move the figures further than an honest player would:
//! - a session id belongs to the first owner that used it (a signed-in account, or an
//!   anonymous viewer's address and browser);
//! - each event number is taken once, in any order within a window of the last 128, so a
//!   replay adds nothing and batches that overtake each other are both kept;
//! - the kinds a playback reports once (play intent, first frame, completion, …) are taken
//!   once, and heartbeats no faster than a player sends them;
//! - an owner sends at most a burst of requests, then one every two seconds, and starts
//!   at most `NEW_SESSIONS_PER_HOUR` sessions an hour;
//! - and since an anonymous owner is an address with a browser, which a sender can make
//!   up at will, each address (an IPv6 /64) also has a budget of events and new sessions,
//!   roomy enough for a household or an office behind one NAT.
//!
//! Bounded: when a map is full, entries idle for two hours go first, then the least
//! recently seen half.

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
/// One address: events at once, then per second (a player sends about one event every
/// ten seconds, so this is hundreds of viewers), and new sessions an hour.
const ADDRESS_BURST: f64 = 5_000.0;
const ADDRESS_EVENTS_PER_MS: f64 = 100.0 / 1_000.0;
pub const ADDRESS_NEW_SESSIONS_PER_HOUR: u32 = 600;

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

#[derive(Debug, Clone, Copy)]
struct AddressState {
    events: f64,
    last_ms: i64,
    hour: i64,
    new_sessions: u32,
}

#[derive(Debug, Default)]
pub struct SessionLedger {
    sessions: HashMap<String, SessionState>,
    owners: HashMap<u64, OwnerState>,
    addresses: HashMap<u64, AddressState>,
}

/// Makes room for one more entry in a full map: the entries idle two hours go, and if
/// that is not enough, the least recently seen half.
fn make_room<K: Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    now_ms: i64,
    last_ms: impl Fn(&V) -> i64,
) {
    if map.len() < limit {
        return;
    }
    map.retain(|_, v| now_ms - last_ms(v) < IDLE_MS);
    if map.len() >= limit {
        let mut seen: Vec<i64> = map.values().map(&last_ms).collect();
        let middle = (seen.len() - 1) / 2;
        let (_, cut, _) = seen.select_nth_unstable(middle);
        let cut = *cut;
        map.retain(|_, v| last_ms(v) > cut);
    }
}

impl SessionLedger {
    /// The events of `beacon` that are new, in order, for `owner` at `now_ms`; nothing for
    /// another owner's session id or a replay; an error when the owner is over its limits.
    /// `address`: the sender's address (hashed), or none where it says nothing (loopback,
    /// behind a local proxy).
    pub fn admit(
        &mut self,
        owner: u64,
        address: Option<u64>,
        beacon: Beacon,
        now_ms: i64,
    ) -> Result<Vec<EventKind>, Refused> {
        let new_session = !self.sessions.contains_key(&beacon.session);
        if let Some(address) = address {
            if !self.addresses.contains_key(&address) {
                make_room(&mut self.addresses, LEDGER_OWNERS, now_ms, |a| a.last_ms);
            }
            let a = self.addresses.entry(address).or_insert(AddressState {
                events: ADDRESS_BURST,
                last_ms: now_ms,
                hour: now_ms / 3_600_000,
                new_sessions: 0,
            });
            a.events = (a.events + (now_ms - a.last_ms).max(0) as f64 * ADDRESS_EVENTS_PER_MS)
                .min(ADDRESS_BURST);
            a.last_ms = now_ms;
            if a.hour != now_ms / 3_600_000 {
                a.hour = now_ms / 3_600_000;
                a.new_sessions = 0;
            }
            // The whole batch is charged up front: a sender over budget adds nothing.
            if a.events < beacon.events.len() as f64 {
                return Err(Refused::TooMany);
            }
            if new_session && a.new_sessions >= ADDRESS_NEW_SESSIONS_PER_HOUR {
                return Err(Refused::TooManySessions);
            }
            a.events -= beacon.events.len() as f64;
            if new_session {
                a.new_sessions += 1;
            }
        }
        if !self.owners.contains_key(&owner) {
            make_room(&mut self.owners, LEDGER_OWNERS, now_ms, |o| o.last_ms);
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
        if new_session {
            make_room(&mut self.sessions, LEDGER_SESSIONS, now_ms, |s| s.last_ms);
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
        assert_eq!(seqs(&ledger.admit(7, None, exit.clone(), t).unwrap()), [3]);
        assert_eq!(
            seqs(&ledger.admit(7, None, first.clone(), t).unwrap()),
            [1, 2]
        );
        assert!(
            ledger.admit(7, None, first, t).unwrap().is_empty(),
            "a replay"
        );
        assert!(
            ledger.admit(7, None, exit, t).unwrap().is_empty(),
            "a replay"
        );
        assert!(
            ledger
                .admit(8, None, batch(r#"{"kind": "complete", "n": 9}"#), t)
                .unwrap()
                .is_empty(),
            "another owner"
        );
        // Once-only kinds: a second play intent under a new number adds nothing.
        let again = ledger
            .admit(
                7,
                None,
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
        let taken = ledger.admit(7, None, batch(&many.join(",")), t).unwrap();
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
            .admit(7, None, batch(&later.join(",")), t + 60_000)
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
            if let Err(r) = ledger.admit(9, None, session(i), t + i64::from(i) * 2_000) {
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
            .map(|_| ledger.admit(10, None, session(1), t).is_ok())
            .collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), BURST as usize);
    }

    fn rebuffers(session: u32, count: u32) -> Beacon {
        let events: Vec<String> = (1..=count)
            .map(|n| format!(r#"{{"kind": "rebuffer", "n": {n}, "ms": 250, "height": 360}}"#))
            .collect();
        Beacon::parse(
            format!(
                r#"{{"session": "rotating-{session:08}", "title": "t1", "events": [{}]}}"#,
                events.join(",")
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn an_address_that_makes_up_browsers_is_held_to_its_budget() {
        let t = 5_000_000_000;
        // Every request a new browser (owner) and session from one address: the
        // address's new sessions run out, while another address and loopback go on.
        let mut ledger = SessionLedger::default();
        let taken = (0..1_000u32)
            .take_while(|i| {
                ledger
                    .admit(u64::from(*i), Some(1), rebuffers(*i, 1), t + i64::from(*i))
                    .is_ok()
            })
            .count();
        assert_eq!(taken, ADDRESS_NEW_SESSIONS_PER_HOUR as usize);
        assert_eq!(
            ledger.admit(5_000, Some(1), rebuffers(5_000, 1), t + 2_000),
            Err(Refused::TooManySessions)
        );
        assert!(
            ledger
                .admit(5_001, Some(2), rebuffers(5_001, 1), t + 2_000)
                .is_ok()
        );
        assert!(
            ledger
                .admit(5_002, None, rebuffers(5_002, 1), t + 2_000)
                .is_ok()
        );

        // Batches of 100 at once: the address's burst of events, then its rate.
        let mut ledger = SessionLedger::default();
        let burst = (0..100u32)
            .take_while(|i| {
                ledger
                    .admit(u64::from(*i), Some(3), rebuffers(*i, 100), t)
                    .is_ok()
            })
            .count();
        assert_eq!(burst * 100, ADDRESS_BURST as usize);
        assert_eq!(
            ledger.admit(200, Some(3), rebuffers(200, 100), t),
            Err(Refused::TooMany)
        );
        let later = t + 1_000;
        assert_eq!(
            ledger
                .admit(201, Some(3), rebuffers(201, 100), later)
                .map(|e| e.len()),
            Ok(100),
            "a second's refill"
        );
        assert_eq!(
            ledger.admit(202, Some(3), rebuffers(202, 1), later),
            Err(Refused::TooMany)
        );
    }

    #[test]
    fn a_full_map_drops_its_least_recently_seen_half_not_everything() {
        let mut map: HashMap<u32, i64> = (0..10).map(|i| (i, 1_000 + i64::from(i))).collect();
        make_room(&mut map, 10, 2_000, |v| *v);
        let mut kept: Vec<u32> = map.keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, [5, 6, 7, 8, 9]);
        // Idle ones go first, and alone when that is enough.
        let mut map: HashMap<u32, i64> = (0..10).map(|i| (i, 1_000 + i64::from(i))).collect();
        map.insert(3, 1_000 - IDLE_MS);
        make_room(&mut map, 10, 1_010, |v| *v);
        assert_eq!(map.len(), 9);
        assert!(!map.contains_key(&3));
    }
}
