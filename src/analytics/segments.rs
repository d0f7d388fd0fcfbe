//! Segments: saved filters over members, every condition of which must hold. Conditions on
//! accounts and subscriptions read the main database; conditions on viewing read the
//! per-viewer rollups in `events.db` (`viewer_daily`, `viewer_titles`, `viewer_last`). A
//! segment is evaluated afresh each time (a count, a preview, a campaign's audience).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::AnalyticsError;
use super::report::DAY;

/// One condition. Bounds are checked by [`Filter::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A subscription to `plan` (any plan when absent) in one of `statuses`; `none`
    /// means no current subscription at all.
    Plan {
        #[serde(default)]
        plan: Option<String>,
        statuses: Vec<String>,
    },
    /// A current subscription whose period ends within `days` days.
    RenewalWithin { days: u32 },
    /// A free trial that ends within `days` days.
    TrialEndingWithin { days: u32 },
    /// A subscription whose last payment failed (past due).
    PaymentFailed {},
    /// Last played something more than `days` days ago (or never).
    NotSeenFor { days: u32 },
    /// Played something within the last `days` days.
    SeenWithin { days: u32 },
    /// Watch time a day over the last `days` days against the `previous_days` before them
    /// changed by at most `percent` (-50: down by at least half). Members who watched
    /// nothing before cannot have dropped and are left out.
    WatchChange {
        days: u32,
        previous_days: u32,
        percent: i32,
    },
    /// Watched titles in any of these genres (by name).
    Genres { genres: Vec<String> },
    /// Finished at least `at_least` titles.
    Finished { at_least: u32 },
    /// Signed up from `from` to `to` (Unix seconds, `to` exclusive).
    SignedUp { from: i64, to: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub conditions: Vec<Condition>,
}

const STATUSES: [&str; 5] = ["active", "trialing", "past_due", "ended", "none"];
const MAX_DAYS: u32 = 3660;

impl Filter {
    pub fn check(&self) -> Result<(), AnalyticsError> {
        let bad = |m: &str| Err(AnalyticsError::Invalid(m.into()));
        if self.conditions.len() > 20 {
            return bad("a segment has at most 20 conditions");
        }
        for c in &self.conditions {
            match c {
                Condition::Plan { statuses, plan } => {
                    if statuses.is_empty()
                        || statuses.iter().any(|s| !STATUSES.contains(&s.as_str()))
                    {
                        return bad(
                            "a plan condition names one or more of active, trialing, past_due, ended, none",
                        );
                    }
                    if plan.as_ref().is_some_and(|p| p.len() > 64) {
                        return bad("not a plan");
                    }
                }
                Condition::RenewalWithin { days }
                | Condition::TrialEndingWithin { days }
                | Condition::NotSeenFor { days }
                | Condition::SeenWithin { days } => {
                    if !(1..=MAX_DAYS).contains(days) {
                        return bad("days are 1 to 3660");
                    }
                }
                Condition::WatchChange {
                    days,
                    previous_days,
                    percent,
                } => {
                    if !(1..=366).contains(days) || !(1..=366).contains(previous_days) {
                        return bad("watch-time periods are 1 to 366 days");
                    }
                    if !(-100..=1000).contains(percent) {
                        return bad("a change is -100 % to 1000 %");
                    }
                }
                Condition::Genres { genres } => {
                    if genres.is_empty() || genres.len() > 50 || genres.iter().any(|g| g.len() > 80)
                    {
                        return bad("name 1 to 50 genres");
                    }
                }
                Condition::Finished { at_least } => {
                    if !(1..=100_000).contains(at_least) {
                        return bad("finished titles: at least 1");
                    }
                }
                Condition::SignedUp { from, to } => {
                    if to <= from {
                        return bad("the sign-up period ends before it starts");
                    }
                }
                Condition::PaymentFailed {} => {}
            }
        }
        Ok(())
    }

