//! Keeps premium media encrypted: every ready asset that a paid title plays (published or
//! not) and that is not free is packaged with AES-128 (`media::encrypt`) in the background. Runs at start (which also finishes
//! any swap a crash cut short), whenever an access level changes, and every ten minutes
//! (a new episode of a premium series is encrypted within that). Free media is left
//! clear; media that becomes free again stays encrypted and its key is then served on the
//! public path. The state is the packages themselves, so nothing is lost to a crash.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::access::store;
use crate::catalog;
use crate::config::DataDir;
use crate::db::Db;
use crate::media::encrypt;
use crate::media::spec::PackageManifest;
use crate::playback::Origin;

const EVERY: Duration = Duration::from_secs(600);

pub struct EncryptionSweeper {
    db: Db,
    data: DataDir,
    origin: Arc<Origin>,
    wake: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for SweepError {
    fn from(e: rusqlite::Error) -> Self {
        SweepError::Db(crate::db::DbError::Sqlite(e))
    }
}

impl EncryptionSweeper {
    pub fn new(db: Db, data: DataDir, origin: Arc<Origin>, wake: Arc<Notify>) -> Self {
        EncryptionSweeper {
            db,
            data,
            origin,
            wake,
        }
    }

    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        self.finish_all().await;
        loop {
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(assets = n, "premium media encrypted"),
                Err(e) => {
                    tracing::warn!(error = %e, "encrypting premium media failed; trying again later")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Ready assets with their manifests, encrypted or not.
    async fn ready(&self, encrypted: bool) -> Result<Vec<(String, PackageManifest)>, SweepError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, manifest FROM assets WHERE status = 'ready' AND manifest IS NOT NULL
                       AND coalesce(json_extract(manifest, '$.encrypted'), 0) = ?1",
                )?;
                let rows = stmt
                    .query_map([encrypted], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, SweepError>(
                    rows.into_iter()
                        .filter_map(|(id, json)| Some((id, serde_json::from_str(&json).ok()?)))
                        .collect(),
                )
            })
            .await
    }

    /// Swaps left half-done by a crash are completed.
    async fn finish_all(&self) {
        let Ok(done) = self.ready(true).await else {
            return;
        };
        for (id, manifest) in done {
            let dir = self.data.asset_dir(&id);
            let _ = tokio::task::spawn_blocking(move || encrypt::finish(&dir, &manifest)).await;
        }
    }

    /// Encrypts every ready premium asset still in the clear; returns how many. One asset
    /// that fails (a damaged package) is logged and skipped, never holding up the rest.
    async fn sweep(&self) -> Result<usize, SweepError> {
        let mut done = 0;
        for (id, manifest) in self.ready(false).await? {
            let lookup = id.clone();
            let paid = self
                .db
                .read(move |c| Ok::<_, SweepError>(store::asset_has_paid_title(c, &lookup)?))
                .await?;
            if !paid {
                continue;
            }
            match self.encrypt(&id, manifest).await {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(asset = %id, error = %e, "could not encrypt; trying again later")
                }
            }
        }
        Ok(done)
    }

    async fn encrypt(&self, id: &str, manifest: PackageManifest) -> Result<(), SweepError> {
        let dir = self.data.asset_dir(id);
        let work = dir.clone();
        let next = tokio::task::spawn_blocking(move || encrypt::prepare(&work, &manifest))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        let (asset, stored) = (id.to_owned(), next.clone());
        self.db
            .write(move |tx| catalog::set_manifest(tx, &asset, &stored, crate::clock::now()))
            .await?;
        tokio::task::spawn_blocking(move || encrypt::finish(&dir, &next))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        self.origin.ready.forget(id);
        tracing::info!(asset = %id, "encrypted with AES-128");
        Ok(())
    }
}
