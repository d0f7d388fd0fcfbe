//! What viewers browse: cards for rails and lists, a title's page (seasons and episodes,
//! extras), genre pages. Live titles only; everything here takes `now`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::titles::{self, Title, TitleKind};
use super::{CatalogError, visibility};

/// A file of an asset's package (`asset_id`, file name): the storefront turns it into a
/// playback URL; the catalog does not know how URLs are made.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PackageFile {
    pub asset_id: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: String,
    pub kind: TitleKind,
    pub name: String,
    pub year: Option<i64>,
    pub synopsis: String,
    pub poster: Option<PackageFile>,
    pub duration_secs: Option<f64>,
    /// For episodes: the series' name, season and number.
    pub series: Option<(String, i64, i64)>,
    /// Uploaded artwork (poster, backdrop, logo), preferred to a frame of the video.
    pub art: Vec<super::artwork::Art>,
}

impl Card {
    pub fn art(&self, kind: crate::images::ArtKind) -> Option<&super::artwork::Art> {
        self.art.iter().find(|a| a.kind == kind)
    }
}

/// The media a title shows its poster from: its own, or a series' first live episode's.
fn poster_of(
    conn: &Connection,
    t: &Title,
    now: i64,
) -> Result<Option<(PackageFile, Option<f64>)>, CatalogError> {
    let row = |asset: Option<String>| -> Result<Option<(PackageFile, Option<f64>)>, CatalogError> {
        let Some(asset) = asset else { return Ok(None) };
        let found: Option<(Option<String>, Option<f64>)> = conn
            .prepare_cached(
                "SELECT json_extract(manifest, '$.poster'), duration_secs FROM assets
                 WHERE id = ?1 AND status = 'ready'",
            )?
            .query_row([&asset], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(found.and_then(|(poster, duration)| {
            poster.map(|file| {
                (
                    PackageFile {
                        asset_id: asset.clone(),
                        file,
                    },
                    duration,
                )
            })
        }))
    };
    if t.kind != TitleKind::Series {
        return row(t.asset_id.clone());
    }
    let first: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT t.asset_id FROM titles t WHERE t.parent_id = ?2 AND t.kind = 'episode' AND {}
             ORDER BY t.season_number, t.episode_number LIMIT 1",
            visibility::live_sql(1)
        ))?
        .query_row(params![now, t.id], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(row(first)?.map(|(p, _)| (p, None)))
}

pub fn cards(conn: &Connection, list: &[Title], now: i64) -> Result<Vec<Card>, CatalogError> {
    list.iter()
        .map(|t| {
            let poster = poster_of(conn, t, now)?;
            let series = match (t.kind, &t.parent_id) {
                (TitleKind::Episode, Some(parent)) => Some((
                    titles::get(conn, parent)?.name,
                    t.season_number.unwrap_or(0),
                    t.episode_number.unwrap_or(0),
                )),
                _ => None,
            };
            Ok(Card {
                art: super::artwork::of(conn, &t.id)?,
                id: t.id.clone(),
                kind: t.kind,
                name: t.name.clone(),
                year: t.year,
                synopsis: t.synopsis.clone(),
                duration_secs: poster.as_ref().and_then(|(_, d)| *d),
                poster: poster.map(|(p, _)| p),
                series,
            })
        })
        .collect()
}

/// A live title by id, or `None` (draft, scheduled, expired, media missing, unknown).
pub fn live_title(conn: &Connection, id: &str, now: i64) -> Result<Option<Title>, CatalogError> {
    Ok(titles::find(conn, id)?.filter(|t| t.is_live(now)))
}

/// Who looks: a viewer sees live titles only; staff (someone whose role reads the catalog,
/// as the caller checked) also drafts, scheduled and expired titles, to preview them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looker {
    Viewer,
    Staff,
}

