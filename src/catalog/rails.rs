//! The home page as editors arrange it: rails in order, each hand-picked (a hero banner or
//! a manual rail) or drawn from the catalog (newest, a collection, a genre, trending) or,
//! for a signed-in viewer, their own ("continue watching", "because you watched", "new in
//! your genres", read from what `recommend` keeps). Rails are rows, so a change shows on
//! the next page view. Kinds are checked here rather than in the schema, so later kinds
//! slot in as new `RailKind` variants.

use rusqlite::types::Value;
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
    /// What the viewers who finished the viewer's last finished title finished most
    /// ("Because you watched X"); hidden when signed out.
    BecauseYouWatched,
    /// Movies and series by plays over the last 7 days.
    Trending,
    /// The newest titles (of the last 90 days) in the genres the viewer watches most, that
    /// they have not started; hidden when signed out.
    NewInYourGenres,
    /// The titles the signed-in viewer saved for later ("My list"), newest saved first;
    /// hidden when signed out.
    MyList,
}

impl RailKind {
    pub const ALL: [RailKind; 10] = [
        RailKind::Hero,
        RailKind::Manual,
        RailKind::Newest,
        RailKind::Collection,
        RailKind::Genre,
        RailKind::ContinueWatching,
        RailKind::BecauseYouWatched,
        RailKind::Trending,
        RailKind::NewInYourGenres,
        RailKind::MyList,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RailKind::Hero => "hero",
            RailKind::Manual => "manual",
            RailKind::Newest => "newest",
            RailKind::Collection => "collection",
            RailKind::Genre => "genre",
            RailKind::ContinueWatching => "continue_watching",
            RailKind::BecauseYouWatched => "because_you_watched",
            RailKind::Trending => "trending",
            RailKind::NewInYourGenres => "new_in_your_genres",
            RailKind::MyList => "my_list",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        RailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether what it shows depends on the signed-in viewer (so it is filled in per
    /// request, and not at all for someone signed out).
    pub fn personal(self) -> bool {
        matches!(
            self,
            RailKind::ContinueWatching
                | RailKind::BecauseYouWatched
                | RailKind::NewInYourGenres
                | RailKind::MyList
        )
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

/// The rails viewers see on the home page: the editors' own, or on a home no editor has
/// arranged yet (only the rails a fresh install comes with, untouched) those rails after a
/// "Continue watching" rail, so a signed-in viewer finds what they left unfinished.
pub fn home(conn: &Connection) -> Result<Vec<Rail>, CatalogError> {
    let mut rails = list(conn)?;
    if is_default_home(conn)? {
        rails.insert(0, default_continue_watching());
    }
    Ok(rails)
}

/// Whether the home page is still the one a fresh install comes with: rails, none of them
/// added or changed by an editor (the installed ones are stamped 0).
pub fn is_default_home(conn: &Connection) -> Result<bool, CatalogError> {
    let (all, installed): (i64, i64) = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE created_at = 0 AND updated_at = 0) FROM rails",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(all > 0 && all == installed)
}

/// The "Continue watching" rail of the default home: not a row (id 0, which no row has).
fn default_continue_watching() -> Rail {
    Rail {
        id: 0,
        position: -1,
        kind: RailKind::ContinueWatching,
        name: "Continue watching".into(),
        source: None,
        max_items: 20,
    }
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

/// What everyone sees in a shared rail at `now`: live titles only. A personal rail is
/// empty here (see `personal`).
pub fn resolve(conn: &Connection, rail: &Rail, now: i64) -> Result<Vec<Title>, CatalogError> {
    let live = visibility::live_sql(1);
    let cols = titles::COLUMNS;
    let (sql, source) = match rail.kind {
        RailKind::Hero | RailKind::Manual => (
            format!(
                "SELECT {cols} FROM rail_items ri JOIN titles t ON t.id = ri.title_id
                 WHERE ri.rail_id = ?2 AND {live} ORDER BY ri.position LIMIT ?3"
            ),
            Value::Integer(rail.id),
        ),
        RailKind::Newest => (
            format!(
                "SELECT {cols} FROM titles t INDEXED BY titles_live
                 WHERE t.parent_id IS NULL AND {live} AND ?2 IS NULL
                 ORDER BY t.live_from DESC LIMIT ?3"
            ),
            Value::Null,
        ),
        RailKind::Collection => (
            format!(
                "SELECT {cols} FROM collection_items ci JOIN titles t ON t.id = ci.title_id
                 WHERE ci.collection_id = ?2 AND {live} ORDER BY ci.position LIMIT ?3"
            ),
            Value::Text(rail.source.clone().unwrap_or_default()),
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
            Value::Text(rail.source.clone().unwrap_or_default()),
        ),
        RailKind::Trending => (
            format!(
                "SELECT {cols} FROM trending_titles tr JOIN titles t ON t.id = tr.title_id
                 WHERE {live} AND ?2 IS NULL ORDER BY tr.rank LIMIT ?3"
            ),
            Value::Null,
        ),
        RailKind::ContinueWatching
        | RailKind::BecauseYouWatched
        | RailKind::NewInYourGenres
        | RailKind::MyList => {
            return Ok(Vec::new());
        }
    };
    titles_of(conn, &sql, params![now, source, rail.max_items])
}

fn titles_of(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the signed-in `user` sees in a personal rail at `now`, and the rail's name as they
/// see it ("Because you watched" names the title it is about). Empty for a shared rail.
pub fn personal(
    conn: &Connection,
    rail: &Rail,
    user: i64,
    now: i64,
) -> Result<(String, Vec<Title>), CatalogError> {
    let live = visibility::live_sql(1);
    let cols = titles::COLUMNS;
    let top = super::recommend::TOP;
    // Titles the viewer has started or finished, as movies and series.
    let seen = "SELECT 1 FROM watch_progress w JOIN titles p ON p.id = w.title_id
                WHERE w.user_id = ?2 AND coalesce(p.parent_id, p.id) = t.id";
    let shown = match rail.kind {
        RailKind::ContinueWatching => titles_of(
            conn,
            &format!(
                "SELECT {cols} FROM watch_progress w JOIN titles t ON t.id = w.title_id
                 WHERE w.user_id = ?2 AND {live} AND {unfinished}
                 ORDER BY w.updated_at DESC LIMIT ?3",
                unfinished = super::progress::unfinished_sql()
            ),
            params![now, user, rail.max_items],
        )?,
        RailKind::BecauseYouWatched => {
            let Some((about, name)) = super::recommend::because_of(conn, user, now)? else {
                return Ok((rail.name.clone(), Vec::new()));
            };
            let titles = titles_of(
                conn,
                &format!(
                    "SELECT {cols} FROM co_watched c JOIN titles t ON t.id = c.neighbour_id
                     WHERE c.title_id = ?4 AND {live} AND {unfinished}
                     ORDER BY c.viewers DESC, t.live_from DESC LIMIT ?3",
                    unfinished = super::recommend::not_finished_by("t", 2)
                ),
                params![now, user, rail.max_items, about],
            )?;
            return Ok((format!("{} {name}", rail.name), titles));
        }
        RailKind::NewInYourGenres => titles_of(
            conn,
            &format!(
                "WITH theirs AS (
                     SELECT tg.genre_id FROM watch_progress w JOIN titles t ON t.id = w.title_id
                     JOIN title_genres tg ON tg.title_id = {top}
                     WHERE w.user_id = ?2 AND t.kind IN ('movie', 'episode')
                       AND (w.finished_at IS NOT NULL OR w.position_secs >= 60)
                     GROUP BY tg.genre_id ORDER BY count(*) DESC, tg.genre_id LIMIT 3)
                 SELECT {cols} FROM titles t INDEXED BY titles_live
                 WHERE t.parent_id IS NULL AND {live} AND t.live_from > ?1 - ?4
                   AND EXISTS (SELECT 1 FROM title_genres tg
                               WHERE tg.title_id = t.id AND tg.genre_id IN theirs)
                   AND NOT EXISTS ({seen})
                 ORDER BY t.live_from DESC LIMIT ?3"
            ),
            params![now, user, rail.max_items, NEW_FOR_SECS],
        )?,
        RailKind::MyList => super::my_list::titles(conn, user, now, rail.max_items)?,
        _ => Vec::new(),
    };
    Ok((rail.name.clone(), shown))
}

/// How recent a title is to count as new in "new in your genres".
const NEW_FOR_SECS: i64 = 90 * 86_400;
