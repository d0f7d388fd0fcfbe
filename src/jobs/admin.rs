//! What an operator does to an asset through the API: edit its details, delete it (the
//! package goes, the source goes to `trash/`), retry it after a failure.

use std::path::PathBuf;

use super::control::RunningJobs;
use super::publish;
use super::queue;
use super::runner::{JobEnv, JobError, now};
use crate::catalog::{self, Asset, AssetStatus, CatalogError, NewAsset};
use crate::ingest::enqueue;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no asset with id {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Job(#[from] JobError),
}

impl From<CatalogError> for AdminError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(id) => AdminError::NotFound(id),
            other => AdminError::Job(JobError::Catalog(other)),
        }
    }
}

impl From<crate::db::DbError> for AdminError {
    fn from(e: crate::db::DbError) -> Self {
        AdminError::Job(JobError::Db(e))
    }
}

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 5000;

pub async fn update_details(
    env: &JobEnv,
    id: &str,
    title: Option<String>,
    description: Option<String>,
) -> Result<Asset, AdminError> {
    let title = title.map(|t| t.trim().to_string());
    if let Some(t) = &title
        && (t.is_empty() || t.chars().count() > MAX_TITLE)
    {
        return Err(AdminError::Invalid(format!(
            "title must be 1 to {MAX_TITLE} characters"
        )));
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(AdminError::Invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    let id = id.to_string();
    Ok(env
        .db
        .write(move |tx| {
            catalog::update_details(tx, &id, title.as_deref(), description.as_deref(), now())?;
            catalog::get(tx, &id)
        })
        .await?)
}

/// Removes the asset: its row and job, its package, any running worker. The source (and
/// sidecars) move to `trash/<asset>/`, which is returned.
pub async fn delete(env: &JobEnv, running: &RunningJobs, id: &str) -> Result<PathBuf, AdminError> {
    let key = id.to_string();
    let asset = env
        .db
        .write(move |tx| {
            let asset = catalog::get(tx, &key)?;
            catalog::delete(tx, &key)?;
            Ok::<_, CatalogError>(asset)
        })
        .await?;
    running.cancel(&asset.id);
    let data = env.data.clone();
    let trash = tokio::task::spawn_blocking(move || publish::discard(&data, &asset))
        .await
        .map_err(|_| crate::db::DbError::Task)?
        .map_err(JobError::from)?;
    tracing::info!(asset = %id, trash = %trash.display(), "deleted");
    Ok(trash)
}

/// Queues a failed asset again with its source as it is now.
pub async fn retry(env: &JobEnv, id: &str) -> Result<Asset, AdminError> {
    let key = id.to_string();
    let asset = env.db.read(move |c| catalog::get(c, &key)).await?;
    if asset.status != AssetStatus::Failed {
        return Err(AdminError::Conflict(format!(
            "only a failed asset can be retried; this one is {}",
            asset.status.as_str()
        )));
    }
    if !asset.source_path.is_file() {
        return Err(AdminError::Conflict(format!(
            "the source file {} is gone",
            asset.source_path.display()
        )));
    }
    let source = asset.source_path.clone();
    let facts = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::ingest::IngestError>((
            enqueue::facts(&source)?,
            enqueue::content_hash(&source)?,
        ))
    })
    .await
    .map_err(|_| crate::db::DbError::Task)?;
    let (facts, hash) = facts.map_err(|e| AdminError::Conflict(e.to_string()))?;
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
    env.db
        .write(move |tx| {
            catalog::reset_for_retry(tx, &new, now())?;
            queue::enqueue(tx, &id, now()).map_err(JobError::from)?;
            Ok::<_, AdminError>(catalog::get(tx, &id)?)
        })
        .await
}