    /// Whether any condition needs `events.db`.
    fn reads_viewing(&self) -> bool {
        self.conditions.iter().any(|c| {
            matches!(
                c,
                Condition::NotSeenFor { .. }
                    | Condition::SeenWithin { .. }
                    | Condition::WatchChange { .. }
                    | Condition::Genres { .. }
                    | Condition::Finished { .. }
            )
        })
    }
}

type Ids = HashSet<i64>;

fn ids(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Ids, AnalyticsError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(p, |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A current subscription: not ended and its period not over (now is `?1`, or `?3`).
const CURRENT: &str = "s.status != 'ended' AND s.period_end > ?1";
const CURRENT_3: &str = "s.status != 'ended' AND s.period_end > ?3";

/// The members (viewer accounts, not disabled) a filter selects, sorted by id.
/// `events` is needed only when a condition is about viewing.
pub fn evaluate(
    main: &Connection,
    events: Option<&Connection>,
    filter: &Filter,
    now: i64,
) -> Result<Vec<i64>, AnalyticsError> {
    filter.check()?;
    if filter.reads_viewing() && events.is_none() {
        return Err(AnalyticsError::Invalid(
            "viewing figures are not available".into(),
        ));
    }
    let mut members = ids(
        main,
        "SELECT id FROM users WHERE role = 'viewer' AND disabled_at IS NULL",
        [],
    )?;
    for condition in &filter.conditions {
        if members.is_empty() {
            break;
        }
        let matching = matching(main, events, condition, now)?;
        members.retain(|id| matching.contains(id));
    }
    let mut out: Vec<i64> = members.into_iter().collect();
    out.sort_unstable();
    Ok(out)
}

fn matching(
    main: &Connection,
    events: Option<&Connection>,
    condition: &Condition,
    now: i64,
) -> Result<Ids, AnalyticsError> {
    let today = now.div_euclid(DAY) * DAY;
    let days = |n: u32| i64::from(n) * DAY;
    match condition {
        Condition::Plan { plan, statuses } => {
            let wanted: Vec<&str> = statuses
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "none" && *s != "ended")
                .collect();
            let json = serde_json::to_string(&wanted).unwrap_or_default();
            let mut out = ids(
                main,
                &format!(
                    "SELECT s.user_id FROM subscriptions s
                     WHERE (?1 IS NULL OR s.plan_id = ?1)
                       AND s.status IN (SELECT value FROM json_each(?2)) AND {CURRENT_3}"
                ),
                params![plan, json, now],
            )?;
            let lapsed = statuses.iter().any(|s| s == "ended");
            let none = statuses.iter().any(|s| s == "none");
            if lapsed || none {
                let with = ids(
                    main,
                    &format!("SELECT s.user_id FROM subscriptions s WHERE {CURRENT}"),
                    [now],
                )?;
                if lapsed {
                    // Lapsed: had one (of the plan) that ended, and has none now.
                    let ended = ids(
                        main,
                        "SELECT s.user_id FROM subscriptions s
                         WHERE (?1 IS NULL OR s.plan_id = ?1)
                           AND (s.status = 'ended' OR s.period_end <= ?2)",
                        params![plan, now],
                    )?;
                    out.extend(ended.difference(&with));
                }
                if none {
                    let all = ids(main, "SELECT id FROM users WHERE role = 'viewer'", [])?;
                    out.extend(all.difference(&with));
                }
            }
            Ok(out)
        }
        // Renewing: not set to cancel, and paying something (a comp does not renew).
        Condition::RenewalWithin { days: n } => ids(
            main,
            &format!(
                "SELECT s.user_id FROM subscriptions s
                 WHERE {CURRENT} AND s.period_end <= ?2 AND s.cancel_at_period_end = 0
                   AND s.amount > 0"
            ),
            params![now, now + days(*n)],
        ),
        Condition::TrialEndingWithin { days: n } => ids(
            main,
            &format!(
                "SELECT s.user_id FROM subscriptions s
                 WHERE {CURRENT} AND s.status = 'trialing'
                   AND coalesce(s.trial_end, s.period_end) <= ?2"
            ),
            params![now, now + days(*n)],
        ),
        Condition::PaymentFailed {} => ids(
            main,
            "SELECT s.user_id FROM subscriptions s WHERE s.status = 'past_due'",
            [],
        ),
        Condition::SignedUp { from, to } => ids(
            main,
            "SELECT id FROM users WHERE created_at >= ?1 AND created_at < ?2",
            params![from, to],
        ),
        Condition::NotSeenFor { days: n } => {
            let events = events.expect("checked");
            let seen = ids(
                events,
                "SELECT viewer FROM viewer_last WHERE last_at >= ?1",
                [now - days(*n)],
            )?;
            let all = ids(main, "SELECT id FROM users WHERE role = 'viewer'", [])?;
            Ok(all.difference(&seen).copied().collect())
        }
        Condition::SeenWithin { days: n } => ids(
            events.expect("checked"),
            "SELECT viewer FROM viewer_last WHERE last_at >= ?1",
            [now - days(*n)],
        ),
        Condition::WatchChange {
            days: n,
            previous_days: m,
            percent,
        } => {
            // Whole days: the last `n` end yesterday (today is not over).
            let today = today - DAY;
            let current_from = today - (i64::from(*n) - 1) * DAY;
            let previous_from = current_from - days(*m);
            ids(
                events.expect("checked"),
                "SELECT viewer FROM (
                     SELECT viewer,
                            sum(CASE WHEN day >= ?1 THEN heartbeats ELSE 0 END) * 1.0 / ?3 AS now_rate,
                            sum(CASE WHEN day < ?1 THEN heartbeats ELSE 0 END) * 1.0 / ?4 AS before_rate
                     FROM viewer_daily WHERE day >= ?2 AND day <= ?6 GROUP BY viewer)
                 WHERE before_rate > 0 AND (now_rate - before_rate) * 100.0 / before_rate <= ?5",
                params![current_from, previous_from, n, m, percent, today],
            )
        }
        Condition::Genres { genres } => {
            let json = serde_json::to_string(genres).unwrap_or_default();
            let mut stmt = main.prepare(
                "SELECT DISTINCT tg.title_id FROM title_genres tg JOIN genres g ON g.id = tg.genre_id
                 WHERE lower(g.name) IN (SELECT lower(value) FROM json_each(?1))",
            )?;
            let titles: Vec<String> = stmt
                .query_map([json], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            // Episodes count for their series' genres.
            let mut stmt = main.prepare(
                "SELECT id FROM titles WHERE parent_id IN (SELECT value FROM json_each(?1))",
            )?;
            let json = serde_json::to_string(&titles).unwrap_or_default();
            let children: Vec<String> = stmt
                .query_map([&json], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let all: Vec<String> = titles.into_iter().chain(children).collect();
            ids(
                events.expect("checked"),
                "SELECT DISTINCT viewer FROM viewer_titles INDEXED BY viewer_titles_watched
                 WHERE title_id IN (SELECT value FROM json_each(?1))
                   AND (heartbeats > 0 OR completes > 0)",
                [serde_json::to_string(&all).unwrap_or_default()],
            )
        }
        Condition::Finished { at_least } => ids(
            events.expect("checked"),
            "SELECT viewer FROM viewer_titles WHERE completes > 0 GROUP BY viewer HAVING count(*) >= ?1",
            [at_least],
        ),
    }
}

/// A member as the segment preview lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewMember {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// The current subscription's plan and status, if any.
    pub plan: Option<String>,
    pub status: Option<String>,
    pub period_end: Option<i64>,
    /// Unix seconds of the last play, if any.
    pub last_played: Option<i64>,
}

/// The first `limit` of `members`, with what the preview shows of each.
pub fn preview(
    main: &Connection,
    events: &Connection,
    members: &[i64],
    limit: usize,
    now: i64,
) -> Result<Vec<PreviewMember>, AnalyticsError> {
    let mut out = Vec::new();
    for id in members.iter().take(limit) {
        let (email, name): (String, String) = main.query_row(
            "SELECT email, display_name FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let sub: Option<(String, String, i64)> = main
            .query_row(
                &format!(
                    "SELECT p.name, s.status, s.period_end FROM subscriptions s
                     JOIN plans p ON p.id = s.plan_id
                     WHERE s.user_id = ?2 AND {CURRENT} ORDER BY s.period_end DESC LIMIT 1"
                ),
                params![now, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let last_played: Option<i64> = events
            .query_row(
                "SELECT last_at FROM viewer_last WHERE viewer = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        out.push(PreviewMember {
            id: *id,
            email,
            name,
            plan: sub.as_ref().map(|s| s.0.clone()),
            status: sub.as_ref().map(|s| s.1.clone()),
            period_end: sub.map(|s| s.2),
            last_played,
        });
    }
    Ok(out)
}

/// A saved segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub filter: Filter,
    /// The stored filter could not be read (a newer or damaged one): nothing may be sent
    /// to it.
    pub broken: bool,
    pub updated_at: i64,
}

fn segment_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_segment((id, name, filter, updated_at): (i64, String, String, i64)) -> Segment {
    let parsed: Option<Filter> = serde_json::from_str(&filter).ok();
    Segment {
        id,
        name,
        broken: parsed.is_none(),
        filter: parsed.unwrap_or_default(),
        updated_at,
    }
}

pub fn list(main: &Connection) -> Result<Vec<Segment>, AnalyticsError> {
    let mut stmt = main.prepare(
        "SELECT id, name, filter, updated_at FROM segments ORDER BY name COLLATE NOCASE",
    )?;
    let rows = stmt.query_map([], segment_row)?;
    Ok(rows.map(|r| r.map(to_segment)).collect::<Result<_, _>>()?)
}

pub fn get(main: &Connection, id: i64) -> Result<Option<Segment>, AnalyticsError> {
    Ok(main
        .query_row(
            "SELECT id, name, filter, updated_at FROM segments WHERE id = ?1",
            [id],
            segment_row,
        )
        .optional()?
        .map(to_segment))
}

/// Saves a new segment (`id` None) or changes one; returns its id.
pub fn save(
    tx: &Connection,
    id: Option<i64>,
    name: &str,
    filter: &Filter,
    now: i64,
) -> Result<i64, AnalyticsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AnalyticsError::Invalid(
            "a segment's name is 1 to 100 characters".into(),
        ));
    }
    filter.check()?;
    let json = serde_json::to_string(filter).unwrap_or_default();
    match id {
        None => {
            tx.execute(
                "INSERT INTO segments (name, filter, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![name, json, now],
            )?;
            Ok(tx.last_insert_rowid())
        }
        Some(id) => {
            let n = tx.execute(
                "UPDATE segments SET name = ?2, filter = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, name, json, now],
            )?;
            if n == 0 {
                return Err(AnalyticsError::Invalid("no such segment".into()));
            }
            Ok(id)
        }
    }
}

/// Deletes a segment no campaign uses.
pub fn delete(tx: &Connection, id: i64) -> Result<bool, AnalyticsError> {
    let used: Option<String> = tx
        .query_row(
            "SELECT name FROM campaigns WHERE segment_id = ?1 LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(campaign) = used {
        return Err(AnalyticsError::Invalid(format!(
            "the campaign “{campaign}” uses this segment"
        )));
    }
    Ok(tx.execute("DELETE FROM segments WHERE id = ?1", [id])? > 0)
}

#[cfg(test)]
#[path = "segments_tests.rs"]
mod tests;
