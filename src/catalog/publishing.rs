//! Draft → published, behind the readiness gate: a title is published only when nothing it
//! needs is missing, and the gate says exactly what is. Visibility (scheduled windows,
//! media that later disappears) is then `visibility`'s business.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::titles::{self, PublishState, Title, TitleKind};
use super::{AssetStatus, CatalogError, visibility};

/// The state of a title's own media, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// A series: its episodes carry the media.
    NotApplicable,
    None,
    /// The linked asset was deleted.
    Missing,
    Queued,
    Processing,
    Failed,
    Ready,
}

pub fn media_state(conn: &Connection, title: &Title) -> Result<MediaState, CatalogError> {
    if !title.kind.plays() {
        return Ok(MediaState::NotApplicable);
    }
    let Some(asset_id) = &title.asset_id else {
        return Ok(MediaState::None);
    };
    let status: Option<String> = conn
        .query_row("SELECT status FROM assets WHERE id = ?1", [asset_id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match status.as_deref().and_then(AssetStatus::parse) {
        None => MediaState::Missing,
        Some(AssetStatus::Queued) => MediaState::Queued,
        Some(AssetStatus::Processing) => MediaState::Processing,
        Some(AssetStatus::Failed) => MediaState::Failed,
        Some(AssetStatus::Ready) => MediaState::Ready,
    })
}

/// Everything that keeps the title from being published, in words an editor acts on.
pub fn missing(conn: &Connection, title: &Title) -> Result<Vec<String>, CatalogError> {
    let mut missing = Vec::new();
    if title.name.trim().is_empty() {
        missing.push("a name".to_string());
    }
    if matches!(title.kind, TitleKind::Movie | TitleKind::Series)
        && title.synopsis.trim().is_empty()
    {
        missing.push("a synopsis".to_string());
    }
    match media_state(conn, title)? {
        MediaState::NotApplicable | MediaState::Ready => {}
        MediaState::None => missing.push("media: link a video".into()),
        MediaState::Missing => {
            missing.push("media: the linked video was deleted; link another".into())
        }
        MediaState::Queued | MediaState::Processing => {
            missing.push("media: the video is still being processed".into())
        }
        MediaState::Failed => {
            missing.push("media: the video failed to process; retry it or link another".into())
        }
    }
    if title.kind == TitleKind::Series {
        let ready_episode = titles::children(conn, &title.id)?
            .iter()
            .filter(|c| c.kind == TitleKind::Episode)
            .try_fold(false, |found, ep| {
                Ok::<_, CatalogError>(found || media_state(conn, ep)? == MediaState::Ready)
            })?;
        if !ready_episode {
            missing.push("an episode with ready media".into());
        }
    }
    Ok(missing)
}

/// What publishing did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Published {
    /// Episodes published along with their series.
    pub episodes_published: Vec<String>,
    /// Episodes left in draft, each with what it is missing.
    pub episodes_left: Vec<(String, Vec<String>)>,
}

/// Publishes a title (and, for a series, every draft episode that passes the gate).
/// `CatalogError::NotReady` lists what is missing; nothing changes then.
pub fn publish(tx: &Connection, id: &str, now: i64) -> Result<Published, CatalogError> {
    let title = titles::get(tx, id)?;
    let missing = missing(tx, &title)?;
    if !missing.is_empty() {
        return Err(CatalogError::NotReady(missing));
    }
    set_published(tx, id, now)?;
    let mut done = Published::default();
    if title.kind == TitleKind::Series {
        for ep in titles::children(tx, id)?
            .into_iter()
            .filter(|c| c.kind == TitleKind::Episode && c.status == PublishState::Draft)
        {
            let missing = self::missing(tx, &ep)?;
            if missing.is_empty() {
                set_published(tx, &ep.id, now)?;
                done.episodes_published.push(ep.id);
            } else {
                done.episodes_left.push((ep.id, missing));
            }
        }
    }
    visibility::refresh(tx, id)?;
    announce(tx, "title.published", &title, now)?;
    Ok(done)
}

/// The webhook event of a title's change (in the change's transaction).
pub(super) fn announce(
    tx: &Connection,
    event: &str,
    title: &Title,
    now: i64,
) -> Result<(), CatalogError> {
    crate::webhooks::outbox::emit(
        tx,
        event,
        serde_json::json!({"id": title.id, "kind": title.kind, "name": title.name,
                           "publish_at": title.publish_at, "expire_at": title.expire_at}),
        now,
    )?;
    Ok(())
}

fn set_published(tx: &Connection, id: &str, now: i64) -> Result<(), CatalogError> {
    tx.execute(
        "UPDATE titles SET status = 'published', published_at = coalesce(published_at, ?2), updated_at = ?2
         WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Back to draft; viewers stop seeing it (and, for a series, its episodes) at once.
pub fn unpublish(tx: &Connection, id: &str, now: i64) -> Result<(), CatalogError> {
    let changed = tx.execute(
        "UPDATE titles SET status = 'draft', updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    if changed == 0 {
        return Err(CatalogError::TitleNotFound(id.to_string()));
    }
    visibility::refresh(tx, id)?;
    announce(tx, "title.unpublished", &titles::get(tx, id)?, now)
}
