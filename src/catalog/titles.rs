//! Titles: what viewers browse and editors publish, separate from the media they play.
//! Movies and series stand alone; episodes (in numbered seasons) and extras (trailers,
//! clips, behind the scenes) hang off a parent title.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{CatalogError, search, visibility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TitleKind {
    Movie,
    Series,
    Episode,
    Extra,
}

impl TitleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TitleKind::Movie => "movie",
            TitleKind::Series => "series",
            TitleKind::Episode => "episode",
            TitleKind::Extra => "extra",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "movie" => TitleKind::Movie,
            "series" => TitleKind::Series,
            "episode" => TitleKind::Episode,
            "extra" => TitleKind::Extra,
            _ => return None,
        })
    }

    /// Whether the title plays media of its own (a series plays its episodes').
    pub fn plays(self) -> bool {
        self != TitleKind::Series
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtraKind {
    Trailer,
    Clip,
    BehindTheScenes,
}

impl ExtraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtraKind::Trailer => "trailer",
            ExtraKind::Clip => "clip",
            ExtraKind::BehindTheScenes => "behind_the_scenes",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "trailer" => ExtraKind::Trailer,
            "clip" => ExtraKind::Clip,
            "behind_the_scenes" => ExtraKind::BehindTheScenes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishState {
    Draft,
    Published,
}

#[derive(Debug, Clone, Serialize)]
pub struct Title {
    pub id: String,
    pub kind: TitleKind,
    pub parent_id: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
    pub extra_kind: Option<ExtraKind>,
    pub name: String,
    pub synopsis: String,
    pub year: Option<i64>,
    pub age_rating: String,
    pub languages: Vec<String>,
    pub asset_id: Option<String>,
    pub status: PublishState,
    pub publish_at: Option<i64>,
    pub expire_at: Option<i64>,
    pub published_at: Option<i64>,
    pub live_from: Option<i64>,
    pub live_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Title {
    /// Whether viewers can see it at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        visibility::is_within(self.live_from, self.live_until, now)
    }
}

pub(super) const COLUMNS: &str = "t.id, t.kind, t.parent_id, t.season_number, t.episode_number, t.extra_kind, \
    t.name, t.synopsis, t.year, t.age_rating, t.languages, t.asset_id, t.status, t.publish_at, t.expire_at, \
    t.published_at, t.live_from, t.live_until, t.created_at, t.updated_at";

pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Title> {
    let kind: String = row.get(1)?;
    let extra: Option<String> = row.get(5)?;
    let languages: String = row.get(10)?;
    let status: String = row.get(12)?;
    let corrupt = |what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{what} {v:?}").into(),
        )
    };
    Ok(Title {
        id: row.get(0)?,
        kind: TitleKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        parent_id: row.get(2)?,
        season_number: row.get(3)?,
        episode_number: row.get(4)?,
        extra_kind: match extra {
            Some(e) => Some(ExtraKind::parse(&e).ok_or_else(|| corrupt("extra kind", &e))?),
            None => None,
        },
        name: row.get(6)?,
        synopsis: row.get(7)?,
        year: row.get(8)?,
        age_rating: row.get(9)?,
        languages: split_list(&languages),
        asset_id: row.get(11)?,
        status: if status == "published" {
            PublishState::Published
        } else {
            PublishState::Draft
        },
        publish_at: row.get(13)?,
        expire_at: row.get(14)?,
        published_at: row.get(15)?,
        live_from: row.get(16)?,
        live_until: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
    })
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A title's fields; absent ones stay as they are. Names are trimmed; limits are checked
/// by [`TitleFields::check`].
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TitleFields {
    pub name: Option<String>,
    pub synopsis: Option<String>,
    pub year: Option<i64>,
    pub age_rating: Option<String>,
    pub languages: Option<Vec<String>>,
    /// Link a ready (or processing) asset; an empty string unlinks.
    pub asset_id: Option<String>,
    pub genres: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Cast and crew in billing order.
    pub people: Option<Vec<super::credits::Credit>>,
    /// Unix seconds; 0 clears.
    pub publish_at: Option<i64>,
    /// Unix seconds; 0 clears.
    pub expire_at: Option<i64>,
}

const MAX_NAME: usize = 200;
const MAX_SYNOPSIS: usize = 5_000;
const MAX_LABELS: usize = 30;
const MAX_LABEL: usize = 60;