/// A title `looker` may see, or `None`.
pub fn visible_title(
    conn: &Connection,
    id: &str,
    now: i64,
    looker: Looker,
) -> Result<Option<Title>, CatalogError> {
    match looker {
        Looker::Viewer => live_title(conn, id, now),
        Looker::Staff => titles::find(conn, id),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Season {
    pub number: i64,
    pub name: String,
    pub episodes: Vec<Card>,
}

/// Everything a title's page shows.
#[derive(Debug, Clone, Serialize)]
pub struct TitlePage {
    pub title: Title,
    pub card: Card,
    pub genres: Vec<(String, String)>,
    /// Cast and crew in billing order.
    pub people: Vec<super::credits::Credit>,
    pub seasons: Vec<Season>,
    pub extras: Vec<Card>,
    pub trailer: Option<Card>,
    /// The parent of an episode or extra.
    pub parent: Option<Title>,
}

pub fn title_page(
    conn: &Connection,
    id: &str,
    now: i64,
    looker: Looker,
) -> Result<Option<TitlePage>, CatalogError> {
    let Some(title) = visible_title(conn, id, now, looker)? else {
        return Ok(None);
    };
    let children: Vec<Title> = titles::children(conn, id)?
        .into_iter()
        .filter(|c| looker == Looker::Staff || c.is_live(now))
        .collect();
    let mut seasons: Vec<Season> = Vec::new();
    let episodes: Vec<&Title> = children
        .iter()
        .filter(|c| c.kind == TitleKind::Episode)
        .collect();
    for ep in episodes {
        let number = ep.season_number.unwrap_or(0);
        let card = cards(conn, std::slice::from_ref(ep), now)?.remove(0);
        match seasons.last_mut() {
            Some(s) if s.number == number => s.episodes.push(card),
            _ => {
                let name: Option<String> = conn
                    .query_row(
                        "SELECT name FROM seasons WHERE series_id = ?1 AND number = ?2",
                        params![id, number],
                        |r| r.get(0),
                    )
                    .optional()?;
                seasons.push(Season {
                    number,
                    name: name
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| format!("Season {number}")),
                    episodes: vec![card],
                })
            }
        }
    }
    let extras_list: Vec<Title> = children
        .into_iter()
        .filter(|c| c.kind == TitleKind::Extra)
        .collect();
    let extras = cards(conn, &extras_list, now)?;
    let trailer = extras_list
        .iter()
        .position(|e| e.extra_kind == Some(super::titles::ExtraKind::Trailer))
        .map(|i| extras[i].clone());
    let genres = {
        let mut stmt = conn.prepare_cached(
            "SELECT g.name, g.slug FROM title_genres tg JOIN genres g ON g.id = tg.genre_id
             WHERE tg.title_id = ?1 ORDER BY g.name",
        )?;
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let parent = match &title.parent_id {
        Some(p) => visible_title(conn, p, now, looker)?,
        None => None,
    };
    let card = cards(conn, std::slice::from_ref(&title), now)?.remove(0);
    Ok(Some(TitlePage {
        people: super::credits::of(conn, id)?,
        title,
        card,
        genres,
        seasons,
        extras,
        trailer,
        parent,
    }))
}

/// Live movies and series in a genre, newest first.
pub fn genre(
    conn: &Connection,
    slug: &str,
    now: i64,
    limit: u32,
) -> Result<Option<(String, Vec<Title>)>, CatalogError> {
    let name: Option<String> = conn
        .query_row("SELECT name FROM genres WHERE slug = ?1", [slug], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM titles t INDEXED BY titles_live
         WHERE t.parent_id IS NULL AND {} AND EXISTS (
             SELECT 1 FROM title_genres tg JOIN genres g ON g.id = tg.genre_id
             WHERE tg.title_id = t.id AND g.slug = ?2)
         ORDER BY t.live_from DESC LIMIT ?3",
        titles::COLUMNS,
        visibility::live_sql(1)
    ))?;
    let rows = stmt.query_map(params![now, slug, limit], titles::from_row)?;
    let live: Vec<Title> = rows.collect::<Result<_, _>>()?;
    // A genre only drafts have is not shown: its name may announce what is unreleased.
    Ok((!live.is_empty()).then_some((name, live)))
}

/// Every genre (name, slug), for editors.
pub fn all_genres(conn: &Connection) -> Result<Vec<(String, String)>, CatalogError> {
    let mut stmt = conn.prepare_cached("SELECT name, slug FROM genres ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Genres with at least one live title, for the browse menu.
pub fn live_genres(conn: &Connection, now: i64) -> Result<Vec<(String, String)>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT g.name, g.slug FROM genres g WHERE EXISTS (
            SELECT 1 FROM title_genres tg JOIN titles t ON t.id = tg.title_id
            WHERE tg.genre_id = g.id AND t.parent_id IS NULL AND {})
         ORDER BY g.name",
        visibility::live_sql(1)
    ))?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every live movie and series (id, last change), for the sitemap.
pub fn live_ids(conn: &Connection, now: i64) -> Result<Vec<(String, i64)>, CatalogError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t.id, t.updated_at FROM titles t WHERE t.parent_id IS NULL AND {}
         ORDER BY t.live_from DESC LIMIT 50000",
        visibility::live_sql(1)
    ))?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The live title that plays an asset (for old `/watch/<asset>` links).
