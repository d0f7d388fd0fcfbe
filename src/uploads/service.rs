//! `Uploads`: create, look up, append to, finish and terminate uploads.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::metadata::{self, Metadata};
use super::records::{self, Upload};
use super::{Owner, UploadError, io_error};
use crate::catalog::title_sidecar::NewTitlePolicy;
use crate::config::{DataDir, IngestConfig, UploadsConfig};
use crate::db::{Db, DbError};
use crate::disk::DiskSpace;
use crate::ingest::enqueue::{self, Enqueued};

/// Bytes gathered before a write to the file.
const WRITE_CHUNK: usize = 1 << 20;
/// Bytes written before they are synced and recorded...
const CHECKPOINT_BYTES: u64 = 16 << 20;
/// ...or time since the last checkpoint, whichever comes first: a dropped connection or
/// a crash loses at most this much of an upload's progress. A body that pauses this long
/// should be synced too (`Appender::sync`).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
/// How long an upload's remaining bytes hold disk space after its creation or its last
/// checkpoint: while its bytes flow, not for as long as it may be resumed, so uploads
/// created and left empty stop holding space within minutes.
pub const RESERVE_SECS: i64 = 600;
/// Uploads one owner (an account or an API key) may have in progress at once (created or
/// written to within `RESERVE_SECS`): what one owner can hold of the disk.
pub const MAX_IN_PROGRESS: u64 = 10;

#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// `uploads.max_bytes`.
    pub max_bytes: u64,
    /// `uploads.expire_hours`, in seconds.
    pub expire_secs: i64,
    /// `ingest.min_free_mb`: the floor that creation and every checkpoint keep.
    pub min_free_mb: u64,
}

impl UploadLimits {
    pub fn new(uploads: &UploadsConfig, ingest: &IngestConfig) -> UploadLimits {
        UploadLimits {
            max_bytes: uploads.max_bytes,
            expire_secs: (uploads.expire_hours * 3600) as i64,
            min_free_mb: ingest.min_free_mb,
        }
    }
}

pub struct Uploads {
    pub(super) db: Db,
    pub(super) data: DataDir,
    /// Swapped when the limits change in the dashboard (`set_limits`).
    pub(super) limits: arc_swap::ArcSwap<UploadLimits>,
    /// Whether the title of a finished upload starts published.
    new_titles: NewTitlePolicy,
    /// Told when a finished upload queued a job.
    wake_jobs: Arc<Notify>,
    /// The clock (Unix seconds), passed in so tests can move it.
    pub(super) clock: fn() -> i64,
    /// Uploads a request is writing (or terminating) right now: one at a time each.
    busy: Mutex<HashSet<String>>,
}

/// Marks an upload busy until dropped.
pub(super) struct BusyGuard {
    uploads: Arc<Uploads>,
    id: String,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.uploads.busy_ids().remove(&self.id);
    }
}

impl Uploads {
    pub fn new(
        db: Db,
        data: DataDir,
        limits: UploadLimits,
        new_titles: NewTitlePolicy,
        wake_jobs: Arc<Notify>,
        clock: fn() -> i64,
    ) -> Uploads {
        Uploads {
            db,
            data,
            new_titles,
            limits: arc_swap::ArcSwap::from_pointee(limits),
            wake_jobs,
            clock,
            busy: Mutex::new(HashSet::new()),
        }
    }

    pub fn limits(&self) -> UploadLimits {
        **self.limits.load()
    }

    /// Applies other limits to uploads created from now on.
    pub fn set_limits(&self, limits: UploadLimits) {
        self.limits.store(Arc::new(limits));
    }

    fn busy_ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn is_busy(&self, id: &str) -> bool {
        self.busy_ids().contains(id)
    }

    pub(super) fn claim(self: &Arc<Self>, id: &str) -> Result<BusyGuard, UploadError> {
        if !self.busy_ids().insert(id.to_string()) {
            return Err(UploadError::Busy);
        }
        Ok(BusyGuard {
            uploads: self.clone(),
            id: id.to_string(),
        })
    }