impl TitleFields {
    fn check(&self) -> Result<(), CatalogError> {
        let invalid = |m: String| Err(CatalogError::Invalid(m));
        if let Some(name) = &self.name {
            let name = name.trim();
            if name.is_empty() {
                return invalid("the name cannot be empty".into());
            }
            if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
                return invalid(format!(
                    "the name must be one line of at most {MAX_NAME} characters"
                ));
            }
        }
        if let Some(s) = &self.synopsis
            && s.chars().count() > MAX_SYNOPSIS
        {
            return invalid(format!(
                "the synopsis is longer than {MAX_SYNOPSIS} characters"
            ));
        }
        // 0 clears the year.
        if let Some(year) = self.year
            && year != 0
            && !(1870..=2200).contains(&year)
        {
            return invalid(format!("{year} is not a plausible year"));
        }
        if let Some(r) = &self.age_rating
            && (r.chars().count() > 20 || r.chars().any(char::is_control))
        {
            return invalid("the age rating is at most 20 characters".into());
        }
        for (what, list) in [
            ("languages", &self.languages),
            ("genres", &self.genres),
            ("tags", &self.tags),
        ] {
            let Some(list) = list else { continue };
            if list.len() > MAX_LABELS {
                return invalid(format!("at most {MAX_LABELS} {what}"));
            }
            if let Some(bad) = list.iter().find(|l| {
                let l = l.trim();
                l.is_empty()
                    || l.chars().count() > MAX_LABEL
                    || l.contains(',')
                    || l.chars().any(char::is_control)
            }) {
                return invalid(format!(
                    "{what}: {bad:?} must be 1 to {MAX_LABEL} characters without commas"
                ));
            }
        }
        if let Some(people) = &self.people {
            super::credits::check(people)?;
        }
        for (what, t) in [
            ("publish_at", self.publish_at),
            ("expire_at", self.expire_at),
        ] {
            if t.is_some_and(|t| !(0..=253_402_300_799).contains(&t)) {
                return invalid(format!("{what} must be Unix seconds (0 clears it)"));
            }
        }
        Ok(())
    }
}

/// Where a new title goes.
#[derive(Debug, Clone)]
pub enum Placement {
    Movie,
    Series,
    Episode {
        series_id: String,
        season: i64,
        episode: i64,
    },
    Extra {
        parent_id: String,
        kind: ExtraKind,
    },
}

/// Creates a title in draft. Returns its id.
pub fn create(
    tx: &Connection,
    id: &str,
    placement: &Placement,
    fields: &TitleFields,
    now: i64,
) -> Result<(), CatalogError> {
    fields.check()?;
    let name = fields
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CatalogError::Invalid("a title needs a name".into()))?;
    let (kind, parent, season, episode, extra) = match placement {
        Placement::Movie => (TitleKind::Movie, None, None, None, None),
        Placement::Series => (TitleKind::Series, None, None, None, None),
        Placement::Episode {
            series_id,
            season,
            episode,
        } => {
            let parent = get(tx, series_id)?;
            if parent.kind != TitleKind::Series {
                return Err(CatalogError::Invalid(format!(
                    "{} is a {}, not a series",
                    parent.id,
                    parent.kind.as_str()
                )));
            }
            if *season < 0 || *episode < 0 || *season > 10_000 || *episode > 100_000 {
                return Err(CatalogError::Invalid(
                    "season and episode numbers are 0 or more".into(),
                ));
            }
            if episode_at(tx, series_id, *season, *episode)?.is_some() {
                return Err(CatalogError::Invalid(format!(
                    "season {season} already has an episode {episode}"
                )));
            }
            ensure_season(tx, series_id, *season)?;
            (
                TitleKind::Episode,
                Some(series_id.as_str()),
                Some(*season),
                Some(*episode),
                None,
            )
        }
        Placement::Extra { parent_id, kind } => {
            let parent = get(tx, parent_id)?;
            if !matches!(parent.kind, TitleKind::Movie | TitleKind::Series) {
                return Err(CatalogError::Invalid(
                    "extras belong to a movie or a series".into(),
                ));
            }
            (
                TitleKind::Extra,
                Some(parent_id.as_str()),
                None,
                None,
                Some(kind.as_str()),
            )
        }
    };
    if kind == TitleKind::Series && fields.asset_id.as_deref().is_some_and(|a| !a.is_empty()) {
        return Err(CatalogError::Invalid(
            "a series plays its episodes' media; link media to an episode".into(),
        ));
    }
    tx.execute(
        "INSERT INTO titles (id, kind, parent_id, season_number, episode_number, extra_kind, name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![id, kind.as_str(), parent, season, episode, extra, name, now],
    )?;
    update(tx, id, fields, now)
}

