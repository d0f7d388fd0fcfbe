//! Which assets may be served, and which of their files, answered from memory: the origin
//! must not query the database for every segment. An asset is served while it is ready and
//! a live title plays it (`catalog::visibility`). Such assets are kept a minute with the
//! manifest that lists their files, and never past the end of their titles' window; other
//! answers briefly (an asset may become ready, or its title go live, any moment); deleting
//! an asset or unpublishing its title forgets it at once.
//!
//! The two answers are kept apart so that a flood of unknown ids, which costs little to
//! send, can only ever push out other unknown ids, never a ready asset.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;

use super::PlaybackError;
use crate::access;
use crate::catalog::{self, AssetStatus, CatalogError, visibility};
use crate::db::Db;
use crate::media::PackageManifest;

const READY_TTL: Duration = Duration::from_secs(60);
const NOT_READY_TTL: Duration = Duration::from_secs(2);
/// At most this many "not ready" answers are kept (well-formed ids anyone can make up).
const MAX_NOT_READY: usize = 10_000;

/// A ready asset as the origin serves it.
#[derive(Debug, Clone)]
pub struct Served {
    /// What it serves.
    pub manifest: Arc<PackageManifest>,
    /// Whether it plays under the public path (a free title plays it), or needs a token.
    pub free: bool,
}

#[derive(Default)]
struct Known {
    /// Bumped by `forget_all`: an answer read from the database before a catalog change
    /// committed is not kept after it.
    generation: u64,
    /// Ready assets: what they serve, since when that is known, and the Unix second their
    /// titles stop being live (if they do).
    ready: HashMap<String, (Served, Instant, Option<i64>)>,
    /// Unknown, unfinished and failed assets.
    not_ready: HashMap<String, Instant>,
}

pub struct ReadyAssets {
    db: Db,
    known: RwLock<Known>,
}

impl ReadyAssets {
    pub fn new(db: Db) -> Self {
        ReadyAssets {
            db,
            known: RwLock::new(Known::default()),
        }
    }

    /// A ready asset (its manifest lists what it serves), or `None` if the asset is not
    /// ready or does not exist.
    pub async fn served(&self, asset_id: &str) -> Result<Option<Served>, PlaybackError> {
        {
            let known = self.known.read().unwrap_or_else(|p| p.into_inner());
            if let Some((served, at, until)) = known.ready.get(asset_id)
                && at.elapsed() < READY_TTL
                && until.is_none_or(|u| crate::clock::now() < u)
            {
                return Ok(Some(served.clone()));
            }
            if let Some(at) = known.not_ready.get(asset_id)
                && at.elapsed() < NOT_READY_TTL
            {
                return Ok(None);
            }
        }
        let generation = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation;
        let id = asset_id.to_string();
        let now = crate::clock::now();
        let found = self
            .db
            .read(move |c| {
                let Some(until) = visibility::asset_live_until(c, &id, now)? else {
                    return Ok(None);
                };
                let manifest = match catalog::get(c, &id) {
                    Ok(a) if a.status == AssetStatus::Ready => a.manifest,
                    Ok(_) | Err(CatalogError::NotFound(_)) => None,
                    Err(e) => return Err(PlaybackError::Catalog(e)),
                };
                let Some(manifest) = manifest else {
                    return Ok(None);
                };
                let free = access::store::asset_is_free(c, &id)?;
                let served = Served {
                    manifest: Arc::new(manifest),
                    free,
                };
                Ok(Some((served, until)))
            })
            .await?;
        let answer = found.as_ref().map(|(s, _)| s.clone());
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.generation != generation {
            // The catalog changed while this was read: answer, but keep nothing.
            return Ok(answer);
        }
        let now = Instant::now();
        match found {
            Some((served, until)) => {
                known.not_ready.remove(asset_id);
                known
                    .ready
                    .insert(asset_id.to_string(), (served, now, until));
            }
            None => {
                known.ready.remove(asset_id);
                if known.not_ready.len() >= MAX_NOT_READY {
                    known.not_ready.retain(|_, at| at.elapsed() < NOT_READY_TTL);
                    // Still full of fresh ones: a flood. Start over rather than scan per request.
                    if known.not_ready.len() >= MAX_NOT_READY / 2 {
                        known.not_ready.clear();
                    }
                }
                known.not_ready.insert(asset_id.to_string(), now);
            }
        }
        Ok(answer)
    }

    /// After a change that can move a level (an access level, collection membership, media
    /// links, publishing): every asset's answer, free or not, is read again on its next
    /// request.
    pub fn forget_all(&self) {
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        known.generation += 1;
        known.ready.clear();
        known.not_ready.clear();
    }

    pub fn forget(&self, asset_id: &str) {
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        // An answer being read now for this asset may predate the change: keep none.
        known.generation += 1;
        known.ready.remove(asset_id);
        known.not_ready.remove(asset_id);
    }
}