pub fn title_playing(
    conn: &Connection,
    asset_id: &str,
    now: i64,
) -> Result<Option<String>, CatalogError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT t.id FROM titles t WHERE t.asset_id = ?2 AND {} ORDER BY t.created_at LIMIT 1",
                visibility::live_sql(1)
            ),
            params![now, asset_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// The catalog's version (moved by triggers on every change viewers could see) and the
/// next time a title's window opens or closes after `now`: together they say whether what
/// the storefront keeps in memory still stands.
pub fn freshness(conn: &Connection, now: i64) -> Result<(i64, Option<i64>), CatalogError> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT n FROM catalog_version),
                    min(coalesce((SELECT min(live_from) FROM titles WHERE live_from > ?1), 9223372036854775807),
                        coalesce((SELECT min(live_until) FROM titles WHERE live_until > ?1), 9223372036854775807))",
        )?
        .query_row([now], |r| {
            let next: i64 = r.get(1)?;
            Ok((r.get(0)?, (next != i64::MAX).then_some(next)))
        })?)
}

/// How many titles "More like this" shows when a title ends.
pub const MORE_LIKE_THIS: i64 = 4;

/// What the player offers when a title ends.
#[derive(Debug, Clone)]
pub enum Afterwards {
    /// The episode that follows, live: the next in its season, else the first of the next
    /// season. Offered whatever the viewer's access: its watch page says what it needs.
    NextEpisode(Card),
    /// Live titles the viewers who finished this movie or series also finished
    /// (`recommend::more_like`); never empty.
    MoreLikeThis(Vec<Card>),
}

/// The live episode after `episode` in its series, if any.
pub fn next_episode(
    conn: &Connection,
    episode: &Title,
    now: i64,
) -> Result<Option<Title>, CatalogError> {
    let (TitleKind::Episode, Some(series)) = (episode.kind, &episode.parent_id) else {
        return Ok(None);
    };
    let (season, number) = (
        episode.season_number.unwrap_or(0),
        episode.episode_number.unwrap_or(0),
    );
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {cols} FROM titles t
             WHERE t.parent_id = ?2 AND t.kind = 'episode' AND t.id != ?5 AND {live}
               AND (coalesce(t.season_number, 0) > ?3
                    OR (coalesce(t.season_number, 0) = ?3 AND coalesce(t.episode_number, 0) > ?4))
             ORDER BY t.season_number, t.episode_number LIMIT 1",
            cols = titles::COLUMNS,
            live = visibility::live_sql(1)
        ))?
        .query_row(
            params![now, series, season, number, episode.id],
            titles::from_row,
        )
        .optional()?)
}

/// What follows `title` when it ends for `user` (signed in or not): its next episode, else
/// more like its movie or series, else nothing.
pub fn afterwards(
    conn: &Connection,
    title: &Title,
    user: Option<i64>,
    now: i64,
) -> Result<Option<Afterwards>, CatalogError> {
    if let Some(next) = next_episode(conn, title, now)? {
        let card = cards(conn, std::slice::from_ref(&next), now)?.remove(0);
        return Ok(Some(Afterwards::NextEpisode(card)));
    }
    let top = title.parent_id.as_deref().unwrap_or(&title.id);
    let more = super::recommend::more_like(conn, top, user, now, MORE_LIKE_THIS)?;
    if more.is_empty() {
        return Ok(None);
    }
    Ok(Some(Afterwards::MoreLikeThis(cards(conn, &more, now)?)))
}
