//! Where signed-in viewers stopped watching, for "continue watching" and resuming on
//! another device. One row per viewer and title, overwritten as they watch.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::CatalogError;

/// Records a position, for a live title that plays media. Positions are clamped to the
/// duration; nonsense (negative, not finite, over a day) is refused.
pub fn save(
    tx: &Connection,
    user_id: i64,
    title_id: &str,
    position_secs: f64,
    duration_secs: f64,
    now: i64,
) -> Result<(), CatalogError> {
    let sane = |v: f64| v.is_finite() && (0.0..=86_400.0).contains(&v);
    if !sane(position_secs) || !sane(duration_secs) || duration_secs == 0.0 {
        return Err(CatalogError::Invalid(
            "position and duration are seconds, 0 to 86400".into(),
        ));
    }
    // Only a title the viewer can watch now: a draft or a scheduled one answers as missing.
    let plays: Option<String> = tx
        .query_row(
            &format!(
                "SELECT t.kind FROM titles t WHERE t.id = ?1 AND t.kind != 'series' AND {}",
                super::visibility::live_sql(2)
            ),
            params![title_id, now],
            |r| r.get(0),
        )
        .optional()?;
    if plays.is_none() {
        return Err(CatalogError::TitleNotFound(title_id.to_string()));
    }
    // Finished where the resume rule stops resuming.
    tx.execute(
        &format!(
            "INSERT INTO watch_progress (user_id, title_id, position_secs, duration_secs, updated_at,
                                         finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?3 >= ?4 * {FINISHED_AT:?} THEN ?5 END)
             ON CONFLICT (user_id, title_id) DO UPDATE SET position_secs = excluded.position_secs,
                 duration_secs = excluded.duration_secs, updated_at = excluded.updated_at,
                 finished_at = coalesce(watch_progress.finished_at, excluded.finished_at)"
        ),
        params![
            user_id,
            title_id,
            position_secs.min(duration_secs),
            duration_secs,
            now
        ],
    )?;
    Ok(())
}

/// The one resume rule, for every screen that offers or starts a resume (the title page's
/// "Resume from", the player's start, "continue watching"): a position counts once the
/// viewer is `RESUME_FROM_SECS` in and before the last `1 - FINISHED_AT` of the title;
/// otherwise the title starts from the beginning.
pub const RESUME_FROM_SECS: f64 = 10.0;
/// The share of a title after which it counts as watched to the end.
pub const FINISHED_AT: f64 = 0.95;

/// Where a viewer who stopped at `position_secs` of `duration_secs` starts again: that
/// position, or `None` (from the beginning) when barely started or watched to the end.
pub fn resume_at(position_secs: f64, duration_secs: f64) -> Option<f64> {
    (position_secs >= RESUME_FROM_SECS && position_secs < duration_secs * FINISHED_AT)
        .then_some(position_secs)
}

/// `resume_at` as SQL over `watch_progress w`, for queries that pick unfinished viewing
/// among many rows (the "continue watching" rail); kept to the same constants.
pub(super) fn unfinished_sql() -> String {
    format!(
        "w.position_secs >= {RESUME_FROM_SECS:?} AND w.position_secs < w.duration_secs * {FINISHED_AT:?}"
    )
}

/// Where a viewer picks a title up, the same for the title page and the player.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    /// What plays: the title itself (a movie, an episode) or one of a series' episodes.
    pub title_id: String,
    /// Seconds into it.
    pub at: f64,
}

/// Where a viewer would pick up a title, by `resume_at`: the title itself (a movie, an
/// episode) or, for a series, the live episode they watched last.
pub fn resume_point(
    conn: &Connection,
    user_id: i64,
    title_id: &str,
    now: i64,
) -> Result<Option<ResumePoint>, CatalogError> {
    let live = super::visibility::live_sql(3);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT w.title_id, w.position_secs, w.duration_secs
         FROM watch_progress w JOIN titles t ON t.id = w.title_id
         WHERE w.user_id = ?1 AND (t.id = ?2 OR (t.parent_id = ?2 AND t.kind = 'episode'))
           AND {live}
         ORDER BY w.updated_at DESC"
    ))?;
    let mut rows = stmt.query(params![user_id, title_id, now])?;
    while let Some(row) = rows.next()? {
        if let Some(at) = resume_at(row.get(1)?, row.get(2)?) {
            return Ok(Some(ResumePoint {
                title_id: row.get(0)?,
                at,
            }));
        }
    }
    Ok(None)
}

