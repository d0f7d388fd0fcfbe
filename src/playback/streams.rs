//! Players running now, for concurrent-stream limits. Kept in memory (none of it is worth
//! a write): per account, the sessions with a player alive within the last `ALIVE_SECS`,
//! and what each plays. A player is alive from the moment its token is handed out, on
//! every heartbeat, and while the origin serves its session's token requests, so a
//! player that sends no heartbeats still counts. A session is one browser, so a reload or
//! a second tab on the same device is not a second stream. After a restart the list
//! starts empty and fills as players renew, beat or fetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

use super::token::ViewerTag;

/// A player that has not beaten for this long has stopped (closed, crashed, offline).
pub const ALIVE_SECS: i64 = 75;
/// Players listed per account at most; more beats than this are not a person.
const MAX_PER_ACCOUNT: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct Playing {
    pub title_id: String,
    pub since: i64,
    pub last_beat: i64,
}

/// Sessions whose origin traffic is remembered at most (older ones go first).
const MAX_SESSIONS: usize = 200_000;

#[derive(Default)]
pub struct Streams {
    by_account: Mutex<HashMap<i64, HashMap<ViewerTag, Playing>>>,
    /// When the origin last served a token request of each session: a read lock and an
    /// atomic store on the hot path, a write lock only for a session's first request.
    fetched: RwLock<HashMap<ViewerTag, AtomicI64>>,
}

impl Streams {
    /// The origin served a token request of `session` at `now`.
    pub fn touch(&self, session: ViewerTag, now: i64) {
        {
            let fetched = self.fetched.read().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = fetched.get(&session) {
                at.store(now, Ordering::Relaxed);
                return;
            }
        }
        let mut fetched = self.fetched.write().unwrap_or_else(|p| p.into_inner());
        if fetched.len() >= MAX_SESSIONS {
            fetched.retain(|_, at| now - at.load(Ordering::Relaxed) < ALIVE_SECS);
            if fetched.len() >= MAX_SESSIONS {
                fetched.clear();
            }
        }
        fetched.insert(session, AtomicI64::new(now));
    }

    fn last_alive(&self, session: &ViewerTag, playing: &Playing) -> i64 {
        let fetched = self.fetched.read().unwrap_or_else(|p| p.into_inner());
        fetched.get(session).map_or(playing.last_beat, |at| {
            at.load(Ordering::Relaxed).max(playing.last_beat)
        })
    }

    /// This session's player of `title_id` is alive at `now`.
    pub fn beat(&self, user: i64, session: ViewerTag, title_id: &str, now: i64) {
        let mut all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        let players = all.entry(user).or_default();
        players.retain(|tag, p| now - self.last_alive(tag, p) < ALIVE_SECS);
        if players.len() >= MAX_PER_ACCOUNT && !players.contains_key(&session) {
            return;
        }
        let entry = players.entry(session).or_insert_with(|| Playing {
            title_id: title_id.to_owned(),
            since: now,
            last_beat: now,
        });
        if entry.title_id != title_id {
            entry.title_id = title_id.to_owned();
            entry.since = now;
        }
        entry.last_beat = now;
    }

    /// Players of this account running in other sessions.
    pub fn elsewhere(&self, user: i64, session: Option<ViewerTag>, now: i64) -> u32 {
        let all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&user).map_or(0, |players| {
            players
                .iter()
                .filter(|(tag, p)| {
                    Some(**tag) != session && now - self.last_alive(tag, p) < ALIVE_SECS
                })
                .count() as u32
        })
    }

    /// What this account plays now, for the support page.
    pub fn playing(&self, user: i64, now: i64) -> Vec<Playing> {
        let all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&user).map_or_else(Vec::new, |players| {
            players
                .iter()
                .filter(|(tag, p)| now - self.last_alive(tag, p) < ALIVE_SECS)
                .map(|(tag, p)| Playing {
                    last_beat: self.last_alive(tag, p),
                    ..p.clone()
                })
                .collect()
        })
    }

    /// The player of this session stopped (the page was left).
    pub fn stop(&self, user: i64, session: ViewerTag) {
        let mut all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(players) = all.get_mut(&user) {
            players.remove(&session);
            if players.is_empty() {
                all.remove(&user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn players_count_per_session_until_they_stop_beating() {
        let streams = Streams::default();
        let (phone, tv) = (ViewerTag::of_session("phone"), ViewerTag::of_session("tv"));
        streams.beat(1, phone, "t1", 100);
        assert_eq!(streams.elsewhere(1, Some(phone), 100), 0, "its own player");
        assert_eq!(streams.elsewhere(1, Some(tv), 100), 1);
        assert_eq!(streams.elsewhere(2, Some(tv), 100), 0, "another account");
        streams.beat(1, phone, "t2", 110);
        assert_eq!(streams.playing(1, 110).len(), 1, "one session, one stream");
        assert_eq!(streams.elsewhere(1, Some(tv), 110 + ALIVE_SECS - 1), 1);
        assert_eq!(
            streams.elsewhere(1, Some(tv), 110 + ALIVE_SECS),
            0,
            "silent: stopped"
        );
        streams.beat(1, tv, "t1", 200);
        streams.stop(1, tv);
        assert_eq!(streams.elsewhere(1, Some(phone), 200), 0);
        // A player that never beats but keeps fetching stays counted.
        streams.beat(1, tv, "t1", 300);
        streams.touch(tv, 300 + ALIVE_SECS);
        assert_eq!(streams.elsewhere(1, Some(phone), 300 + ALIVE_SECS + 10), 1);
        assert_eq!(streams.elsewhere(1, Some(phone), 300 + 2 * ALIVE_SECS), 0);
    }
}
