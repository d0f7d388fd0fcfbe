//! Where signed-in viewers stopped watching, for "continue watching" and resuming on
//! another device. One row per viewer and title, overwritten as they watch.

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
    tx.execute(
        "INSERT INTO watch_progress (user_id, title_id, position_secs, duration_secs, updated_at,
                                     finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?3 >= ?4 * 0.95 THEN ?5 END)
         ON CONFLICT (user_id, title_id) DO UPDATE SET position_secs = excluded.position_secs,
             duration_secs = excluded.duration_secs, updated_at = excluded.updated_at,
             finished_at = coalesce(watch_progress.finished_at, excluded.finished_at)",
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

/// What counts as unfinished viewing, worth resuming: 10 s in, before the last 5 %.
pub(super) const UNFINISHED: &str =
    "w.position_secs >= 10 AND w.position_secs < w.duration_secs * 0.95";

/// Where the viewer stopped in a title, if they stopped partway (a title watched to the
/// end starts again from the beginning).
pub fn position(
    conn: &Connection,
    user_id: i64,
    title_id: &str,
) -> Result<Option<f64>, CatalogError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT w.position_secs FROM watch_progress w
                 WHERE w.user_id = ?1 AND w.title_id = ?2 AND {UNFINISHED}"
            ),
            params![user_id, title_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Where a viewer would pick up a title: the title itself (a movie, an episode) or, for a
/// series, the live episode they watched last. Only unfinished viewing counts (10 s in,
/// before the last 5 %), as on the "continue watching" rail.
pub fn resume_point(
    conn: &Connection,
    user_id: i64,
    title_id: &str,
    now: i64,
) -> Result<Option<(String, f64)>, CatalogError> {
    let live = super::visibility::live_sql(3);
    Ok(conn
        .query_row(
            &format!(
                "SELECT w.title_id, w.position_secs FROM watch_progress w JOIN titles t ON t.id = w.title_id
                 WHERE w.user_id = ?1 AND (t.id = ?2 OR (t.parent_id = ?2 AND t.kind = 'episode'))
                   AND {live} AND {UNFINISHED}
                 ORDER BY w.updated_at DESC LIMIT 1"
            ),
            params![user_id, title_id, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
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