/// How much of each of `title_ids` the viewer has watched, in whole percent (1 to 99 for
/// a title started and not finished), for the bars on "continue watching" tiles. Titles
/// they never started are left out.
pub fn watched_percent(
    conn: &Connection,
    user_id: i64,
    title_ids: &[String],
) -> Result<HashMap<String, u8>, CatalogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT position_secs, duration_secs FROM watch_progress
         WHERE user_id = ?1 AND title_id = ?2",
    )?;
    let mut out = HashMap::new();
    for id in title_ids {
        let found: Option<(f64, f64)> = stmt
            .query_row(params![user_id, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((position, duration)) = found
            && duration > 0.0
        {
            let percent = (position / duration * 100.0).floor().clamp(1.0, 99.0);
            out.insert(id.clone(), percent as u8);
        }
    }
    Ok(out)
}

/// One title a viewer watched, for their watch history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Watched {
    pub title_id: String,
    /// The title's name, and its series' for an episode, while viewers can see it: a
    /// title taken back to draft may since have a name not yet announced.
    pub title: Option<String>,
    pub series: Option<String>,
    pub position_secs: f64,
    pub duration_secs: f64,
    pub updated_at: i64,
    pub finished: bool,
}

/// What the viewer watched, most recent first (at most `limit`), whatever the titles'
/// state now: it is their history. Only titles live at `now` are named.
pub fn history(
    conn: &Connection,
    user_id: i64,
    now: i64,
    limit: i64,
) -> Result<Vec<Watched>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT w.title_id, CASE WHEN {live} THEN t.name END,
                CASE WHEN {live} THEN p.name END, w.position_secs, w.duration_secs,
                w.updated_at, w.finished_at IS NOT NULL
         FROM watch_progress w JOIN titles t ON t.id = w.title_id
         LEFT JOIN titles p ON p.id = t.parent_id AND t.kind = 'episode'
         WHERE w.user_id = ?1 ORDER BY w.updated_at DESC LIMIT ?2",
        live = super::visibility::live_sql(3)
    ))?;
    let rows = stmt.query_map(params![user_id, limit, now], |r| {
        Ok(Watched {
            title_id: r.get(0)?,
            title: r.get(1)?,
            series: r.get(2)?,
            position_secs: r.get(3)?,
            duration_secs: r.get(4)?,
            updated_at: r.get(5)?,
            finished: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::rails::{self, Rail, RailKind};

    /// The "continue watching" rail (SQL) and the resume point (Rust) agree at and around
    /// the rule's edges: every title the rail shows resumes, and no other.
    #[test]
    fn the_rail_and_the_resume_point_follow_one_rule() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("marquee.db");
        drop(crate::db::Db::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO users (id, email, email_key, display_name, role, created_at)
             VALUES (1, 'u@x', 'u@x', 'U', 'viewer', 0)",
            [],
        )
        .unwrap();
        let positions = [0.0, 9.9, 10.0, 13.0, 94.9, 95.0, 100.0];
        for (i, at) in positions.iter().enumerate() {
            c.execute(
                "INSERT INTO titles (id, kind, name, status, live_from, created_at, updated_at)
                 VALUES (?1, 'movie', ?1, 'published', 1, 0, 0)",
                [format!("m{i}")],
            )
            .unwrap();
            save(&c, 1, &format!("m{i}"), *at, 100.0, 10 + i as i64).unwrap();
        }
        let rail = Rail {
            id: 1,
            position: 0,
            kind: RailKind::ContinueWatching,
            name: "Continue watching".into(),
            source: None,
            max_items: 50,
        };
        let (_, shown) = rails::personal(&c, &rail, 1, 100).unwrap();
        let mut on_rail: Vec<String> = shown.into_iter().map(|t| t.id).collect();
        on_rail.sort();
        let resumed: Vec<String> = (0..positions.len())
            .map(|i| format!("m{i}"))
            .filter(|id| resume_point(&c, 1, id, 100).unwrap().is_some())
            .collect();
        assert_eq!(on_rail, resumed);
        assert_eq!(resumed, ["m2", "m3", "m4"]);
        assert_eq!(
            resume_point(&c, 1, "m3", 100).unwrap(),
            Some(ResumePoint {
                title_id: "m3".into(),
                at: 13.0
            })
        );
    }
}