fn ensure_season(tx: &Connection, series_id: &str, number: i64) -> Result<(), CatalogError> {
    tx.execute(
        "INSERT OR IGNORE INTO seasons (series_id, number) VALUES (?1, ?2)",
        params![series_id, number],
    )?;
    Ok(())
}

/// Applies the fields that are present. Keeps the search index and visibility in step.
pub fn update(
    tx: &Connection,
    id: &str,
    fields: &TitleFields,
    now: i64,
) -> Result<(), CatalogError> {
    fields.check()?;
    let title = get(tx, id)?;
    let asset = match fields.asset_id.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(asset_id) => {
            if !title.kind.plays() {
                return Err(CatalogError::Invalid(
                    "a series plays its episodes' media; link media to an episode".into(),
                ));
            }
            if !super::exists(tx, asset_id)? {
                return Err(CatalogError::Invalid(format!("no asset {asset_id}")));
            }
            Some(Some(asset_id))
        }
    };
    let clear_zero = |t: Option<i64>| t.map(|t| if t == 0 { None } else { Some(t) });
    let publish_at = clear_zero(fields.publish_at);
    let expire_at = clear_zero(fields.expire_at);
    let (from, until) = (
        publish_at.unwrap_or(title.publish_at),
        expire_at.unwrap_or(title.expire_at),
    );
    if let (Some(from), Some(until)) = (from, until)
        && until <= from
    {
        return Err(CatalogError::Invalid(
            "the expiry must come after the publish time".into(),
        ));
    }
    tx.execute(
        "UPDATE titles SET
            name = coalesce(?2, name), synopsis = coalesce(?3, synopsis),
            year = CASE WHEN ?4 IS NULL THEN year WHEN ?4 = 0 THEN NULL ELSE ?4 END,
            age_rating = coalesce(?5, age_rating), languages = coalesce(?6, languages),
            asset_id = CASE WHEN ?7 THEN ?8 ELSE asset_id END,
            publish_at = ?9, expire_at = ?10, updated_at = ?11
         WHERE id = ?1",
        params![
            id,
            fields.name.as_deref().map(str::trim),
            fields.synopsis.as_deref().map(str::trim),
            fields.year,
            fields.age_rating.as_deref().map(str::trim),
            fields.languages.as_ref().map(|l| join_list(l)),
            asset.is_some(),
            asset.flatten(),
            from,
            until,
            now
        ],
    )?;
    if let Some(genres) = &fields.genres {
        set_genres(tx, id, genres)?;
    }
    if let Some(tags) = &fields.tags {
        tx.execute("DELETE FROM title_tags WHERE title_id = ?1", [id])?;
        for tag in tags {
            tx.execute(
                "INSERT OR IGNORE INTO title_tags (title_id, tag) VALUES (?1, ?2)",
                params![id, tag.trim()],
            )?;
        }
    }
    if let Some(people) = &fields.people {
        super::credits::set(tx, id, people)?;
    }
    search::reindex(tx, id)?;
    visibility::refresh(tx, id)
}

fn join_list(list: &[String]) -> String {
    list.iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// A URL-safe name for a genre or collection: `Science Fiction` → `science-fiction`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn set_genres(tx: &Connection, id: &str, genres: &[String]) -> Result<(), CatalogError> {
    tx.execute("DELETE FROM title_genres WHERE title_id = ?1", [id])?;
    for genre in genres {
        let name = genre.trim();
        let slug = slug(name);
        if slug.is_empty() {
            return Err(CatalogError::Invalid(format!(
                "{name:?} is not a genre name"
            )));
        }
        tx.execute(
            "INSERT INTO genres (name, slug) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![name, slug],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO title_genres (title_id, genre_id)
             SELECT ?1, id FROM genres WHERE name = ?2 OR slug = ?3 LIMIT 1",
            params![id, name, slug],
        )?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Title, CatalogError> {
    find(conn, id)?.ok_or_else(|| CatalogError::TitleNotFound(id.to_string()))
}

pub fn find(conn: &Connection, id: &str) -> Result<Option<Title>, CatalogError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM titles t WHERE t.id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn episode_at(
    conn: &Connection,
    series_id: &str,
    season: i64,
    episode: i64,
) -> Result<Option<Title>, CatalogError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM titles t WHERE t.parent_id = ?1 AND t.kind = 'episode'
                 AND t.season_number = ?2 AND t.episode_number = ?3"
            ),
            params![series_id, season, episode],
            from_row,
        )
        .optional()?)
}

