//! Players running now, from their heartbeats, for concurrent-stream limits. Kept in
//! memory (heartbeats come every half minute from every player; none of it is worth a
//! write): per account, the sessions with a player that beat within the last
//! `ALIVE_SECS`, and what each plays. A session is one browser, so a reload or a second tab
//! on the same device is not a second stream. After a restart the list starts empty and
//! fills within one heartbeat interval.

use std::collections::HashMap;
use std::sync::Mutex;

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

#[derive(Default)]
pub struct Streams {
    by_account: Mutex<HashMap<i64, HashMap<ViewerTag, Playing>>>,
}

impl Streams {
    /// This session's player of `title_id` is alive at `now`.
    pub fn beat(&self, user: i64, session: ViewerTag, title_id: &str, now: i64) {
        let mut all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        let players = all.entry(user).or_default();
        players.retain(|_, p| now - p.last_beat < ALIVE_SECS);
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
                .filter(|(tag, p)| Some(**tag) != session && now - p.last_beat < ALIVE_SECS)
                .count() as u32
        })
    }

    /// What this account plays now, for the support page.
    pub fn playing(&self, user: i64, now: i64) -> Vec<Playing> {
        let all = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&user).map_or_else(Vec::new, |players| {
            players
                .values()
                .filter(|p| now - p.last_beat < ALIVE_SECS)
                .cloned()
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
    }
}
