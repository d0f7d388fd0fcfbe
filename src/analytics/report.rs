//! What the dashboards show of playback, read from the rollups in `events.db` (never from
//! raw events): audience, content, quality and the funnel's playback steps, for a range of
//! UTC days. `EventsReader` is a small pool of read-only connections beside the writer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use super::AnalyticsError;
use super::rollup::{HEARTBEAT_SECS, TTFF_BOUNDS_MS, TTFF_BUCKETS};

pub const DAY: i64 = 86_400;

/// Whole UTC days, `from` to `to` inclusive, as Unix seconds at midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

impl Range {
    /// The `days` days ending with the day of `now`.
    pub fn last_days(now: i64, days: i64) -> Range {
        let today = now.div_euclid(DAY) * DAY;
        Range {
            from: today - (days.max(1) - 1) * DAY,
            to: today,
        }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from) / DAY + 1
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Range {
        Range {
            from: self.from - self.days() * DAY,
            to: self.from - DAY,
        }
    }

    /// The end of the last day, exclusive.
    pub fn end(&self) -> i64 {
        self.to + DAY
    }

    pub fn each_day(&self) -> impl Iterator<Item = i64> {
        let (from, to) = (self.from, self.to);
        (0..)
            .map(move |i| from + i * DAY)
            .take_while(move |d| *d <= to)
    }
}

pub struct EventsReader {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl EventsReader {
    /// Read-only connections to `events.db` (which the recorder has made).
    pub fn open(path: &Path) -> Result<EventsReader, AnalyticsError> {
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| c.busy_timeout(std::time::Duration::from_secs(10)));
        let pool = r2d2::Pool::builder()
            .max_size(4)
            .build(manager)
            .map_err(|e| AnalyticsError::Invalid(format!("cannot open events.db: {e}")))?;
        Ok(EventsReader { pool })
    }

    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, AnalyticsError> + Send + 'static,
    ) -> Result<T, AnalyticsError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .get()
                .map_err(|e| AnalyticsError::Invalid(format!("events.db: {e}")))?;
            f(&conn)
        })
        .await
        .map_err(|e| AnalyticsError::Invalid(format!("a report task failed: {e}")))?
    }
}

/// The estimated `p` quantile (0 to 1) of a time-to-first-frame histogram, ms: linear
/// within the bucket it falls in; the open last bucket counts as its lower bound.
pub fn percentile(histogram: &[i64], p: f64) -> Option<f64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let want = p * total as f64;
    let mut seen = 0i64;
    let mut low = 0.0;
    for (i, count) in histogram.iter().enumerate() {
        let high = TTFF_BOUNDS_MS.get(i).map(|b| f64::from(*b));
        if *count > 0 && (seen + count) as f64 >= want {
            let Some(high) = high else {
                return Some(low);
            };
            let within = (want - seen as f64) / *count as f64;
            return Some(low + within.clamp(0.0, 1.0) * (high - low));
        }
        seen += count;
        low = high.unwrap_or(low);
    }
    Some(low)
}

/// Plays, viewers, watching and completion over some rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Audience {
    pub plays: i64,
    /// Signed-in viewers counted once each; each anonymous play counts as one.
    pub viewers: i64,
    pub watch_secs: i64,
    pub completes: i64,
}

impl Audience {
    pub fn completion(&self) -> Option<f64> {
        (self.plays > 0).then(|| self.completes as f64 / self.plays as f64)
    }
}

const AUDIENCE: &str = "coalesce(sum(plays), 0), coalesce(sum(anonymous_plays), 0),
     coalesce(sum(heartbeats), 0) * 10, coalesce(sum(completes), 0)";

/// (plays, anonymous plays, watch seconds, completes) of a row.
fn audience_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<(Audience, i64)> {
    Ok((
        Audience {
            plays: r.get(at)?,
            viewers: 0,
            watch_secs: r.get(at + 2)?,
            completes: r.get(at + 3)?,
        },
        r.get(at + 1)?,
    ))
}

