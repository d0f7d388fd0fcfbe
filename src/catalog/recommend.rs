//! What the personal rails read, worked out ahead of time: for each movie or series, the
//! titles most finished by the viewers who finished it (`co_watched`), and this week's
//! trending titles (`trending_titles`). Both are kept in the main database so a home page
//! reads a few indexed rows; `services::recommendations` refreshes them, co-watching
//! incrementally from the finishes since its mark.
//!
//! A series counts as finished by a viewer who finished any of its episodes; extras never
//! count.

use rusqlite::{Connection, OptionalExtension, params};

use super::CatalogError;

/// How many neighbours a title keeps.
pub const NEIGHBOURS: i64 = 30;
/// How many trending titles are kept.
pub const TRENDING: usize = 50;
/// A title's neighbours are counted over its most recent finishers, at most this many, so
/// a very popular title costs the same as a merely popular one.
const FINISHERS_SAMPLE: i64 = 2_000;

/// The movie or series a played title belongs to (`t` is the played title).
pub(super) const TOP: &str = "coalesce(t.parent_id, t.id)";

/// The movies and series whose neighbours may have changed since `mark` (a
/// `finished_at`): every title finished by a viewer who finished something since. Also
/// the new mark. The last second is taken again next time (a finish can land in the
/// second already read): working a title out twice is harmless.
pub fn changed_since(conn: &Connection, mark: i64) -> Result<(Vec<String>, i64), CatalogError> {
    let new_mark: i64 = conn.query_row(
        "SELECT coalesce(max(finished_at), ?1) FROM watch_progress WHERE finished_at >= ?1",
        [mark],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT DISTINCT {TOP} FROM watch_progress w JOIN titles t ON t.id = w.title_id
         WHERE w.user_id IN (SELECT user_id FROM watch_progress
                             WHERE finished_at >= ?1 AND finished_at <= ?2)
           AND w.finished_at IS NOT NULL AND t.kind IN ('movie', 'episode')
         ORDER BY 1"
    ))?;
    let titles = stmt
        .query_map(params![mark, new_mark], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((titles, new_mark))
}

/// The titles most finished by `title`'s (most recent) finishers, with how many of them.
pub fn neighbours_of(conn: &Connection, title: &str) -> Result<Vec<(String, i64)>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "WITH finishers AS (
             SELECT w.user_id FROM watch_progress w
             WHERE w.title_id IN (SELECT id FROM titles WHERE id = ?1 AND kind = 'movie'
                                  UNION ALL
                                  SELECT id FROM titles WHERE parent_id = ?1 AND kind = 'episode')
               AND w.finished_at IS NOT NULL
             GROUP BY w.user_id ORDER BY max(w.finished_at) DESC LIMIT ?2)
         SELECT {TOP} AS top, count(DISTINCT w.user_id) AS viewers
         FROM finishers f JOIN watch_progress w ON w.user_id = f.user_id
         JOIN titles t ON t.id = w.title_id
         WHERE w.finished_at IS NOT NULL AND t.kind IN ('movie', 'episode') AND {TOP} != ?1
         GROUP BY top ORDER BY viewers DESC, top LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![title, FINISHERS_SAMPLE, NEIGHBOURS], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Replaces a title's neighbours (a title deleted meanwhile is skipped).
pub fn keep_neighbours(
    tx: &Connection,
    title: &str,
    neighbours: &[(String, i64)],
) -> Result<(), CatalogError> {
    tx.execute("DELETE FROM co_watched WHERE title_id = ?1", [title])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO co_watched (title_id, neighbour_id, viewers)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM titles WHERE id = ?1)
                             AND EXISTS (SELECT 1 FROM titles WHERE id = ?2)",
    )?;
    for (neighbour, viewers) in neighbours {
        insert.execute(params![title, neighbour, viewers])?;
    }
    Ok(())
}

pub fn finished_mark(conn: &Connection) -> Result<i64, CatalogError> {
    Ok(
        conn.query_row("SELECT finished_mark FROM recommendation_state", [], |r| {
            r.get(0)
        })?,
    )
}

pub fn set_finished_mark(tx: &Connection, mark: i64) -> Result<(), CatalogError> {
    tx.execute("UPDATE recommendation_state SET finished_mark = ?1", [mark])?;
    Ok(())
}

