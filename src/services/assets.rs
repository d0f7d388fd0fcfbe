//! What an operator does to an asset: edit its details, delete it (the package goes, the
//! source goes to `trash/`), retry it after a failure. Above `jobs`, `ingest` and
//! `playback`, so the API and the dashboard call one thing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::audit::{self, Actor, AuditError};
use crate::catalog::{self, Asset, AssetStatus, CatalogError, NewAsset};
use crate::db::DbError;
use crate::ingest::{IngestError, enqueue};
use crate::jobs::control::RunningJobs;
use crate::jobs::publish;
use crate::jobs::queue::{self, QueueError};
use crate::jobs::runner::{JobEnv, now};
use crate::playback::Origin;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no asset with id {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Catalog(CatalogError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("cannot move the asset's files: {0}")]
    Files(#[from] publish::PublishError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<CatalogError> for ServiceError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(id) => ServiceError::NotFound(id),
            other => ServiceError::Catalog(other),
        }
    }
}

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 5000;

/// How long a delete waits for a publish of the same asset to finish (a few renames,
/// or a copy across filesystems) before it gives up with a conflict.
const PUBLISH_WAIT: Duration = Duration::from_secs(30);

pub struct AssetService {
    env: JobEnv,
    running: Arc<RunningJobs>,
    origin: Arc<Origin>,
    wake_jobs: Arc<Notify>,
}

impl AssetService {
    pub fn new(
        env: JobEnv,
        running: Arc<RunningJobs>,
        origin: Arc<Origin>,
        wake_jobs: Arc<Notify>,
    ) -> Self {
        AssetService {
            env,
            running,
            origin,
            wake_jobs,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Asset, ServiceError> {
        let id = id.to_string();
        Ok(self.env.db.read(move |c| catalog::get(c, &id)).await?)
    }

    /// Changes the title and/or description; the audit log records who and what.
    pub async fn update_details(
        &self,
        actor: &Actor,
        id: &str,
        title: Option<String>,
        description: Option<String>,
    ) -> Result<Asset, ServiceError> {
        let title = title.map(|t| t.trim().to_string());
        if let Some(t) = &title
            && (t.is_empty() || t.chars().count() > MAX_TITLE)
        {
            return Err(ServiceError::Invalid(format!(
                "title must be 1 to {MAX_TITLE} characters"
            )));
        }
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(ServiceError::Invalid(format!(
                "description must be at most {MAX_DESCRIPTION} characters"
            )));
        }
        let id = id.to_string();
        let actor = actor.clone();
        self.env
            .db
            .write(move |tx| {
                let before = catalog::get(tx, &id)?;
                catalog::update_details(tx, &id, title.as_deref(), description.as_deref(), now())?;
                let after = catalog::get(tx, &id)?;
                let detail = serde_json::json!({
                    "from": before.title,
                    "to": after.title,
                    "description_changed": before.description != after.description,
                });
                audit::record(
                    tx,
                    &actor,
                    "asset.rename",
                    &format!("asset:{id}"),
                    detail,
                    now(),
                )?;
                Ok::<_, ServiceError>(after)
            })
            .await
    }

    /// Removes the asset: its row and job, its package, any running worker; it stops being
    /// served at once. The source (and sidecars) move to `trash/<asset>/`, which is
    /// returned. A publish of the same asset in progress is waited for, never raced.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<PathBuf, ServiceError> {
        let started = Instant::now();
        let asset = loop {
            let key = id.to_string();
            let actor = actor.clone();
            let removed = self
                .env
                .db
                .write(move |tx| {
                    let asset = catalog::get(tx, &key)?;
                    if queue::is_publishing(tx, &key)? {
                        return Ok(None);
                    }
                    catalog::delete(tx, &key)?;
                    let detail = serde_json::json!({ "title": asset.title });
                    audit::record(
                        tx,
                        &actor,
                        "asset.delete",
                        &format!("asset:{key}"),
                        detail,
                        now(),
                    )?;
                    Ok::<_, ServiceError>(Some(asset))
                })
                .await?;
            match removed {
                Some(asset) => break asset,
                None if started.elapsed() < PUBLISH_WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => {
                    return Err(ServiceError::Conflict(
                        "the asset is being moved into the library right now; try again in a minute"
                            .into(),
                    ));
                }
            }
        };
        self.origin.ready.forget(&asset.id);
        self.running.cancel(&asset.id);
        let data = self.env.data.clone();
        let trash = tokio::task::spawn_blocking(move || publish::discard(&data, &asset))
            .await
            .map_err(|_| DbError::Task)??;
        tracing::info!(asset = %id, trash = ?trash, "deleted");
        Ok(trash)
    }