    pub(super) fn part_path(&self, id: &str) -> PathBuf {
        self.data.uploads().join(format!("{id}.part"))
    }

    /// Where a finished upload's file waits for its transcode.
    fn finished_path(&self, upload: &Upload) -> PathBuf {
        let ext = metadata::extension_for(upload.filename.as_deref());
        self.data.uploads().join(format!("{}.{ext}", upload.id))
    }

    /// Creates an upload of `size` bytes. Refused, with nothing stored, when it is larger
    /// than `uploads.max_bytes`, when the owner has `MAX_IN_PROGRESS` uploads in progress,
    /// or when it and the remaining bytes of the uploads in progress would take the disk
    /// below `ingest.min_free_mb`.
    pub async fn create(
        &self,
        owner: &Owner,
        size: u64,
        metadata_header: &str,
    ) -> Result<Upload, UploadError> {
        let limits = self.limits();
        if size == 0 {
            return Err(UploadError::Invalid(
                "Upload-Length is 0: an empty file is not a video".into(),
            ));
        }
        if size > limits.max_bytes {
            return Err(UploadError::TooLarge {
                size,
                max: limits.max_bytes,
            });
        }
        let Metadata { filename, filetype } = metadata::parse(metadata_header)?;
        let now = (self.clock)();
        let upload = Upload {
            id: hex::encode(rand::random::<[u8; 16]>()),
            size,
            received: 0,
            metadata: metadata_header.to_string(),
            filename,
            filetype,
            created_at: now,
            expires_at: now + limits.expire_secs,
            completed_at: None,
            asset_id: None,
            duplicate: false,
        };
        let folder = self.data.uploads();
        let owner = owner.clone();
        let created = upload.clone();
        self.db
            .write(move |tx| {
                // Inside the write lock, so two creations cannot both count the same space.
                let space =
                    DiskSpace::of(&folder, limits.min_free_mb).map_err(|e| io_error(&folder, e))?;
                let active_since = now - RESERVE_SECS;
                if records::in_progress_of(tx, &owner, now, active_since)? >= MAX_IN_PROGRESS {
                    return Err(UploadError::TooManyInProgress {
                        limit: MAX_IN_PROGRESS,
                        minutes: RESERVE_SECS / 60,
                    });
                }
                let outstanding = records::outstanding_bytes(tx, now, active_since)?;
                let needed = size
                    .saturating_add(outstanding)
                    .saturating_add(space.min_free_bytes);
                if space.free_bytes < needed {
                    return Err(UploadError::NoSpace(format!(
                        "this upload needs {} MB and uploads in progress {} MB more; {}",
                        size.div_ceil(1_000_000),
                        outstanding.div_ceil(1_000_000),
                        space.describe()
                    )));
                }
                records::insert(tx, &owner, &created)?;
                Ok(())
            })
            .await?;
        tracing::info!(upload = %upload.id, size, filename = ?upload.filename, "upload created");
        Ok(upload)
    }

    /// The owner's upload. One whose bytes are all here but which was never handed to
    /// ingest (a crash in between) is handed over now.
    pub async fn get(self: &Arc<Self>, owner: &Owner, id: &str) -> Result<Upload, UploadError> {
        let upload = self.find(owner, id).await?;
        if upload.received < upload.size || upload.is_complete() {
            return Ok(upload);
        }
        // A request that holds the upload finishes it itself; answer as it stands.
        let Ok(guard) = self.claim(id) else {
            return Ok(upload);
        };
        let upload = self.find(owner, id).await?;
        if upload.is_complete() {
            return Ok(upload);
        }
        let this = self.clone();
        let finished = run_blocking(move || this.finish_blocking(upload)).await;
        drop(guard);
        finished
    }

    async fn find(&self, owner: &Owner, id: &str) -> Result<Upload, UploadError> {
        let (owner, key) = (owner.clone(), id.to_string());
        let now = (self.clock)();
        let upload = self
            .db
            .read(move |c| Ok::<_, UploadError>(records::get(c, &owner, &key)?))
            .await?
            .filter(|u| u.is_complete() || u.expires_at > now)
            .ok_or_else(|| UploadError::NotFound(id.to_string()))?;
        self.reconcile(upload).await
    }