/// The range's totals and each day's figures (days without any play included, as zeros).
/// Unique viewers: signed-in viewers who played (from `viewer_daily`), each anonymous play
/// counted as one.
pub fn audience(
    conn: &Connection,
    range: Range,
) -> Result<(Audience, Vec<(i64, Audience)>), AnalyticsError> {
    debug_assert_eq!(HEARTBEAT_SECS, 10);
    let (mut total, anonymous) = conn.query_row(
        &format!("SELECT {AUDIENCE} FROM rollup_site_daily WHERE day BETWEEN ?1 AND ?2"),
        params![range.from, range.to],
        |r| audience_row(r, 0),
    )?;
    // Signed-in viewers: the range's distinct ones and each day's, in one pass (SQLite's
    // count(DISTINCT) and GROUP BY would each read every row).
    let mut stmt = conn.prepare_cached(
        "SELECT day, viewer FROM viewer_daily WHERE day BETWEEN ?1 AND ?2 AND plays > 0",
    )?;
    let mut distinct: HashSet<i64> = HashSet::new();
    let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
    let mut rows = stmt.query(params![range.from, range.to])?;
    while let Some(r) = rows.next()? {
        let (day, viewer): (i64, i64) = (r.get(0)?, r.get(1)?);
        distinct.insert(viewer);
        *per_day.entry(day).or_default() += 1;
    }
    total.viewers = distinct.len() as i64 + anonymous;
    let mut stmt = conn.prepare(&format!(
        "SELECT day, {AUDIENCE} FROM rollup_site_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY day"
    ))?;
    let mut by_day: BTreeMap<i64, Audience> = BTreeMap::new();
    for row in stmt.query_map(params![range.from, range.to], |r| {
        Ok((r.get::<_, i64>(0)?, audience_row(r, 1)?))
    })? {
        let (day, (mut a, anonymous)) = row?;
        a.viewers = anonymous;
        by_day.insert(day, a);
    }
    for (day, viewers) in per_day {
        by_day.entry(day).or_default().viewers += viewers;
    }
    let days = range
        .each_day()
        .map(|d| (d, by_day.get(&d).cloned().unwrap_or_default()))
        .collect();
    Ok((total, days))
}

/// The titles played most in the range, with their audience (no unique viewers: the
/// per-title rollups do not keep who).
pub fn top_titles(
    conn: &Connection,
    range: Range,
    limit: u32,
) -> Result<Vec<(String, Audience)>, AnalyticsError> {
    Ok(ranked(title_sums(conn, range)?, limit))
}

/// Each title's audience over the range (sums of disjoint ranges add up).
pub fn title_sums(
    conn: &Connection,
    range: Range,
) -> Result<HashMap<String, Audience>, AnalyticsError> {
    // Summed here rather than by GROUP BY: SQLite would sort every (day, title) row of the
    // range by title first, several times slower than one pass into a map.
    let mut stmt = conn.prepare_cached(
        "SELECT title_id, plays, heartbeats, completes FROM rollup_title_daily
         WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut sums: HashMap<String, Audience> = HashMap::new();
    let mut rows = stmt.query(params![range.from, range.to])?;
    while let Some(r) = rows.next()? {
        let title = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        if title == "site" || title == "checkout" {
            continue;
        }
        let (plays, heartbeats, completes): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?);
        let a = match sums.get_mut(title) {
            Some(a) => a,
            None => sums.entry(title.to_string()).or_default(),
        };
        a.plays += plays;
        a.watch_secs += heartbeats * HEARTBEAT_SECS;
        a.completes += completes;
    }
    Ok(sums)
}

/// Adds `more` into `sums`.
pub fn add_title_sums(sums: &mut HashMap<String, Audience>, more: HashMap<String, Audience>) {
    for (title, m) in more {
        let a = sums.entry(title).or_default();
        a.plays += m.plays;
        a.watch_secs += m.watch_secs;
        a.completes += m.completes;
    }
}

/// The `limit` titles played most (then watched most) of `sums`.
pub fn ranked(sums: HashMap<String, Audience>, limit: u32) -> Vec<(String, Audience)> {
    let mut ranked: Vec<(String, Audience)> = sums
        .into_iter()
        .filter(|(_, a)| a.plays > 0 || a.watch_secs > 0)
        .collect();
    ranked.sort_by(|(ta, a), (tb, b)| {
        (b.plays, b.watch_secs)
            .cmp(&(a.plays, a.watch_secs))
            .then_with(|| ta.cmp(tb))
    });
    ranked.truncate(limit as usize);
    ranked
}

