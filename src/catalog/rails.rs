//! The home page as editors arrange it: rails in order, each hand-picked (a hero banner or
//! a manual rail) or drawn from the catalog (newest, a collection, a genre, a signed-in
//! viewer's "continue watching"). Rails are rows, so a change shows on the next page view.
//! Kinds are checked here rather than in the schema, so later kinds (trending, personal
//! recommendations) slot in as new `RailKind` variants.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::titles::{self, Title};
use super::{CatalogError, visibility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RailKind {
    /// A large banner of hand-picked titles at the top.
    Hero,
    Manual,
    Newest,
    /// `source`: a collection id.
    Collection,
    /// `source`: a genre slug.
    Genre,
    /// The signed-in viewer's unfinished titles, most recent first; hidden when signed out.
    ContinueWatching,
}

impl RailKind {
    pub const ALL: [RailKind; 6] = [
        RailKind::Hero,
        RailKind::Manual,
        RailKind::Newest,
        RailKind::Collection,
        RailKind::Genre,
        RailKind::ContinueWatching,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RailKind::Hero => "hero",
            RailKind::Manual => "manual",
            RailKind::Newest => "newest",
            RailKind::Collection => "collection",
            RailKind::Genre => "genre",
            RailKind::ContinueWatching => "continue_watching",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        RailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether editors pick the titles one by one.
    pub fn hand_picked(self) -> bool {
        matches!(self, RailKind::Hero | RailKind::Manual)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rail {
    pub id: i64,
    pub position: i64,
    pub kind: RailKind,
    pub name: String,
    pub source: Option<String>,
    pub max_items: i64,
}

const MAX_ITEMS: i64 = 50;

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Rail> {
    let kind: String = row.get(2)?;
    Ok(Rail {
        id: row.get(0)?,
        position: row.get(1)?,
        kind: RailKind::parse(&kind).unwrap_or(RailKind::Manual),
        name: row.get(3)?,
        source: row.get(4)?,
        max_items: row.get(5)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Rail>, CatalogError> {
    let mut stmt = conn.prepare(
        "SELECT id, position, kind, name, source, max_items FROM rails ORDER BY position, id",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Rail, CatalogError> {
    conn.query_row(
        "SELECT id, position, kind, name, source, max_items FROM rails WHERE id = ?1",
        [id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| CatalogError::Invalid(format!("no rail {id}")))
}

/// What a rail is made of; absent fields stay as they are on update.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RailFields {
    pub name: Option<String>,
    pub source: Option<String>,
    pub max_items: Option<i64>,
    /// Hand-picked rails: the titles in order (movies and series).
    pub titles: Option<Vec<String>>,
}

fn check(conn: &Connection, kind: RailKind, f: &RailFields) -> Result<(), CatalogError> {
    let invalid = |m: String| Err(CatalogError::Invalid(m));
    if let Some(name) = &f.name
        && (name.trim().is_empty()
            || name.chars().count() > 80
            || name.chars().any(char::is_control))
    {
        return invalid("a rail's name is 1 to 80 characters".into());
    }
    if let Some(n) = f.max_items
        && !(1..=MAX_ITEMS).contains(&n)
    {
        return invalid(format!("a rail shows 1 to {MAX_ITEMS} titles"));
    }
    if f.titles.is_some() && !kind.hand_picked() {
        return invalid(format!("a {} rail chooses its own titles", kind.as_str()));
    }
    match (kind, f.source.as_deref()) {
        (RailKind::Collection, Some(id)) => {
            let found: Option<i64> = conn
                .query_row("SELECT 1 FROM collections WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            if found.is_none() {
                return invalid(format!("no collection {id}"));
            }
        }
        (RailKind::Genre, Some(slug)) => {
            let found: Option<i64> = conn
                .query_row("SELECT 1 FROM genres WHERE slug = ?1", [slug], |r| r.get(0))
                .optional()?;
            if found.is_none() {
                return invalid(format!("no genre {slug:?}"));
            }
        }
        (_, Some(s)) if !s.is_empty() => {
            return invalid(format!("a {} rail has no source", kind.as_str()));
        }
        _ => {}
    }
    if let Some(ids) = &f.titles {
        if ids.len() as i64 > MAX_ITEMS {
            return invalid(format!("at most {MAX_ITEMS} titles"));
        }
        for id in ids {
            let t = titles::get(conn, id)?;
            if t.parent_id.is_some() {
                return invalid(format!(
                    "{} is an {}; rails hold movies and series",
                    t.name,
                    t.kind.as_str()
                ));
            }
        }
    }
    Ok(())
}

/// Adds a rail at the end of the page.
pub fn create(
    tx: &Connection,
    kind: RailKind,
    fields: &RailFields,
    now: i64,
) -> Result<i64, CatalogError> {
    check(tx, kind, fields)?;
    if matches!(kind, RailKind::Collection | RailKind::Genre) && fields.source.is_none() {
        return Err(CatalogError::Invalid(format!(
            "a {} rail needs a source",
            kind.as_str()
        )));
    }
    let name = fields
        .name
        .clone()
        .ok_or_else(|| CatalogError::Invalid("a rail needs a name".into()))?;
    tx.execute(
        "INSERT INTO rails (position, kind, name, source, max_items, created_at, updated_at)
         VALUES ((SELECT coalesce(max(position), -1) + 1 FROM rails), ?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            kind.as_str(),
            name.trim(),
            fields.source,
            fields.max_items.unwrap_or(20),
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    if let Some(ids) = &fields.titles {
        set_items(tx, id, ids)?;
    }
    Ok(id)
}

pub fn update(tx: &Connection, id: i64, fields: &RailFields, now: i64) -> Result<(), CatalogError> {
    let rail = get(tx, id)?;
    check(tx, rail.kind, fields)?;
    tx.execute(
        "UPDATE rails SET name = coalesce(?2, name), source = coalesce(?3, source),
                max_items = coalesce(?4, max_items), updated_at = ?5 WHERE id = ?1",
        params![
            id,
            fields.name.as_deref().map(str::trim),
            fields.source,
            fields.max_items,
            now
        ],
    )?;
    if let Some(ids) = &fields.titles {
        set_items(tx, id, ids)?;
    }
    Ok(())
}

fn set_items(tx: &Connection, rail_id: i64, ids: &[String]) -> Result<(), CatalogError> {
    tx.execute("DELETE FROM rail_items WHERE rail_id = ?1", [rail_id])?;
    for (position, id) in ids.iter().enumerate() {
        tx.execute(
            "INSERT OR IGNORE INTO rail_items (rail_id, title_id, position) VALUES (?1, ?2, ?3)",
            params![rail_id, id, position as i64],
        )?;
    }
    Ok(())
}

pub fn delete(tx: &Connection, id: i64) -> Result<Rail, CatalogError> {
    let rail = get(tx, id)?;
    tx.execute("DELETE FROM rails WHERE id = ?1", [id])?;
    Ok(rail)
}

/// Puts the rails in this order; every rail must be named once.
pub fn reorder(tx: &Connection, ids: &[i64]) -> Result<(), CatalogError> {
    let mut current: Vec<i64> = list(tx)?.into_iter().map(|r| r.id).collect();
    let mut wanted = ids.to_vec();
    current.sort_unstable();
    wanted.sort_unstable();
    if current != wanted {
        return Err(CatalogError::Invalid(
            "the new order must list every rail once".into(),
        ));
    }
    for (position, id) in ids.iter().enumerate() {
        tx.execute(
            "UPDATE rails SET position = ?2 WHERE id = ?1",
            params![id, position as i64],
        )?;
    }
    Ok(())
}

/// Moves one rail up (`-1`) or down (`1`) a place.
pub fn shift(tx: &Connection, id: i64, by: i64) -> Result<(), CatalogError> {
    let mut ids: Vec<i64> = list(tx)?.into_iter().map(|r| r.id).collect();
    let Some(at) = ids.iter().position(|r| *r == id) else {
        return Err(CatalogError::Invalid(format!("no rail {id}")));
    };
    let to = (at as i64 + by).clamp(0, ids.len() as i64 - 1) as usize;
    let rail = ids.remove(at);
    ids.insert(to, rail);
    reorder(tx, &ids)
}

/// The hand-picked titles of a rail, in order, whatever their state (for editors).
pub fn items(conn: &Connection, rail_id: i64) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM rail_items ri JOIN titles t ON t.id = ri.title_id
         WHERE ri.rail_id = ?1 ORDER BY ri.position",
        titles::COLUMNS
    ))?;
    let rows = stmt.query_map([rail_id], titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What a viewer sees in a rail at `now`: live titles only. `viewer`: the signed-in
/// account, for "continue watching".
pub fn resolve(
    conn: &Connection,
    rail: &Rail,
    viewer: Option<i64>,
    now: i64,
) -> Result<Vec<Title>, CatalogError> {
    let live = visibility::live_sql(1);
    let cols = titles::COLUMNS;
    let (sql, source) = match rail.kind {
        RailKind::Hero | RailKind::Manual => (
            format!(
                "SELECT {cols} FROM rail_items ri JOIN titles t ON t.id = ri.title_id
                 WHERE ri.rail_id = ?2 AND {live} ORDER BY ri.position LIMIT ?3"
            ),
            rusqlite::types::Value::Integer(rail.id),
        ),
        RailKind::Newest => (
            format!(
                "SELECT {cols} FROM titles t INDEXED BY titles_live
                 WHERE t.parent_id IS NULL AND {live} AND ?2 IS NULL
                 ORDER BY t.live_from DESC LIMIT ?3"
            ),
            rusqlite::types::Value::Null,
        ),
        RailKind::Collection => (
            format!(
                "SELECT {cols} FROM collection_items ci JOIN titles t ON t.id = ci.title_id
                 WHERE ci.collection_id = ?2 AND {live} ORDER BY ci.position LIMIT ?3"
            ),
            rusqlite::types::Value::Text(rail.source.clone().unwrap_or_default()),
        ),
        RailKind::Genre => (
            // Newest first along the release-time index, keeping the genre's: a few rows
            // read for a common genre, instead of sorting every title in it.
            format!(
                "SELECT {cols} FROM titles t INDEXED BY titles_live
                 WHERE t.parent_id IS NULL AND {live} AND EXISTS (
                     SELECT 1 FROM title_genres tg JOIN genres g ON g.id = tg.genre_id
                     WHERE tg.title_id = t.id AND g.slug = ?2)
                 ORDER BY t.live_from DESC LIMIT ?3"
            ),
            rusqlite::types::Value::Text(rail.source.clone().unwrap_or_default()),
        ),
        RailKind::ContinueWatching => {
            let Some(user) = viewer else {
                return Ok(Vec::new());
            };
            (
                format!(
                    "SELECT {cols} FROM watch_progress w JOIN titles t ON t.id = w.title_id
                     WHERE w.user_id = ?2 AND {live} AND {unfinished}
                     ORDER BY w.updated_at DESC LIMIT ?3",
                    unfinished = super::progress::UNFINISHED
                ),
                rusqlite::types::Value::Integer(user),
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now, source, rail.max_items], titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