    /// An unfinished upload whose `.part` file holds fewer bytes than it counts (restored
    /// from a backup, which leaves uploads out, or cut by hand) resumes from what is there,
    /// never over a gap. A crash cannot cause this: only synced bytes are counted.
    async fn reconcile(&self, upload: Upload) -> Result<Upload, UploadError> {
        // All received (or none): the file may be mid-rename into ingest; nothing to check.
        if upload.is_complete() || upload.received == 0 || upload.received >= upload.size {
            return Ok(upload);
        }
        let part = self.part_path(&upload.id);
        let on_disk = run_blocking(move || match std::fs::metadata(&part) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_error(&part, e)),
        })
        .await?;
        if on_disk >= upload.received {
            return Ok(upload);
        }
        tracing::warn!(upload = %upload.id, counted = upload.received, on_disk,
            "an upload's bytes are missing from disk; it resumes from what is there");
        let key = upload.id.clone();
        self.db
            .write(move |tx| Ok::<_, UploadError>(records::lower_received(tx, &key, on_disk)?))
            .await?;
        Ok(Upload {
            received: on_disk,
            ..upload
        })
    }

    /// Terminates an unfinished upload: its record and its bytes go.
    pub async fn terminate(self: &Arc<Self>, owner: &Owner, id: &str) -> Result<(), UploadError> {
        let guard = self.claim(id)?;
        let upload = self.find(owner, id).await?;
        if upload.is_complete() {
            return Err(UploadError::Finished(upload.asset_id.unwrap_or_default()));
        }
        let key = upload.id.clone();
        self.db
            .write(move |tx| Ok::<_, UploadError>(records::delete(tx, &key)?))
            .await?;
        let part = self.part_path(&upload.id);
        run_blocking(move || super::sweep::remove_if_present(&part)).await?;
        drop(guard);
        tracing::info!(upload = %id, "upload terminated");
        Ok(())
    }

    /// Starts writing the owner's upload at `offset`, which must be where it stands.
    pub async fn begin_append(
        self: &Arc<Self>,
        owner: &Owner,
        id: &str,
        offset: u64,
    ) -> Result<Appender, UploadError> {
        let guard = self.claim(id)?;
        let upload = self.find(owner, id).await?;
        if offset != upload.received {
            return Err(UploadError::OffsetMismatch {
                expected: upload.received,
                given: offset,
            });
        }
        let file = if upload.is_complete() {
            None
        } else {
            let part = self.part_path(&upload.id);
            let received = upload.received;
            Some(
                run_blocking(move || {
                    std::fs::create_dir_all(part.parent().unwrap_or(&part))
                        .map_err(|e| io_error(&part, e))?;
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&part)
                        .map_err(|e| io_error(&part, e))?;
                    // Bytes past the recorded offset were never acknowledged (a crash came
                    // before their sync): cut them off and write over.
                    file.set_len(received).map_err(|e| io_error(&part, e))?;
                    file.seek(SeekFrom::Start(received))
                        .map_err(|e| io_error(&part, e))?;
                    Ok(file)
                })
                .await?,
            )
        };
        Ok(Appender {
            uploads: self.clone(),
            written: upload.received,
            upload,
            file,
            pending: Vec::with_capacity(WRITE_CHUNK),
            broken: false,
            last_checkpoint: Instant::now(),
            guard: Some(Arc::new(guard)),
        })
    }

    /// Hands a fully received upload to ingest (the same path as an inbox file): its
    /// `.part` file is renamed to `<id>.<ext>`, hashed, and becomes a queued asset, or is
    /// set aside as a duplicate. Each step can be repeated after a crash. Only with the
    /// upload claimed (or at start, before requests), so it runs once.
    pub(super) fn finish_blocking(&self, upload: Upload) -> Result<Upload, UploadError> {
        let part = self.part_path(&upload.id);
        let finished = self.finished_path(&upload);
        if part.exists() {
            std::fs::rename(&part, &finished).map_err(|e| io_error(&part, e))?;
            let folder = self.data.uploads();
            File::open(&folder)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(&folder, e))?;
        }
        let title = metadata::title_for(upload.filename.as_deref());
        let now = (self.clock)();
        let id = upload.id.clone();
        let outcome = enqueue::ingest_upload(
            &self.db,
            &self.data,
            &finished,
            &title,
            &self.new_titles,
            now,
            |tx, outcome| match outcome {
                Enqueued::Queued { asset_id } => {
                    records::mark_complete(tx, &id, asset_id, false, now)
                }
                Enqueued::Duplicate { of, .. } => records::mark_complete(tx, &id, of, true, now),
                _ => Ok(()),
            },
        )?;
        if matches!(outcome, Enqueued::Queued { .. }) {
            self.wake_jobs.notify_one();
        }
        let (asset_id, duplicate) = match outcome {
            Enqueued::Queued { asset_id } => (Some(asset_id), false),
            Enqueued::Duplicate { of, .. } => (Some(of), true),
            _ => (None, false),
        };
        tracing::info!(upload = %upload.id, asset = ?asset_id, duplicate, "upload finished");
        Ok(Upload {
            completed_at: Some(now),
            asset_id,
            duplicate,
            ..upload
        })
    }
}

