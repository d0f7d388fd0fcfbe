//! "My list": titles a signed-in viewer saved for later, newest first. Shown on their
//! account page and as the "my list" rail (`rails::personal`).

use rusqlite::{Connection, params};

use super::titles::{self, Title};
use super::{CatalogError, visibility};

/// Saves a live title (a draft or scheduled one answers as missing); saving it again
/// changes nothing.
pub fn add(tx: &Connection, user_id: i64, title_id: &str, now: i64) -> Result<Title, CatalogError> {
    let title = live(tx, title_id, now)?;
    tx.execute(
        "INSERT OR IGNORE INTO my_list (user_id, title_id, added_at) VALUES (?1, ?2, ?3)",
        params![user_id, title.id, now],
    )?;
    Ok(title)
}

/// Takes a title off the list (whatever its state now); true when it was on it.
pub fn remove(tx: &Connection, user_id: i64, title_id: &str) -> Result<bool, CatalogError> {
    Ok(tx.execute(
        "DELETE FROM my_list WHERE user_id = ?1 AND title_id = ?2",
        params![user_id, title_id],
    )? > 0)
}

pub fn contains(conn: &Connection, user_id: i64, title_id: &str) -> Result<bool, CatalogError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM my_list WHERE user_id = ?1 AND title_id = ?2)",
        params![user_id, title_id],
        |r| r.get(0),
    )?)
}

/// The live title `id`, for a viewer's page about it.
pub fn live(conn: &Connection, title_id: &str, now: i64) -> Result<Title, CatalogError> {
    titles::find(conn, title_id)?
        .filter(|t| t.is_live(now))
        .ok_or_else(|| CatalogError::TitleNotFound(title_id.to_owned()))
}

/// The viewer's saved titles that are live at `now`, newest saved first, at most `limit`.
pub fn titles(
    conn: &Connection,
    user_id: i64,
    now: i64,
    limit: i64,
) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols} FROM my_list m JOIN titles t ON t.id = m.title_id
         WHERE m.user_id = ?2 AND {live} ORDER BY m.added_at DESC, t.name LIMIT ?3",
        cols = titles::COLUMNS,
        live = visibility::live_sql(1)
    ))?;
    let rows = stmt.query_map(params![now, user_id, limit], titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every saved title with when it was saved, whatever its state (the data export); named
/// only while viewers can see it, since a draft's name may not be announced yet.
pub fn all(
    conn: &Connection,
    user_id: i64,
    now: i64,
) -> Result<Vec<(Option<String>, i64)>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT CASE WHEN {live} THEN t.name END, m.added_at
         FROM my_list m JOIN titles t ON t.id = m.title_id
         WHERE m.user_id = ?1 ORDER BY m.added_at DESC",
        live = visibility::live_sql(2)
    ))?;
    let rows = stmt.query_map(params![user_id, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