/// The drop-off curve of a title: for each twentieth of it, the watching there as a share
/// of the watching in the first twentieth (1.0 = everyone who started is still there).
pub fn dropoff(conn: &Connection, title: &str, range: Range) -> Result<Vec<f64>, AnalyticsError> {
    let mut counts = vec![0i64; super::rollup::DROPOFF_BUCKETS as usize];
    let mut stmt = conn.prepare(
        "SELECT bucket, sum(heartbeats) FROM rollup_dropoff
         WHERE title_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY bucket",
    )?;
    let rows = stmt.query_map(params![title, range.from, range.to], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (bucket, n) = row?;
        if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
            *slot = n;
        }
    }
    let base = counts
        .first()
        .copied()
        .filter(|n| *n > 0)
        .or_else(|| counts.iter().copied().max());
    Ok(match base {
        Some(base) if base > 0 => counts.iter().map(|n| *n as f64 / base as f64).collect(),
        _ => Vec::new(),
    })
}

/// Playback quality over some rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    pub plays: i64,
    pub first_frames: i64,
    pub ttff: [i64; TTFF_BUCKETS],
    pub rebuffers: i64,
    pub rebuffer_ms: i64,
    pub watch_secs: i64,
    pub exits_before_start: i64,
    pub fatal_errors: i64,
    pub errors: i64,
    pub bitrate_sum: i64,
    pub heartbeats: i64,
    pub cmcd_requests: i64,
    pub cmcd_stalls: i64,
}

impl Quality {
    pub fn ttff_p50(&self) -> Option<f64> {
        percentile(&self.ttff, 0.5)
    }
    pub fn ttff_p95(&self) -> Option<f64> {
        percentile(&self.ttff, 0.95)
    }
    /// Time spent stalled as a share of time spent watching or stalled.
    pub fn rebuffer_ratio(&self) -> Option<f64> {
        let stalled = self.rebuffer_ms as f64 / 1000.0;
        let total = self.watch_secs as f64 + stalled;
        (total > 0.0).then(|| stalled / total)
    }
    /// Plays given up before the first frame.
    pub fn exit_before_start_rate(&self) -> Option<f64> {
        (self.plays > 0).then(|| self.exits_before_start as f64 / self.plays as f64)
    }
    pub fn failure_rate(&self) -> Option<f64> {
        (self.plays > 0).then(|| self.fatal_errors as f64 / self.plays as f64)
    }
    /// The mean bitrate played, from heartbeats, bits/s.
    pub fn mean_bitrate(&self) -> Option<f64> {
        (self.heartbeats > 0).then(|| self.bitrate_sum as f64 / self.heartbeats as f64)
    }
    /// Media requests after which the player said its buffer had run dry (CMCD).
    pub fn cmcd_stall_rate(&self) -> Option<f64> {
        (self.cmcd_requests > 0).then(|| self.cmcd_stalls as f64 / self.cmcd_requests as f64)
    }
}

fn quality_sums() -> String {
    let ttff: Vec<String> = (0..TTFF_BUCKETS)
        .map(|i| format!("coalesce(sum(ttff_{i}), 0)"))
        .collect();
    format!(
        "coalesce(sum(plays), 0), coalesce(sum(first_frames), 0), {},
         coalesce(sum(rebuffers), 0), coalesce(sum(rebuffer_ms), 0),
         coalesce(sum(heartbeats), 0) * 10, coalesce(sum(exits_before_start), 0),
         coalesce(sum(fatal_errors), 0), coalesce(sum(errors), 0),
         coalesce(sum(bitrate_sum), 0), coalesce(sum(heartbeats), 0),
         coalesce(sum(cmcd_requests), 0), coalesce(sum(cmcd_stalls), 0)",
        ttff.join(", ")
    )
}

fn quality_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Quality> {
    let mut ttff = [0i64; TTFF_BUCKETS];
    for (i, slot) in ttff.iter_mut().enumerate() {
        *slot = r.get(at + 2 + i)?;
    }
    let next = at + 2 + TTFF_BUCKETS;
    Ok(Quality {
        plays: r.get(at)?,
        first_frames: r.get(at + 1)?,
        ttff,
        rebuffers: r.get(next)?,
        rebuffer_ms: r.get(next + 1)?,
        watch_secs: r.get(next + 2)?,
        exits_before_start: r.get(next + 3)?,
        fatal_errors: r.get(next + 4)?,
        errors: r.get(next + 5)?,
        bitrate_sum: r.get(next + 6)?,
        heartbeats: r.get(next + 7)?,
        cmcd_requests: r.get(next + 8)?,
        cmcd_stalls: r.get(next + 9)?,
    })
}

