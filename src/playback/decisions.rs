//! The recent playback decisions, in memory, for support's "why can't this viewer play this
//! title": the passes the watch page asked for (handed out, or refused and why) and what
//! the origin did with the requests that followed (served under a valid token, or refused
//! and why). Bounded, never written to disk, gone after a restart. The origin's side is
//! keyed by the viewer tag of the request's session; a pass links a tag to its account.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use super::token::ViewerTag;

/// Passes and refusals kept, each.
const KEEP: usize = 2000;
/// Viewer tags (and their served runs) remembered before starting afresh.
const TAGS: usize = 50_000;

/// One line of the diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecentDecision {
    /// Unix seconds (for a run of served requests: the last one).
    pub at: i64,
    /// `pass` (the watch page asked the entitlement engine) or `origin`.
    pub source: &'static str,
    pub what: String,
    /// For a run of served requests: the first one.
    pub since: Option<i64>,
}

struct PassLine {
    at: i64,
    user: i64,
    title: String,
    what: String,
}

struct Refusal {
    at: i64,
    tag: ViewerTag,
    asset: String,
    what: String,
}

/// Requests served under valid tokens of one session for one asset.
struct ServedRun {
    first: i64,
    last: i64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    passes: VecDeque<PassLine>,
    refusals: VecDeque<Refusal>,
    served: HashMap<ViewerTag, HashMap<String, ServedRun>>,
    accounts: HashMap<ViewerTag, i64>,
}

#[derive(Default)]
pub struct DecisionLog {
    inner: Mutex<Inner>,
}

fn push<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == KEEP {
        q.pop_front();
    }
    q.push_back(item);
}

impl DecisionLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The watch page (or the player's renewal) asked for a pass; `what` says the answer.
    pub fn pass(&self, at: i64, user: i64, tag: Option<ViewerTag>, title: &str, what: String) {
        let mut inner = self.lock();
        if let Some(tag) = tag {
            if inner.accounts.len() >= TAGS {
                inner.accounts.clear();
            }
            inner.accounts.insert(tag, user);
        }
        push(
            &mut inner.passes,
            PassLine {
                at,
                user,
                title: title.to_owned(),
                what,
            },
        );
    }

    /// The origin served a request under a valid token (the hot path: one lock, no
    /// allocation but for a session's first request of an asset).
    pub fn served(&self, tag: ViewerTag, asset: &str, now: i64) {
        let mut inner = self.lock();
        if let Some(run) = inner.served.get_mut(&tag).and_then(|m| m.get_mut(asset)) {
            run.last = now;
            run.count += 1;
            return;
        }
        if inner.served.len() >= TAGS {
            inner.served.clear();
        }
        inner.served.entry(tag).or_default().insert(
            asset.to_owned(),
            ServedRun {
                first: now,
                last: now,
                count: 1,
            },
        );
    }

    /// The origin refused a request of a signed-in session (`why`: the token's fault).
    pub fn refused(&self, tag: ViewerTag, asset: &str, file: &str, why: &str, now: i64) {
        let file: String = file.chars().take(80).collect();
        push(
            &mut self.lock().refusals,
            Refusal {
                at: now,
                tag,
                asset: asset.to_owned(),
                what: format!("refused {file}: {why}"),
            },
        );
    }

    /// What happened lately between `user` and `title` (which plays `asset`), oldest first.
    pub fn for_pair(&self, user: i64, title: &str, asset: Option<&str>) -> Vec<RecentDecision> {
        let inner = self.lock();
        let tags: Vec<ViewerTag> = inner
            .accounts
            .iter()
            .filter(|(_, u)| **u == user)
            .map(|(t, _)| *t)
            .collect();
        let mut out: Vec<RecentDecision> = inner
            .passes
            .iter()
            .filter(|p| p.user == user && p.title == title)
            .map(|p| RecentDecision {
                at: p.at,
                source: "pass",
                what: p.what.clone(),
                since: None,
            })
            .collect();
        if let Some(asset) = asset {
            out.extend(
                inner
                    .refusals
                    .iter()
                    .filter(|r| r.asset == asset && tags.contains(&r.tag))
                    .map(|r| RecentDecision {
                        at: r.at,
                        source: "origin",
                        what: r.what.clone(),
                        since: None,
                    }),
            );
            for tag in &tags {
                if let Some(run) = inner.served.get(tag).and_then(|m| m.get(asset)) {
                    out.push(RecentDecision {
                        at: run.last,
                        source: "origin",
                        what: format!("served {} requests under valid tokens", run.count),
                        since: Some(run.first),
                    });
                }
            }
        }
        out.sort_by_key(|d| d.at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_sees_its_passes_and_its_sessions_origin_decisions_only() {
        let log = DecisionLog::default();
        let (mine, other) = (ViewerTag::of_session("a"), ViewerTag::of_session("b"));
        log.pass(10, 1, Some(mine), "t1", "token until 20".into());
        log.pass(11, 2, Some(other), "t1", "token until 21".into());
        log.pass(12, 1, Some(mine), "t2", "refused: no plan".into());
        for now in [13, 14, 15] {
            log.served(mine, "a1", now);
        }
        log.served(other, "a1", 16);
        log.refused(mine, "a1", "seg_00003.m4s", "expired", 30);
        log.refused(other, "a1", "seg_00003.m4s", "made for another viewer", 31);
        log.refused(mine, "a2", "master.m3u8", "expired", 32);
        let seen = log.for_pair(1, "t1", Some("a1"));
        let lines: Vec<(i64, &str, &str)> = seen
            .iter()
            .map(|d| (d.at, d.source, d.what.as_str()))
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], (10, "pass", "token until 20"));
        assert_eq!(
            lines[1],
            (15, "origin", "served 3 requests under valid tokens")
        );
        assert_eq!(seen[1].since, Some(13));
        assert_eq!(lines[2], (30, "origin", "refused seg_00003.m4s: expired"));
    }

    #[test]
    fn it_stays_bounded() {
        let log = DecisionLog::default();
        for i in 0..(KEEP as i64 + 10) {
            log.pass(i, 1, None, "t", format!("{i}"));
        }
        let seen = log.for_pair(1, "t", None);
        assert_eq!(seen.len(), KEEP);
        assert_eq!(seen[0].what, "10");
    }
}