    /// Queues a failed asset again with its source as it is now.
    pub async fn retry(&self, id: &str) -> Result<Asset, ServiceError> {
        let asset = self.get(id).await?;
        if asset.status != AssetStatus::Failed {
            return Err(ServiceError::Conflict(format!(
                "only a failed asset can be retried; this one is {}",
                asset.status.as_str()
            )));
        }
        if !asset.source_path.is_file() {
            return Err(ServiceError::Conflict(format!(
                "the source file {} is gone",
                asset.source_path.display()
            )));
        }
        if !self.env.data.owns(&asset.source_path) {
            return Err(ServiceError::Conflict(format!(
                "the source file {} is reached through a symbolic link; copy or move the file itself into the inbox",
                asset.source_path.display()
            )));
        }
        let source = asset.source_path.clone();
        let facts = tokio::task::spawn_blocking(move || {
            Ok::<_, IngestError>((enqueue::facts(&source)?, enqueue::content_hash(&source)?))
        })
        .await
        .map_err(|_| DbError::Task)?;
        let (facts, hash) = facts.map_err(|e| ServiceError::Conflict(e.to_string()))?;
        let new = NewAsset {
            id: asset.id.clone(),
            title: asset.title.clone(),
            source_path: asset.source_path.clone(),
            source_size: facts.size,
            source_mtime: facts.mtime,
            content_hash: Some(hash),
            sidecars: asset.sidecars.clone(),
        };
        let id = asset.id.clone();
        let asset = self
            .env
            .db
            .write(move |tx| {
                catalog::reset_for_retry(tx, &new, now())?;
                queue::enqueue(tx, &id, now())?;
                Ok::<_, ServiceError>(catalog::get(tx, &id)?)
            })
            .await?;
        self.wake_jobs.notify_one();
        Ok(asset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DataDir};

    fn service(tmp: &std::path::Path) -> AssetService {
        let data = DataDir::new(tmp.join("data"));
        let env = JobEnv::open(&data, &Config::default()).unwrap();
        let origin = Arc::new(Origin::open(&data.library(), env.db.clone()).unwrap());
        AssetService::new(env, Arc::default(), origin, Arc::default())
    }

    fn add_asset(s: &AssetService, id: &str, failed: Option<&str>) -> PathBuf {
        let source = s.env.data.inbox().join(format!("{id}.mp4"));
        std::fs::write(&source, format!("source of {id}")).unwrap();
        let new = NewAsset::for_test(id, source.clone());
        s.env
            .db
            .write_blocking(|tx| {
                catalog::insert(tx, &new, failed, 0)?;
                if failed.is_none() {
                    queue::enqueue(tx, id, 0)?;
                }
                Ok::<_, ServiceError>(())
            })
            .unwrap();
        source
    }

    #[tokio::test]
    async fn a_delete_waits_for_a_publish_in_progress_and_keeps_the_source() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Arc::new(service(tmp.path()));
        let source = add_asset(&s, "abcd", None);
        let job = s
            .env
            .db
            .write_blocking(|tx| {
                let job = queue::claim_next(tx, 1, 0)?.unwrap();
                queue::begin_publish(tx, job.job_id, 0)?;
                Ok::<_, ServiceError>(job)
            })
            .unwrap();

        let deleting = tokio::spawn({
            let s = s.clone();
            async move { s.delete(&Actor::Shell, "abcd").await }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !deleting.is_finished(),
            "the delete must wait for the publish"
        );

        // The publish moves the source in and marks the asset ready.
        let package = s.env.data.asset_dir("abcd");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::rename(&source, package.join("source.mp4")).unwrap();
        s.env
            .db
            .write_blocking(|tx| {
                let manifest = serde_json::from_value(serde_json::json!({
                    "duration_secs": 1.0, "master": "master.m3u8", "video": [], "audio": [],
                    "subtitles": [], "poster": null, "thumbnails": null
                }))
                .unwrap();
                catalog::mark_ready(tx, "abcd", &package.join("source.mp4"), &manifest, 1)?;
                queue::finish(tx, job.job_id, true, 1)?;
                Ok::<_, ServiceError>(())
            })
            .unwrap();

        let trash = deleting.await.unwrap().unwrap();
        assert_eq!(
            std::fs::read_to_string(trash.join("source.mp4")).unwrap(),
            "source of abcd"
        );
        assert!(!package.exists());
        assert!(matches!(
            s.get("abcd").await,
            Err(ServiceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn delete_of_an_unknown_asset_is_not_found_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = service(tmp.path());
        let source = add_asset(&s, "abcd", None);
        assert!(matches!(
            s.delete(&Actor::Shell, "nope").await,
            Err(ServiceError::NotFound(_))
        ));
        assert!(source.is_file());
        assert!(s.get("abcd").await.is_ok());
    }

    #[tokio::test]
    async fn retry_takes_only_failed_assets_whose_source_is_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let s = service(tmp.path());
        add_asset(&s, "live", None);
        let err = s.retry("live").await.unwrap_err().to_string();
        assert!(err.contains("only a failed asset can be retried"), "{err}");

        add_asset(&s, "bad", Some("not a media file"));
        let asset = s.retry("bad").await.unwrap();
        assert_eq!(asset.status, AssetStatus::Queued);
        assert!(asset.error.is_none() && asset.content_hash.is_some());
        let job = s
            .env
            .db
            .read_blocking(|c| queue::active_job_for(c, "bad"))
            .unwrap();
        assert!(job.is_some());

        let gone = add_asset(&s, "gone", Some("x"));
        std::fs::remove_file(gone).unwrap();
        let err = s.retry("gone").await.unwrap_err().to_string();
        assert!(err.contains("is gone"), "{err}");

        // A failed asset reached through a link (refused at ingest) stays refused.
        let theirs = tmp.path().join("theirs.mp4");
        std::fs::write(&theirs, b"x").unwrap();
        let linked = add_asset(&s, "linked", Some("link"));
        std::fs::remove_file(&linked).unwrap();
        std::os::unix::fs::symlink(&theirs, &linked).unwrap();
        let err = s.retry("linked").await.unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[tokio::test]
    async fn details_are_validated() {
        let tmp = tempfile::tempdir().unwrap();
        let s = service(tmp.path());
        add_asset(&s, "abcd", None);
        assert!(
            s.update_details(&Actor::Shell, "abcd", Some("  ".into()), None)
                .await
                .is_err()
        );
        assert!(
            s.update_details(
                &Actor::Shell,
                "abcd",
                None,
                Some("x".repeat(MAX_DESCRIPTION + 1))
            )
            .await
            .is_err()
        );
        let a = s
            .update_details(&Actor::Shell, "abcd", Some(" New title ".into()), None)
            .await
            .unwrap();
        assert_eq!(a.title, "New title");
    }
}
