//! The title a new video gets: from a `name.json` sidecar next to it (`movie.json` beside
//! `movie.mp4`) when there is one, else from its file name. Episodes of a series named in
//! their sidecars land in the right season of one series.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, params};
use serde::Deserialize;

use super::titles::{self, Placement, TitleFields};
use super::{CatalogError, visibility};

/// A sidecar larger than this is refused unread.
pub const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// The documented fields of `name.json` (README, "Title sidecars"). Unknown fields are an
/// error, so a typo is reported instead of silently ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TitleSidecar {
    pub title: Option<String>,
    pub synopsis: Option<String>,
    pub year: Option<i64>,
    #[serde(default)]
    pub genres: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub age_rating: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    /// Cast and crew: `[{"name": "Ann Lee", "role": "cast", "character": "Maya"}]`; `role`
    /// is cast, director, writer or producer (cast when absent).
    #[serde(default)]
    pub people: Vec<super::credits::Credit>,
    /// The series this video is an episode of (created when no series has that name).
    pub series: Option<String>,
    pub season: Option<i64>,
    pub episode: Option<i64>,
    /// RFC 3339 (`2026-12-24T18:00:00Z`) or Unix seconds: publish at that time, once the
    /// media is ready.
    pub publish_at: Option<PublishTime>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PublishTime {
    Unix(i64),
    Text(String),
}

impl PublishTime {
    fn unix(&self) -> Result<i64, String> {
        match self {
            PublishTime::Unix(t) if *t > 0 => Ok(*t),
            PublishTime::Unix(t) => Err(format!("publish_at {t} is not a time")),
            PublishTime::Text(s) => time::OffsetDateTime::parse(
                s.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .map(|t| t.unix_timestamp())
            .map_err(|_| {
                format!("publish_at {s:?} is not an RFC 3339 time like 2026-12-24T18:00:00Z")
            }),
        }
    }
}

/// Reads and checks a sidecar. The error is a sentence for the operator's log.
pub fn read(path: &Path) -> Result<TitleSidecar, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut text = String::new();
    file.take(MAX_SIDECAR_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it as UTF-8 text: {e}"))?;
    if text.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(format!("it is larger than {MAX_SIDECAR_BYTES} bytes"));
    }
    let sidecar: TitleSidecar =
        serde_json::from_str(&text).map_err(|e| format!("it is not valid: {e}"))?;
    if sidecar.series.is_none() && (sidecar.season.is_some() || sidecar.episode.is_some()) {
        return Err("season and episode need a series name".into());
    }
    if let Some(t) = &sidecar.publish_at {
        t.unix()?;
    }
    super::credits::check(&sidecar.people).map_err(|e| e.to_string())?;
    Ok(sidecar)
}

/// Whether titles made for new media are published (shown once the media is ready) or
/// left as drafts for an editor. Shared with the settings service, which changes it live.
#[derive(Debug, Clone, Default)]
pub struct NewTitlePolicy(Arc<AtomicBool>);

impl NewTitlePolicy {
    pub fn new(publish: bool) -> Self {
        NewTitlePolicy(Arc::new(AtomicBool::new(publish)))
    }

    pub fn publishes(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, publish: bool) {
        self.0.store(publish, Ordering::Relaxed)
    }
}

/// Gives a newly created asset its title, inside the transaction that created the asset.
/// Does nothing when a title already links the asset (a failed file given another go).
/// Returns the title's id.
pub fn attach(
    tx: &Connection,
    asset_id: &str,
    file_title: &str,
    sidecar: Option<&TitleSidecar>,
    publish_new: bool,
    now: i64,
) -> Result<String, CatalogError> {
    // All or nothing: a sidecar refused halfway (an episode number out of range, say)
    // leaves no series made for it behind when the caller falls back to the file name.
    tx.execute_batch("SAVEPOINT title_sidecar")?;
    let attached = attach_steps(tx, asset_id, file_title, sidecar, publish_new, now);
    if attached.is_err() {
        tx.execute_batch("ROLLBACK TO title_sidecar")?;
    }
    tx.execute_batch("RELEASE title_sidecar")?;
    attached
}

