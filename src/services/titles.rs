//! What editors do to titles: create, edit, publish behind the readiness gate, unpublish,
//! delete; each with its audit entry in the same transaction. After every change the origin
//! forgets what it held in memory for the title's media, so unpublishing stops playback at
//! once, not when a cache entry runs out; and the encryption looks again for media a paid
//! title now plays. Collection changes (`collection_change`) go through here too: a
//! collection's level (public too) reaches its titles, so its membership is
//! `billing:write`'s.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::{self, Actor, AuditError};
use crate::catalog::CatalogError;
use crate::catalog::collections::{self, CollectionFields};
use crate::catalog::publishing::{self, MediaState, Published};
use crate::catalog::titles::{self, Placement, Title, TitleFields};
use crate::clock;
use crate::db::{Db, DbError};
use crate::playback::Origin;

#[derive(Debug, thiserror::Error)]
pub enum TitleServiceError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
    /// The change decides who may watch paid media: it needs `billing:write`.
    #[error("{0}")]
    NeedsBilling(String),
}

/// A title with what the dashboard shows around it.
#[derive(Debug, Clone, Serialize)]
pub struct TitleDetail {
    pub title: Title,
    pub genres: Vec<String>,
    pub tags: Vec<String>,
    pub people: Vec<crate::catalog::credits::Credit>,
    pub media: MediaState,
    /// What keeps it from being published (empty: ready).
    pub missing: Vec<String>,
    /// Episodes (by season) and extras, each with its media state.
    pub children: Vec<(Title, MediaState)>,
    pub live: bool,
    pub art: Vec<crate::catalog::artwork::Art>,
    /// Media of the parent and its other episodes and extras: an episode decides whether
    /// its series (and so the series' extras) is live.
    #[serde(skip)]
    pub parent_family_assets: Vec<String>,
}

pub struct TitleService {
    db: Db,
    origin: Arc<Origin>,
    /// Wakes `services::encryption`: a change may make a paid title play other media.
    encryption_wake: Arc<tokio::sync::Notify>,
    /// Where artwork is written (`DataDir::images`).
    images: std::path::PathBuf,
    /// Artwork uploads handled at a time: one, as `images::store` decodes one at a time in
    /// the process anyway; the others wait here rather than on a blocking thread.
    image_slots: Arc<tokio::sync::Semaphore>,
}

