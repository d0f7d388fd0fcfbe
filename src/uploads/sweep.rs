//! Housekeeping: expired uploads go with their bytes, stray `.part` files go, and uploads a
//! crash left fully received but not handed to ingest are handed over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::records;
use super::service::{Uploads, run_blocking};
use super::{UploadError, io_error};

/// How often the sweep runs while the server is up (and once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Expired records removed (with the bytes of unfinished ones).
    pub expired: usize,
    /// `.part` files without an unfinished upload (a crash inside a termination).
    pub strays: usize,
}

impl Uploads {
    /// Hands over uploads whose every byte arrived before a crash; run once at start.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, UploadError> {
        let pending = self
            .db
            .read(|c| Ok::<_, UploadError>(records::received_but_unfinished(c)?))
            .await?;
        let count = pending.len();
        for upload in pending {
            let guard = self.claim(&upload.id)?;
            let this = self.clone();
            run_blocking(move || this.finish_blocking(upload)).await?;
            drop(guard);
        }
        Ok(count)
    }

    /// Removes expired uploads (an unfinished one's bytes with it; a finished one's file is
    /// its asset's source and stays) and `.part` files no unfinished upload owns. Uploads a
    /// request is writing are left alone.
    pub fn sweep_blocking(&self) -> Result<Swept, UploadError> {
        let now = (self.clock)();
        let mut swept = Swept::default();
        let expired = self
            .db
            .read_blocking(|c| Ok::<_, UploadError>(records::expired(c, now)?))?;
        for upload in expired.into_iter().filter(|u| !self.is_busy(&u.id)) {
            let id = upload.id.clone();
            self.db
                .write_blocking(|tx| Ok::<_, UploadError>(records::delete(tx, &id)?))?;
            if !upload.is_complete() {
                remove_if_present(&self.part_path(&upload.id))?;
            }
            tracing::info!(upload = %upload.id, received = upload.received, size = upload.size,
                finished = upload.is_complete(), "expired upload removed");
            swept.expired += 1;
        }
        let folder = self.data.uploads();
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
            Err(e) => return Err(io_error(&folder, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".part")) else {
                continue;
            };
            let owned = self.is_busy(id)
                || self
                    .db
                    .read_blocking(|c| Ok::<_, UploadError>(records::is_unfinished(c, id)?))?;
            if !owned {
                remove_if_present(&entry.path())?;
                swept.strays += 1;
            }
        }
        Ok(swept)
    }

    /// Sweeps at once and then every 15 minutes until shutdown.
    pub async fn run_sweeper(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let this = self.clone();
            match run_blocking(move || this.sweep_blocking()).await {
                Ok(swept) if swept != Swept::default() => {
                    tracing::info!(
                        expired = swept.expired,
                        strays = swept.strays,
                        "upload sweep"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the upload sweep failed; it runs again later")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

pub(super) fn remove_if_present(path: &std::path::Path) -> Result<(), UploadError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::config::DataDir;
    use crate::db::Db;
    use crate::uploads::{Owner, UploadLimits};

    static NOW: AtomicI64 = AtomicI64::new(1_000_000);

    fn clock() -> i64 {
        NOW.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn an_upload_idle_past_its_expiry_is_swept_and_activity_pushes_expiry_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().to_path_buf());
        data.create_all().unwrap();
        let limits = UploadLimits {
            max_bytes: 1_000_000,
            expire_secs: 3600,
            min_free_mb: 0,
        };
        let db = Db::open(&data.db_path()).unwrap();
        let uploads = Arc::new(Uploads::new(
            db,
            data,
            limits,
            Default::default(),
            Default::default(),
            clock,
        ));
        let owner = Owner::api_key(1);
        let idle = uploads.create(&owner, 100, "").await.unwrap();
        let busy = uploads.create(&owner, 100, "").await.unwrap();
        for upload in [&idle, &busy] {
            let mut appender = uploads.begin_append(&owner, &upload.id, 0).await.unwrap();
            appender.push(&[1; 10]).await.unwrap();
            assert_eq!(appender.finish().await.unwrap().received, 10);
        }
        // Half an hour later one of them receives more, which moves its expiry on.
        NOW.fetch_add(1800, Ordering::SeqCst);
        let mut appender = uploads.begin_append(&owner, &busy.id, 10).await.unwrap();
        appender.push(&[1; 10]).await.unwrap();
        appender.finish().await.unwrap();
        assert_eq!(uploads.sweep_blocking().unwrap(), Swept::default());

        NOW.fetch_add(1801, Ordering::SeqCst);
        let swept = uploads.sweep_blocking().unwrap();
        assert_eq!(
            swept,
            Swept {
                expired: 1,
                strays: 0
            }
        );
        assert!(!uploads.part_path(&idle.id).exists());
        assert!(matches!(
            uploads.get(&owner, &idle.id).await,
            Err(UploadError::NotFound(_))
        ));
        assert_eq!(uploads.get(&owner, &busy.id).await.unwrap().received, 20);

        // A `.part` file no upload owns (a crash inside a termination) goes too.
        std::fs::write(uploads.part_path("0123abcd"), b"x").unwrap();
        assert_eq!(uploads.sweep_blocking().unwrap().strays, 1);
        assert!(uploads.part_path(&busy.id).exists());
    }
}