/// Writes one request's body into an upload. Bytes count as received only once synced
/// and recorded, at checkpoints and at `finish`; if the request is dropped without
/// `finish`, what was written is still synced and recorded, in the background.
pub struct Appender {
    uploads: Arc<Uploads>,
    upload: Upload,
    /// `None` for an upload already finished (a body must then be empty).
    file: Option<File>,
    /// Bytes in the file (received, plus written since the last checkpoint).
    written: u64,
    pending: Vec<u8>,
    /// A write failed part-way: the file's position is unknown, so nothing more is written
    /// and only the bytes before the failure count.
    broken: bool,
    last_checkpoint: Instant,
    /// Shared with every blocking task this appender starts: if the request is dropped
    /// mid-write, the upload stays busy until that write or sync has ended.
    guard: Option<Arc<BusyGuard>>,
}

impl Appender {
    pub fn upload(&self) -> &Upload {
        &self.upload
    }

    /// Takes the next piece of the body. An error ends the body; call `finish` after it
    /// to keep what was written.
    pub async fn push(&mut self, mut chunk: &[u8]) -> Result<(), UploadError> {
        let room = self.upload.size - self.written - self.pending.len() as u64;
        let too_long = chunk.len() as u64 > room;
        if too_long {
            chunk = &chunk[..room as usize];
        }
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= WRITE_CHUNK || too_long {
            self.write_pending().await?;
        }
        let unsynced = self.written + self.pending.len() as u64 - self.upload.received;
        if unsynced >= CHECKPOINT_BYTES
            || (unsynced > 0 && self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY)
        {
            self.checkpoint().await?;
        }
        if too_long {
            return Err(UploadError::BodyTooLong {
                size: self.upload.size,
            });
        }
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<(), UploadError> {
        if self.pending.is_empty() || self.broken {
            self.pending.clear();
            return Ok(());
        }
        let Some(mut file) = self.file.take() else {
            return Err(UploadError::BodyTooLong {
                size: self.upload.size,
            });
        };
        let mut buffer = std::mem::take(&mut self.pending);
        let len = buffer.len() as u64;
        let hold = self.guard.clone();
        let (file, result) = tokio::task::spawn_blocking(move || {
            let _hold = hold;
            let result = file.write_all(&buffer);
            buffer.clear();
            (file, result.map(|_| buffer))
        })
        .await
        .map_err(|_| UploadError::Db(DbError::Task))?;
        self.file = Some(file);
        match result {
            Ok(buffer) => {
                self.written += len;
                self.pending = buffer;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(io_error(&self.uploads.part_path(&self.upload.id), e))
            }
        }
    }

    /// Syncs and records what has arrived so far: for a body that pauses, so its bytes
    /// count before it goes on (or never does).
    pub async fn sync(&mut self) -> Result<(), UploadError> {
        self.checkpoint().await
    }

    /// Syncs what was written, records it as received, and stops with `NoSpace` once the
    /// disk is below the floor.
    async fn checkpoint(&mut self) -> Result<(), UploadError> {
        self.write_pending().await?;
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let hold = self.guard.clone();
        let (file, synced) =
            persist(&self.uploads, &self.upload.id, file, self.written, hold).await;
        self.file = file;
        synced?;
        self.upload.received = self.written;
        self.last_checkpoint = Instant::now();
        let folder = self.uploads.data.uploads();
        let space = DiskSpace::of(&folder, self.uploads.limits().min_free_mb)
            .map_err(|e| io_error(&folder, e))?;
        if space.is_low() {
            return Err(UploadError::NoSpace(space.describe()));
        }
        Ok(())
    }

    /// Ends the body: syncs and records what was written and, when that was the last
    /// byte, hands the file to ingest. Returns the upload as it now stands.
    pub async fn finish(mut self) -> Result<Upload, UploadError> {
        let written = self.write_pending().await;
        if let Some(file) = self.file.take() {
            let hold = self.guard.clone();
            let (_file, synced) =
                persist(&self.uploads, &self.upload.id, file, self.written, hold).await;
            synced?;
            self.upload.received = self.written;
        }
        written?;
        let upload = self.upload.clone();
        if upload.received == upload.size && !upload.is_complete() {
            let uploads = self.uploads.clone();
            // Still holding the busy mark: no other request sees a half-handed-over upload.
            let finished = run_blocking(move || uploads.finish_blocking(upload)).await?;
            self.upload = finished;
        }
        Ok(self.upload.clone())
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        // Dropped mid-body (the client went away and the request with it): keep what
        // arrived. The busy mark goes with the task, so no other request writes meanwhile.
        let (Some(mut file), Some(hold)) = (self.file.take(), self.guard.take()) else {
            return;
        };
        let pending = if self.broken {
            Vec::new()
        } else {
            std::mem::take(&mut self.pending)
        };
        if self.written + pending.len() as u64 == self.upload.received {
            return;
        }
        let (uploads, id) = (self.uploads.clone(), self.upload.id.clone());
        let mut written = self.written;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let pending_written = {
                let hold = hold.clone();
                tokio::task::spawn_blocking(move || {
                    let _hold = hold;
                    let result = file.write_all(&pending).map(|()| pending.len() as u64);
                    (file, result)
                })
                .await
            };
            let Ok((file, result)) = pending_written else {
                return;
            };
            // A failed write leaves its bytes uncounted; those before it still count.
            written += result.unwrap_or(0);
            let (_file, synced) = persist(&uploads, &id, file, written, Some(hold)).await;
            if let Err(e) = synced {
                tracing::warn!(upload = %id, error = %e, "cannot record an interrupted upload's progress");
            }
        });
    }
}

/// fsync, then record `written` as received: the order that never acknowledges a byte a
/// crash could lose.
async fn persist(
    uploads: &Arc<Uploads>,
    id: &str,
    file: File,
    written: u64,
    hold: Option<Arc<BusyGuard>>,
) -> (Option<File>, Result<(), UploadError>) {
    let (this, key) = (uploads.clone(), id.to_string());
    let joined = tokio::task::spawn_blocking(move || {
        let _hold = hold;
        let result = file
            .sync_data()
            .map_err(|e| io_error(&this.part_path(&key), e))
            .and_then(|()| {
                let now = (this.clock)();
                let expires_at = now + this.limits().expire_secs;
                this.db.write_blocking(|tx| {
                    Ok::<_, UploadError>(records::set_received(tx, &key, written, now, expires_at)?)
                })
            });
        (file, result)
    })
    .await;
    match joined {
        Ok((file, result)) => (Some(file), result),
        Err(_) => (None, Err(UploadError::Db(DbError::Task))),
    }
}

pub(super) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UploadError> + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| UploadError::Db(DbError::Task))?
}