pub fn trending_at(conn: &Connection) -> Result<i64, CatalogError> {
    Ok(
        conn.query_row("SELECT trending_at FROM recommendation_state", [], |r| {
            r.get(0)
        })?,
    )
}

/// Keeps the trending list made from `plays` (played titles, episodes among them, with
/// their plays this week): summed per movie or series, the best `TRENDING`. The list is
/// replaced only when it changed, since a new one makes the storefront build its home page
/// again. Returns whether it changed.
pub fn keep_trending(
    tx: &Connection,
    plays: &[(String, i64)],
    now: i64,
) -> Result<bool, CatalogError> {
    let mut per_title: std::collections::HashMap<String, i64> = Default::default();
    let mut top = tx.prepare_cached(&format!(
        "SELECT {TOP} FROM titles t WHERE t.id = ?1 AND t.kind IN ('movie', 'episode')"
    ))?;
    for (played, n) in plays {
        let found: Option<String> = top.query_row([played], |r| r.get(0)).optional()?;
        if let Some(title) = found {
            *per_title.entry(title).or_default() += n;
        }
    }
    let mut ranked: Vec<(String, i64)> = per_title.into_iter().filter(|(_, n)| *n > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(TRENDING);

    let mut stmt = tx.prepare("SELECT title_id, plays FROM trending_titles ORDER BY rank")?;
    let kept: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    tx.execute("UPDATE recommendation_state SET trending_at = ?1", [now])?;
    if kept == ranked {
        return Ok(false);
    }
    tx.execute("DELETE FROM trending_titles", [])?;
    for (rank, (title, n)) in ranked.iter().enumerate() {
        tx.execute(
            "INSERT INTO trending_titles (title_id, rank, plays) VALUES (?1, ?2, ?3)",
            params![title, rank as i64, n],
        )?;
    }
    Ok(true)
}

/// SQL: the viewer (parameter `?{user}`) has not finished the movie or series aliased
/// `alias` (any episode of a series counts).
pub(super) fn not_finished_by(alias: &str, user: usize) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM watch_progress fw JOIN titles fp ON fp.id = fw.title_id
                     WHERE fw.user_id = ?{user} AND fw.finished_at IS NOT NULL
                       AND coalesce(fp.parent_id, fp.id) = {alias}.id)"
    )
}

/// The movie or series behind "because you watched": the one the viewer finished last
/// that viewers see now and that has a neighbour they can see and have not finished. Its
/// id and name.
pub fn because_of(
    conn: &Connection,
    user: i64,
    now: i64,
) -> Result<Option<(String, String)>, CatalogError> {
    let live = super::visibility::live_sql(2);
    let neighbour_live = super::visibility::live_sql_as("n", 2);
    let unfinished = not_finished_by("n", 1);
    Ok(conn
        .prepare_cached(&format!(
            "SELECT t.id, t.name FROM watch_progress w JOIN titles p ON p.id = w.title_id
             JOIN titles t ON t.id = coalesce(p.parent_id, p.id)
             WHERE w.user_id = ?1 AND w.finished_at IS NOT NULL
               AND p.kind IN ('movie', 'episode') AND {live}
               AND EXISTS (SELECT 1 FROM co_watched c JOIN titles n ON n.id = c.neighbour_id
                           WHERE c.title_id = t.id AND {neighbour_live} AND {unfinished})
             ORDER BY w.finished_at DESC, w.updated_at DESC LIMIT 1"
        ))?
        .query_row(params![user, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// "More like this" after `title` (a movie or series id) ends: the live titles its
/// finishers also finished, most shared first, leaving out what the signed-in `user`
/// finished. Drafts, scheduled and expired titles never show.
pub fn more_like(
    conn: &Connection,
    title: &str,
    user: Option<i64>,
    now: i64,
    limit: i64,
) -> Result<Vec<super::titles::Title>, CatalogError> {
    let live = super::visibility::live_sql(1);
    let unfinished = not_finished_by("t", 3);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols} FROM co_watched c JOIN titles t ON t.id = c.neighbour_id
         WHERE c.title_id = ?2 AND {live} AND (?3 IS NULL OR {unfinished})
         ORDER BY c.viewers DESC, t.live_from DESC LIMIT ?4",
        cols = super::titles::COLUMNS
    ))?;
    let rows = stmt.query_map(params![now, title, user, limit], super::titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