fn attach_steps(
    tx: &Connection,
    asset_id: &str,
    file_title: &str,
    sidecar: Option<&TitleSidecar>,
    publish_new: bool,
    now: i64,
) -> Result<String, CatalogError> {
    if let Some(existing) = titles::linking(tx, asset_id)?.into_iter().next() {
        return Ok(existing.id);
    }
    let empty = TitleSidecar::default();
    let s = sidecar.unwrap_or(&empty);
    let publish_at = s.publish_at.as_ref().and_then(|t| t.unix().ok());
    let name = s
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| file_title.to_string());
    let mut fields = TitleFields {
        name: Some(name),
        synopsis: s.synopsis.clone(),
        year: s.year,
        age_rating: s.age_rating.clone(),
        languages: Some(s.languages.clone()),
        asset_id: Some(asset_id.to_string()),
        genres: Some(s.genres.clone()),
        tags: Some(s.tags.clone()),
        people: Some(s.people.clone()),
        publish_at,
        expire_at: None,
    };
    let id = match &s.series {
        None => {
            // The movie takes the asset's id, so /watch/<asset> finds it.
            let id = if titles::find(tx, asset_id)?.is_none() {
                asset_id.to_string()
            } else {
                titles::new_title_id()
            };
            titles::create(tx, &id, &Placement::Movie, &fields, now)?;
            id
        }
        Some(series_name) => {
            // A series made for this video is published with it; one that exists keeps the
            // state its editor gave it (an unpublished series stays unpublished).
            let mut new_series = false;
            let series = match titles::series_named(tx, series_name)? {
                Some(series) => series,
                None => {
                    new_series = true;
                    let id = titles::new_title_id();
                    let series_fields = TitleFields {
                        name: Some(series_name.clone()),
                        genres: Some(s.genres.clone()),
                        ..TitleFields::default()
                    };
                    titles::create(tx, &id, &Placement::Series, &series_fields, now)?;
                    titles::get(tx, &id)?
                }
            };
            let season = s.season.unwrap_or(1);
            let episode = match s.episode {
                Some(n) => match titles::episode_at(tx, &series.id, season, n)? {
                    // An empty slot (no media, or media since deleted) takes this video.
                    Some(slot) if slot_is_free(tx, slot.asset_id.as_deref())? => {
                        fields.name = s.title.clone().or(Some(slot.name.clone()));
                        titles::update(tx, &slot.id, &fields, now)?;
                        return finish(
                            tx,
                            &slot.id,
                            new_series.then_some(series.id.as_str()),
                            publish_at,
                            publish_new,
                            now,
                        );
                    }
                    Some(_) => next_episode(tx, &series.id, season)?,
                    None => n,
                },
                None => next_episode(tx, &series.id, season)?,
            };
            let id = titles::new_title_id();
            let placement = Placement::Episode {
                series_id: series.id.clone(),
                season,
                episode,
            };
            titles::create(tx, &id, &placement, &fields, now)?;
            if new_series {
                return finish(tx, &id, Some(&series.id), publish_at, publish_new, now);
            }
            id
        }
    };
    finish(tx, &id, None, publish_at, publish_new, now)
}

fn slot_is_free(tx: &Connection, asset_id: Option<&str>) -> Result<bool, CatalogError> {
    Ok(match asset_id {
        None => true,
        Some(a) => !super::exists(tx, a)?,
    })
}

fn next_episode(tx: &Connection, series_id: &str, season: i64) -> Result<i64, CatalogError> {
    Ok(tx.query_row(
        "SELECT coalesce(max(episode_number), 0) + 1 FROM titles
         WHERE parent_id = ?1 AND kind = 'episode' AND season_number = ?2",
        params![series_id, season],
        |r| r.get(0),
    )?)
}

/// A sidecar's publish time, or the "publish new titles" policy, publishes without the
/// editor's gate: the operator asked for it, and viewers still see nothing before the
/// media is ready (`visibility`). `new_series`: the series made for this episode, published
/// with it.
fn finish(
    tx: &Connection,
    id: &str,
    new_series: Option<&str>,
    publish_at: Option<i64>,
    publish_new: bool,
    now: i64,
) -> Result<String, CatalogError> {
    if publish_at.is_some() || publish_new {
        for title in std::iter::once(id).chain(new_series) {
            tx.execute(
                "UPDATE titles SET status = 'published', published_at = coalesce(published_at, ?2)
                 WHERE id = ?1",
                params![title, now],
            )?;
        }
        visibility::refresh(tx, id)?;
        for title in std::iter::once(id).chain(new_series) {
            super::publishing::announce(tx, "title.published", &titles::get(tx, title)?, now)?;
        }
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, r#"{"title": "Pilot", "series": "Show", "season": 1, "episode": 2, "publish_at": "2026-12-24T18:00:00Z"}"#).unwrap();
        let s = read(&p).unwrap();
        assert_eq!(s.episode, Some(2));
        assert_eq!(s.publish_at.unwrap().unix().unwrap(), 1_798_135_200);
        std::fs::write(&p, r#"{"titel": "x"}"#).unwrap();
        assert!(read(&p).unwrap_err().contains("titel"));
        std::fs::write(&p, r#"{"episode": 2}"#).unwrap();
        assert!(read(&p).unwrap_err().contains("series"));
        std::fs::write(&p, r#"{"publish_at": "tomorrow"}"#).unwrap();
        assert!(read(&p).unwrap_err().contains("RFC 3339"));
        std::fs::write(&p, vec![b' '; 70_000]).unwrap();
        assert!(read(&p).unwrap_err().contains("larger"));
    }
}