/// How quality figures are broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    Day,
    Rendition,
    Browser,
    Device,
}

impl Breakdown {
    fn column(self) -> &'static str {
        match self {
            Breakdown::Day => "CAST(day AS TEXT)",
            Breakdown::Rendition => "CAST(height AS TEXT)",
            Breakdown::Browser => "browser",
            Breakdown::Device => "device",
        }
    }
}

/// The range's quality in all, and by `breakdown` (keys as text: a day's Unix seconds, a
/// rendition's height, a browser or device class).
pub fn quality(
    conn: &Connection,
    range: Range,
    breakdown: Option<Breakdown>,
) -> Result<Vec<(String, Quality)>, AnalyticsError> {
    let key = breakdown.map_or("'all'", Breakdown::column);
    // Rows the breakdown cannot place (a play intent has no rendition; CMCD knows no
    // browser) are left out of that breakdown, not shown as "unknown" noise.
    let filter = match breakdown {
        Some(Breakdown::Rendition) => "AND height > 0",
        Some(Breakdown::Browser | Breakdown::Device) => "AND device != 'unknown'",
        _ => "",
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {key}, {sums} FROM rollup_site_daily
         WHERE day BETWEEN ?1 AND ?2 {filter} GROUP BY 1 ORDER BY 1",
        sums = quality_sums()
    ))?;
    let rows = stmt
        .query_map(params![range.from, range.to], |r| {
            Ok((r.get(0)?, quality_row(r, 1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Quality for each hour from `from` (Unix seconds) on, for alerts.
pub fn hourly_quality(conn: &Connection, from: i64) -> Result<Vec<(i64, Quality)>, AnalyticsError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT hour, {sums} FROM rollup_hourly WHERE hour >= ?1 GROUP BY hour ORDER BY hour",
        sums = quality_sums()
    ))?;
    let rows = stmt
        .query_map(params![from], |r| Ok((r.get(0)?, quality_row(r, 1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Visits to the storefront in the range (one per browser session).
pub fn visits(conn: &Connection, range: Range) -> Result<i64, AnalyticsError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(visits), 0) FROM rollup_site_daily WHERE day BETWEEN ?1 AND ?2",
        params![range.from, range.to],
        |r| r.get(0),
    )?)
}

/// Of `members`, how many ever started a checkout, and how many ever played anything.
pub fn members_who(conn: &Connection, members: &[i64]) -> Result<(i64, i64), AnalyticsError> {
    let ids = serde_json::to_string(members).unwrap_or_else(|_| "[]".into());
    Ok(conn.query_row(
        "SELECT count(first_checkout_at), count(first_play_at) FROM viewer_firsts
         WHERE viewer IN (SELECT value FROM json_each(?1))",
        [ids],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_read_from_the_histogram() {
        let mut h = [0i64; TTFF_BUCKETS];
        assert_eq!(percentile(&h, 0.5), None);
        // 10 plays in 250..500 ms, 10 in 1000..1500.
        h[1] = 10;
        h[4] = 10;
        assert_eq!(percentile(&h, 0.25), Some(375.0));
        assert_eq!(percentile(&h, 0.5), Some(500.0));
        assert_eq!(percentile(&h, 0.95), Some(1450.0));
        // Slower than the last bound: the bound.
        h[TTFF_BUCKETS - 1] = 100;
        assert_eq!(percentile(&h, 0.95), Some(10_000.0));
    }

    #[test]
    fn ranges_and_their_previous_period() {
        let r = Range::last_days(10 * DAY + 5, 7);
        assert_eq!((r.from, r.to, r.days()), (4 * DAY, 10 * DAY, 7));
        assert_eq!(
            r.previous(),
            Range {
                from: -3 * DAY,
                to: 3 * DAY
            }
        );
        assert_eq!(r.each_day().count(), 7);
    }
}