/// What the public path of an asset serves now, for the API's URLs: the origin's rule, in
/// words for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicPath {
    /// Why the media (playlists, segments, trick-play frames) would not play there;
    /// `None` when it plays.
    pub unavailable: Option<String>,
    /// Whether its poster is served there: storefront artwork, given for paid media too
    /// once a live title plays the ready package.
    pub poster: bool,
}

/// What `asset_id`'s public path serves (see `PublicPath`).
pub fn public_path(
    c: &rusqlite::Connection,
    asset_id: &str,
    now: i64,
) -> Result<PublicPath, PlaybackError> {
    let unavailable = public_unavailable(c, asset_id, now)?;
    let poster = match &unavailable {
        None => true,
        // Paid media: only the poster answers.
        Some(_) => {
            matches!(catalog::get(c, asset_id), Ok(a) if a.status == AssetStatus::Ready && a.manifest.is_some())
                && visibility::asset_live_until(c, asset_id, now)?.is_some()
        }
    };
    Ok(PublicPath {
        unavailable,
        poster,
    })
}

/// Why the public URL of `asset_id` would not play, or `None` when it plays.
fn public_unavailable(
    c: &rusqlite::Connection,
    asset_id: &str,
    now: i64,
) -> Result<Option<String>, PlaybackError> {
    match catalog::get(c, asset_id) {
        Ok(a) if a.status == AssetStatus::Ready && a.manifest.is_some() => {}
        Ok(a) => {
            return Ok(Some(format!(
                "the media is not ready ({})",
                a.status.as_str()
            )));
        }
        Err(CatalogError::NotFound(_)) => return Ok(Some("no such media".into())),
        Err(e) => return Err(e.into()),
    }
    if visibility::asset_live_until(c, asset_id, now)?.is_none() {
        let mut stmt = c
            .prepare(
                "SELECT name, status, live_from, live_until FROM titles WHERE asset_id = ?1
                 ORDER BY created_at, id LIMIT 1",
            )
            .map_err(CatalogError::from)?;
        let first = stmt
            .query_row([asset_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .optional()
            .map_err(CatalogError::from)?;
        return Ok(Some(match first {
            None => "no title plays this media".into(),
            Some((name, status, _, _)) if status == "draft" => {
                format!("the title \u{201c}{name}\u{201d} that plays it is a draft")
            }
            Some((name, _, Some(_), Some(until))) if until <= now => {
                format!("the title \u{201c}{name}\u{201d} that plays it is no longer available")
            }
            Some((name, _, _, _)) => {
                format!("the title \u{201c}{name}\u{201d} that plays it is not out yet")
            }
        }));
    }
    if !access::store::asset_is_free(c, asset_id)? {
        return Ok(Some(
            "a paid title plays this media: it plays only under a viewer's token, from the \
             title's watch page"
                .into(),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ids_never_push_out_ready_assets() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("marquee.db")).unwrap();
        let manifest = serde_json::json!({
            "duration_secs": 1.0, "master": "master.m3u8", "video": [], "audio": [],
            "subtitles": [], "poster": null, "thumbnails": null, "files": ["master.m3u8"]
        });
        db.write_blocking(move |c| {
            c.execute(
                "INSERT INTO assets (id, title, status, source_path, source_size, source_mtime, manifest, created_at, updated_at)
                 VALUES ('abcd1234', 't', 'ready', 'x', 0, 0, ?1, 0, 0)",
                [manifest.to_string()],
            )?;
            c.execute(
                "INSERT INTO titles (id, kind, name, asset_id, status, live_from, created_at, updated_at)
                 VALUES ('abcd1234', 'movie', 't', 'abcd1234', 'published', 0, 0, 0)",
                [],
            )
            .map_err(crate::db::DbError::from)
        })
        .unwrap();
        let cache = Arc::new(ReadyAssets::new(db.clone()));
        let served = cache.served("abcd1234").await.unwrap().unwrap();
        assert!(served.manifest.serves("master.m3u8"));
        assert!(served.free, "a public title plays it");

        // Behind the cache's back: the answer in memory stands until it expires.
        db.write_blocking(|c| {
            c.execute(
                "UPDATE assets SET status = 'failed' WHERE id = 'abcd1234'",
                [],
            )
            .map_err(crate::db::DbError::from)
        })
        .unwrap();
        let mut flood = tokio::task::JoinSet::new();
        for part in 0..4 {
            let cache = cache.clone();
            flood.spawn(async move {
                for i in (part..=MAX_NOT_READY * 10).step_by(4) {
                    assert!(
                        cache
                            .served(&format!("unknown{i}"))
                            .await
                            .unwrap()
                            .is_none()
                    );
                    assert!(
                        cache.known.read().unwrap().not_ready.len() <= MAX_NOT_READY,
                        "the unknown ids kept are bounded"
                    );
                }
            });
        }
        while let Some(done) = flood.join_next().await {
            done.unwrap();
        }
        assert!(
            cache.served("abcd1234").await.unwrap().is_some(),
            "a flood of unknown ids evicted a ready asset"
        );
        cache.forget("abcd1234");
        assert!(cache.served("abcd1234").await.unwrap().is_none());
    }
}