/// A series by its exact name (case-insensitive), for sidecars that name their series.
pub fn series_named(conn: &Connection, name: &str) -> Result<Option<Title>, CatalogError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM titles t WHERE t.kind = 'series' AND t.name = ?1 COLLATE NOCASE
                 ORDER BY t.created_at LIMIT 1"
            ),
            [name.trim()],
            from_row,
        )
        .optional()?)
}

/// Episodes (by season and number) and extras of a title.
pub fn children(conn: &Connection, id: &str) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM titles t WHERE t.parent_id = ?1
         ORDER BY t.kind = 'extra', t.season_number, t.episode_number, t.created_at"
    ))?;
    let rows = stmt.query_map([id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Titles that link an asset.
pub fn linking(conn: &Connection, asset_id: &str) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM titles t WHERE t.asset_id = ?1 ORDER BY t.created_at"
    ))?;
    let rows = stmt.query_map([asset_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn genres_of(conn: &Connection, id: &str) -> Result<Vec<String>, CatalogError> {
    let mut stmt = conn.prepare(
        "SELECT g.name FROM title_genres tg JOIN genres g ON g.id = tg.genre_id
         WHERE tg.title_id = ?1 ORDER BY g.name",
    )?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn tags_of(conn: &Connection, id: &str) -> Result<Vec<String>, CatalogError> {
    let mut stmt = conn.prepare("SELECT tag FROM title_tags WHERE title_id = ?1 ORDER BY tag")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the dashboard's title list asks for.
#[derive(Debug, Clone, Default)]
pub struct TitleQuery {
    /// Top-level titles only (movies and series) unless a kind is named.
    pub kind: Option<TitleKind>,
    pub status: Option<PublishState>,
    /// Substring of the name.
    pub name: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

pub fn list(conn: &Connection, q: &TitleQuery) -> Result<(Vec<Title>, u64), CatalogError> {
    let kind = q.kind.map(TitleKind::as_str);
    let status = q.status.map(|s| match s {
        PublishState::Draft => "draft",
        PublishState::Published => "published",
    });
    let name = q
        .name
        .as_deref()
        .map(|t| format!("%{}%", crate::db::escape_like(t)));
    const FILTER: &str =
        "(CASE WHEN ?1 IS NULL THEN t.kind IN ('movie', 'series') ELSE t.kind = ?1 END)
        AND (?2 IS NULL OR t.status = ?2) AND (?3 IS NULL OR t.name LIKE ?3 ESCAPE '\\')";
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM titles t WHERE {FILTER} ORDER BY t.updated_at DESC, t.id LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(params![kind, status, name, q.limit, q.offset], from_row)?;
    let titles = rows.collect::<Result<Vec<_>, _>>()?;
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM titles t WHERE {FILTER}"),
        params![kind, status, name],
        |r| r.get(0),
    )?;
    Ok((titles, total as u64))
}

/// Deletes a title (its episodes and extras go with it; their media stays in the library).
pub fn delete(tx: &Connection, id: &str) -> Result<Title, CatalogError> {
    let title = get(tx, id)?;
    let family: Vec<String> = std::iter::once(id.to_string())
        .chain(children(tx, id)?.into_iter().map(|c| c.id))
        .collect();
    let mut credited = Vec::new();
    for member in &family {
        tx.execute("DELETE FROM title_search WHERE title_id = ?1", [member])?;
        credited.extend(super::credits::people_of(tx, member)?);
    }
    tx.execute("DELETE FROM titles WHERE id = ?1", [id])?;
    super::credits::forget_uncredited(tx, &credited)?;
    if let Some(parent) = &title.parent_id {
        visibility::refresh(tx, parent)?;
    }
    Ok(title)
}

/// Short, URL-safe, unguessable id (the asset alphabet).
pub fn new_title_id() -> String {
    super::new_asset_id()
}