impl TitleService {
    pub fn new(
        db: Db,
        origin: Arc<Origin>,
        encryption_wake: Arc<tokio::sync::Notify>,
        images: std::path::PathBuf,
    ) -> Self {
        TitleService {
            db,
            origin,
            encryption_wake,
            images,
            image_slots: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Checks and resizes an uploaded image (off the executor), then makes it the title's
    /// artwork of that kind.
    pub async fn set_artwork(
        &self,
        actor: &Actor,
        id: &str,
        kind: crate::images::ArtKind,
        bytes: Vec<u8>,
    ) -> Result<TitleDetail, TitleServiceError> {
        self.detail(id).await?;
        let _slot = self.image_slots.acquire().await.map_err(|e| {
            TitleServiceError::Image(crate::images::ImageError::Invalid(e.to_string()))
        })?;
        let dir = self.images.clone();
        let stored = tokio::task::spawn_blocking(move || crate::images::store(&dir, kind, &bytes))
            .await
            .map_err(|e| {
                TitleServiceError::Image(crate::images::ImageError::Invalid(e.to_string()))
            })??;
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        self.db
            .write(move |tx| {
                crate::catalog::artwork::set(tx, &id, kind, &stored, now)?;
                audit::record(
                    tx,
                    &actor,
                    "title.artwork",
                    &id,
                    serde_json::json!({"kind": kind, "key": stored.key}),
                    now,
                )?;
                Ok::<_, TitleServiceError>(detail(tx, &id, now)?)
            })
            .await
    }

    pub async fn remove_artwork(
        &self,
        actor: &Actor,
        id: &str,
        kind: crate::images::ArtKind,
    ) -> Result<TitleDetail, TitleServiceError> {
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        self.db
            .write(move |tx| {
                titles::get(tx, &id)?;
                if crate::catalog::artwork::remove(tx, &id, kind)? {
                    audit::record(
                        tx,
                        &actor,
                        "title.artwork",
                        &id,
                        serde_json::json!({"kind": kind, "removed": true}),
                        now,
                    )?;
                }
                Ok::<_, TitleServiceError>(detail(tx, &id, now)?)
            })
            .await
    }

    pub async fn detail(&self, id: &str) -> Result<TitleDetail, TitleServiceError> {
        let id = id.to_string();
        let now = clock::now();
        Ok(self.db.read(move |c| detail(c, &id, now)).await?)
    }

    pub async fn create(
        &self,
        actor: &Actor,
        placement: Placement,
        fields: TitleFields,
    ) -> Result<TitleDetail, TitleServiceError> {
        let actor = actor.clone();
        let id = titles::new_title_id();
        let now = clock::now();
        let detail = self
            .db
            .write(move |tx| {
                titles::create(tx, &id, &placement, &fields, now)?;
                let title = titles::get(tx, &id)?;
                audit::record(
                    tx,
                    &actor,
                    "title.create",
                    &id,
                    serde_json::json!({"name": title.name, "kind": title.kind}),
                    now,
                )?;
                Ok::<_, TitleServiceError>(detail(tx, &id, now)?)
            })
            .await?;
        self.forget_family(&detail);
        Ok(detail)
    }

    /// Edits a title. Moving its media link so that some media loses a paid title that
    /// guarded it decides who may watch that media (a free title playing it, or the next
    /// one linked to it): without `may_set_access` (`billing:write`) it is refused and
    /// nothing changes.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        fields: TitleFields,
        may_set_access: bool,
    ) -> Result<TitleDetail, TitleServiceError> {
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        let before = self.detail(&id).await?;
        let detail = self
            .db
            .write(move |tx| {
                // Only the media it played can lose a guard; what it links now gains one.
                let played: Vec<String> = titles::get(tx, &id)?.asset_id.into_iter().collect();
                let guards = crate::access::store::media_guards(tx, &played)?;
                titles::update(tx, &id, &fields, now)?;
                check_guards(tx, may_set_access, &guards)?;
                audit::record(
                    tx,
                    &actor,
                    "title.update",
                    &id,
                    serde_json::json!({
                        "name": fields.name, "synopsis_changed": fields.synopsis.is_some(),
                        "asset_id": fields.asset_id, "publish_at": fields.publish_at,
                        "expire_at": fields.expire_at,
                    }),
                    now,
                )?;
                Ok::<_, TitleServiceError>(detail(tx, &id, now)?)
            })
            .await?;
        self.forget_family(&before);
        self.forget_family(&detail);
        Ok(detail)
    }

    pub async fn publish(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(TitleDetail, Published), TitleServiceError> {
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        let out = self
            .db
            .write(move |tx| {
                let done = publishing::publish(tx, &id, now)?;
                audit::record(
                    tx,
                    &actor,
                    "title.publish",
                    &id,
                    serde_json::json!({"episodes": done.episodes_published}),
                    now,
                )?;
                Ok::<_, TitleServiceError>((detail(tx, &id, now)?, done))
            })
            .await?;
        self.forget_family(&out.0);
        Ok(out)
    }

    pub async fn unpublish(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<TitleDetail, TitleServiceError> {
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        let detail = self
            .db
            .write(move |tx| {
                publishing::unpublish(tx, &id, now)?;
                audit::record(
                    tx,
                    &actor,
                    "title.unpublish",
                    &id,
                    serde_json::json!({}),
                    now,
                )?;
                Ok::<_, TitleServiceError>(detail(tx, &id, now)?)
            })
            .await?;
        self.forget_family(&detail);
        Ok(detail)
    }

    /// Deletes the title with its episodes and extras; their media stays in the library.
    /// Deleting a paid title with media decides who may watch that media (a free title
    /// playing it, or the next one linked to it): without `may_set_access`
    /// (`billing:write`) it is refused.
    pub async fn delete(
        &self,
        actor: &Actor,
        id: &str,
        may_set_access: bool,
    ) -> Result<Title, TitleServiceError> {
        let before = self.detail(id).await?;
        let played: Vec<String> = std::iter::once(&before.title)
            .chain(before.children.iter().map(|(c, _)| c))
            .filter_map(|t| t.asset_id.clone())
            .collect();
        let (actor, id) = (actor.clone(), id.to_string());
        let now = clock::now();
        let title = self
            .db
            .write(move |tx| {
                let guards = crate::access::store::media_guards(tx, &played)?;
                let title = titles::delete(tx, &id)?;
                check_guards(tx, may_set_access, &guards)?;
                audit::record(
                    tx,
                    &actor,
                    "title.delete",
                    &id,
                    serde_json::json!({"name": title.name}),
                    now,
                )?;
                Ok::<_, TitleServiceError>(title)
            })
            .await?;
        self.forget_family(&before);
        Ok(title)
    }

    /// The origin re-reads, on the next request, whether each of these media may be served.
    fn forget_family(&self, detail: &TitleDetail) {
        let assets = std::iter::once(&detail.title)
            .chain(detail.children.iter().map(|(c, _)| c))
            .filter_map(|t| t.asset_id.as_deref())
            .chain(detail.parent_family_assets.iter().map(String::as_str));
        for asset in assets {
            self.origin.ready.forget(asset);
        }
        self.encryption_wake.notify_one();
    }

    /// A collection change (`change`: its result, the audit target and the entry's detail)
    /// with its audit entry, in one transaction. Adding titles to or removing them from a
    /// collection that has an access level, public included (so also deleting one), moves
    /// their level (`access::store::collection_has_level`):
    /// without `may_set_access` (`billing:write`) it is refused and nothing changes.
    /// After it, the origin asks again which media is free, at once.
    pub async fn collection_change<T: Send + 'static>(
        &self,
        actor: &Actor,
        may_set_access: bool,
        action: &'static str,
        change: impl FnOnce(
            &rusqlite::Connection,
        ) -> Result<(T, String, serde_json::Value), CatalogError>
        + Send
        + 'static,
    ) -> Result<T, TitleServiceError> {
        let actor = actor.clone();
        let now = clock::now();
        let out = self
            .db
            .write(move |tx| {
                let before = crate::access::store::leveled_memberships(tx)?;
                let (out, target, detail) = change(tx)?;
                if !may_set_access && crate::access::store::leveled_memberships(tx)? != before {
                    return Err(TitleServiceError::NeedsBilling(
                        "this collection has an access level, so which titles it holds decides \
                         who may watch them: changing that needs the billing:write permission"
                            .into(),
                    ));
                }
                audit::record(tx, &actor, action, &target, detail, now)?;
                Ok::<_, TitleServiceError>(out)
            })
            .await?;
        self.origin.ready.forget_all();
        self.encryption_wake.notify_one();
        Ok(out)
    }

    /// A new collection `id` (`collection.create`, its name in the entry).
    pub async fn create_collection(
        &self,
        actor: &Actor,
        may_set_access: bool,
        id: String,
        fields: CollectionFields,
    ) -> Result<(), TitleServiceError> {
        self.collection_change(actor, may_set_access, "collection.create", move |tx| {
            collections::create(tx, &id, &fields, clock::now())?;
            Ok(((), id, serde_json::json!({"name": fields.name})))
        })
        .await
    }

    /// Collection `id` takes `fields` (`collection.update`, with `detail`:
    /// the fields the caller may change).
    pub async fn update_collection(
        &self,
        actor: &Actor,
        may_set_access: bool,
        id: String,
        fields: CollectionFields,
        detail: serde_json::Value,
    ) -> Result<(), TitleServiceError> {
        self.collection_change(actor, may_set_access, "collection.update", move |tx| {
            collections::update(tx, &id, &fields, clock::now())?;
            Ok(((), id, detail))
        })
        .await
    }

    /// Deletes collection `id` (`collection.delete`).
    pub async fn delete_collection(
        &self,
        actor: &Actor,
        may_set_access: bool,
        id: String,
    ) -> Result<(), TitleServiceError> {
        self.collection_change(actor, may_set_access, "collection.delete", move |tx| {
            collections::delete(tx, &id)?;
            Ok(((), id, serde_json::json!({})))
        })
        .await
    }
}

/// Refuses a change (its transaction rolls back) after which media some title still plays
/// lost a paid title that guarded it (`guards`: `media_guards` before the change), unless
/// the caller may set access levels.
fn check_guards(
    tx: &rusqlite::Connection,
    may_set_access: bool,
    guards: &std::collections::BTreeMap<String, Option<std::collections::BTreeSet<String>>>,
) -> Result<(), TitleServiceError> {
    if may_set_access || guards.is_empty() {
        return Ok(());
    }
    let assets: Vec<String> = guards.keys().cloned().collect();
    let after = crate::access::store::media_guards(tx, &assets)?;
    if crate::access::store::guards_loosened(guards, &after) {
        return Err(TitleServiceError::NeedsBilling(
            "taking media away from a paid title would let more viewers watch it (a free \
             title that plays it, or any title linked to it next): that needs the \
             billing:write permission"
                .into(),
        ));
    }
    Ok(())
}

fn detail(c: &rusqlite::Connection, id: &str, now: i64) -> Result<TitleDetail, CatalogError> {
    let title = titles::get(c, id)?;
    let children = titles::children(c, id)?
        .into_iter()
        .map(|child| {
            let state = publishing::media_state(c, &child)?;
            Ok::<_, CatalogError>((child, state))
        })
        .collect::<Result<_, _>>()?;
    Ok(TitleDetail {
        genres: titles::genres_of(c, id)?,
        tags: titles::tags_of(c, id)?,
        people: crate::catalog::credits::of(c, id)?,
        media: publishing::media_state(c, &title)?,
        missing: publishing::missing(c, &title)?,
        live: title.is_live(now),
        art: crate::catalog::artwork::of(c, id)?,
        parent_family_assets: match &title.parent_id {
            Some(parent) => std::iter::once(titles::get(c, parent)?)
                .chain(titles::children(c, parent)?)
                .filter_map(|t| t.asset_id)
                .collect(),
            None => Vec::new(),
        },
        children,
        title,
    })
}

/// One catalog change (rails; collections go through `TitleService::collection_change`)
/// and its audit entry in one transaction. `change`
/// returns its result, the audit target and the entry's detail.
pub async fn audited<T: Send + 'static>(
    db: &Db,
    actor: &Actor,
    action: &'static str,
    change: impl FnOnce(&rusqlite::Connection) -> Result<(T, String, serde_json::Value), CatalogError>
    + Send
    + 'static,
) -> Result<T, TitleServiceError> {
    let actor = actor.clone();
    let now = clock::now();
    db.write(move |tx| {
        let (out, target, detail) = change(tx)?;
        audit::record(tx, &actor, action, &target, detail, now)?;
        Ok::<_, TitleServiceError>(out)
    })
    .await
}

/// How often artwork files nothing refers to are removed, and how old they must be.
const ARTWORK_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Removes artwork files nothing refers to (replaced or removed artwork, deleted titles):
/// at start, then hourly, until shutdown.
pub async fn sweep_artwork(
    db: Db,
    images: std::path::PathBuf,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let keys = db.read(crate::catalog::artwork::keys).await;
        let dir = images.clone();
        let swept = match keys {
            Ok(keys) => tokio::task::spawn_blocking(move || {
                crate::images::sweep(&dir, &keys, ARTWORK_SWEEP_EVERY).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r),
            Err(e) => Err(e.to_string()),
        };
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(folders = n, "unused artwork removed"),
            Err(e) => tracing::warn!(error = %e, "the artwork sweep failed; it runs again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ARTWORK_SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
