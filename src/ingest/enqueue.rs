//! Turns a settled file into an asset with a durable job, or says why not. Blocking code:
//! call it from the blocking pool.

use std::path::{Path, PathBuf};

use super::IngestError;
use super::classify::{self, FileKind};
use crate::catalog::title_sidecar::{self, NewTitlePolicy};
use crate::catalog::{self, NewAsset};
use crate::config::DataDir;
use crate::db::Db;
use crate::jobs::publish;
use crate::jobs::queue::{self, ClaimedJob};

#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    Queued {
        asset_id: String,
    },
    /// Same content as an asset we already have; the file was moved aside.
    Duplicate {
        of: String,
        moved_to: PathBuf,
    },
    /// Recorded as a failed asset without a job (a lone image or subtitle file).
    Rejected {
        asset_id: String,
        reason: String,
    },
    /// Nothing to do: a sidecar of a media file, a temp file, or a file already known.
    Skipped,
}

#[derive(Debug, Clone, Copy)]
pub struct FileFacts {
    pub size: u64,
    pub mtime: i64,
}

pub fn facts(path: &Path) -> Result<FileFacts, IngestError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok(FileFacts {
        size: meta.len(),
        mtime,
    })
}

fn io_err(path: &Path, source: std::io::Error) -> IngestError {
    IngestError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn content_hash(path: &Path) -> Result<String, IngestError> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).map_err(|e| io_err(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Decides what a settled inbox file becomes.
pub fn ingest_inbox_file(
    db: &Db,
    data: &DataDir,
    path: &Path,
    policy: &NewTitlePolicy,
    now: i64,
) -> Result<Enqueued, IngestError> {
    let kind = classify::kind_of(path);
    if kind == FileKind::Ignored || classify::in_hidden_dir(&data.inbox(), path) {
        return Ok(Enqueued::Skipped);
    }
    let facts = facts(path)?;
    let path_str = path.to_string_lossy().into_owned();
    // Known exactly as it is (queued, processing, or failed and untouched since): leave it.
    let known = {
        let p = path_str.clone();
        db.read_blocking(|c| {
            Ok::<_, IngestError>(
                catalog::find_pending_by_source(c, &p)?.is_some()
                    || catalog::find_by_source(c, &p, facts.size, facts.mtime)?.is_some(),
            )
        })?
    };
    if known {
        return Ok(Enqueued::Skipped);
    }
    if path.to_str().is_none() {
        // Stored paths are text; a lossy copy could name another file (`x\xff` and `x�`).
        return reject(db, path, facts, NOT_UTF8, now);
    }
    if !data.owns(path) {
        // Reached through a symbolic link: the file lives in another of the operator's
        // folders, and publishing would move it out of there.
        return reject(db, path, facts, REACHED_THROUGH_LINK, now);
    }
    if matches!(
        kind,
        FileKind::Subtitle | FileKind::Image | FileKind::Metadata
    ) {
        if classify::media_for_sidecar(path).is_some() {
            return Ok(Enqueued::Skipped);
        }
        let reason = match kind {
            FileKind::Image => {
                "an image on its own is not a video; to use it as a poster, give it the same name as its video (movie.jpg next to movie.mp4)"
            }
            FileKind::Metadata => {
                "a title sidecar on its own is not a video; give it the same name as its video (movie.json next to movie.mp4)"
            }
            _ => {
                "a subtitle file on its own is not a video; give it the same name as its video (movie.en.srt next to movie.mp4)"
            }
        };
        return reject(db, path, facts, reason, now);
    }

    let hash = content_hash(path)?;
    if let Some(existing) =
        db.read_blocking(|c| catalog::find_by_hash(c, &hash).map_err(IngestError::from))?
    {
        let moved_to = set_aside_duplicate(data, path)?;
        tracing::warn!(file = ?path, of = %existing.id, title = ?existing.title, moved_to = ?moved_to,
            "same content as an existing asset: not transcoded again");
        return Ok(Enqueued::Duplicate {
            of: existing.id,
            moved_to,
        });
    }
    let outcome = db.write_blocking(|tx| {
        // Checked again inside the write lock: two copies settling at once make one asset.
        if let Some(existing) = catalog::find_by_hash(tx, &hash)? {
            return Ok::<_, IngestError>(Err(existing.id));
        }
        // A file that failed before and has since changed retries under the same asset.
        let retried = catalog::find_failed_by_source(tx, &path_str)?;
        let asset_id = retried
            .as_ref()
            .map(|a| a.id.clone())
            .unwrap_or_else(catalog::new_asset_id);
        let new = new_asset(&asset_id, path, facts, Some(hash.clone()));
        match retried {
            Some(_) => catalog::reset_for_retry(tx, &new, now)?,
            None => catalog::insert(tx, &new, None, now)?,
        }
        attach_title(tx, &new, policy, now)?;
        queue::enqueue(tx, &asset_id, now)?;
        Ok(Ok(asset_id))
    })?;
    let asset_id = match outcome {
        Ok(id) => id,
        Err(of) => {
            let moved_to = set_aside_duplicate(data, path)?;
            return Ok(Enqueued::Duplicate { of, moved_to });
        }
    };
    tracing::info!(asset = %asset_id, file = ?path, "queued");
    Ok(Enqueued::Queued { asset_id })
}

const NOT_UTF8: &str =
    "the file name is not valid UTF-8 text; rename the file (any name in UTF-8 works)";

const REACHED_THROUGH_LINK: &str = "this file is reached through a symbolic link, so it belongs to another folder; Marquee does not follow links in the inbox and never moves files out of other folders. Copy or move the file itself into the inbox, or run `marquee ingest <file>`, which leaves it where it is";

/// Records a file that cannot be queued as a failed asset with the reason, and no job.
fn reject(
    db: &Db,
    path: &Path,
    facts: FileFacts,
    reason: &str,
    now: i64,
) -> Result<Enqueued, IngestError> {
    let asset_id = catalog::new_asset_id();
    let new = new_asset(&asset_id, path, facts, None);
    db.write_blocking(|tx| catalog::insert(tx, &new, Some(reason), now))?;
    tracing::warn!(file = ?path, reason, "not taken");
    Ok(Enqueued::Rejected {
        asset_id,
        reason: reason.into(),
    })
}

/// The new asset's title, from its `name.json` when it has one. A sidecar that cannot be
/// used costs the video nothing: the title falls back to the file name and the log says why.
fn attach_title(
    tx: &rusqlite::Connection,
    new: &NewAsset,
    policy: &NewTitlePolicy,
    now: i64,
) -> Result<(), IngestError> {
    let sidecar = classify::title_sidecar(&new.sidecars).and_then(|path| {
        title_sidecar::read(path)
            .inspect_err(|reason| {
                tracing::warn!(file = ?path, reason, "title sidecar not used; the title comes from the file name")
            })
            .ok()
    });
    let attached = title_sidecar::attach(
        tx,
        &new.id,
        &new.title,
        sidecar.as_ref(),
        policy.publishes(),
        now,
    );
    match attached {
        Ok(_) => Ok(()),
        // The sidecar names a slot or series it cannot have: the video still gets a title.
        Err(catalog::CatalogError::Invalid(reason)) if sidecar.is_some() => {
            tracing::warn!(asset = %new.id, reason, "title sidecar not used; the title comes from the file name");
            title_sidecar::attach(tx, &new.id, &new.title, None, policy.publishes(), now)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn new_asset(id: &str, path: &Path, facts: FileFacts, hash: Option<String>) -> NewAsset {
    NewAsset {
        id: id.to_string(),
        title: classify::title_from(path),
        source_path: path.to_path_buf(),
        source_size: facts.size,
        source_mtime: facts.mtime,
        content_hash: hash,
        sidecars: classify::sidecars_for(path),
    }
}

/// Duplicates leave the inbox (so they are not looked at again) but are never deleted.
/// An inbox file's sidecars go with it: left behind, each would be refused as a lone file.
fn set_aside_duplicate(data: &DataDir, path: &Path) -> Result<PathBuf, IngestError> {
    if path.starts_with(data.inbox()) {
        for sidecar in classify::sidecars_for(path) {
            set_aside(data, &sidecar.path)?;
        }
    }
    set_aside(data, path)
}

fn set_aside(data: &DataDir, path: &Path) -> Result<PathBuf, IngestError> {
    let dir = data.duplicates();
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let target = publish::free_name(&dir.join(name));
    publish::take_file(data, path, &target)
        .map_err(|e| io_err(path, std::io::Error::other(e.to_string())))?;
    Ok(target)
}

/// A file uploaded through the API, complete on disk under the data dir: the inbox's hash,
/// duplicate check, asset and queued job, titled by the client's file name (already
/// sanitised). `record` runs in the transaction that creates the asset, or in one after a
/// duplicate is set aside, so the upload is marked finished exactly when its outcome is.
pub fn ingest_upload(
    db: &Db,
    data: &DataDir,
    path: &Path,
    title: &str,
    policy: &NewTitlePolicy,
    now: i64,
    record: impl FnOnce(&rusqlite::Connection, &Enqueued) -> rusqlite::Result<()>,
) -> Result<Enqueued, IngestError> {
    let facts = facts(path)?;
    let hash = content_hash(path)?;
    // Called once, on whichever branch ends the upload.
    let mut record = Some(record);
    let mut record_once = |tx: &rusqlite::Connection, outcome: &Enqueued| match record.take() {
        Some(record) => record(tx, outcome),
        None => Ok(()),
    };
    let existing =
        db.read_blocking(|c| catalog::find_by_hash(c, &hash).map_err(IngestError::from))?;
    let outcome = match existing {
        Some(existing) => Err(existing.id),
        None => db.write_blocking(|tx| {
            if let Some(existing) = catalog::find_by_hash(tx, &hash)? {
                return Ok::<_, IngestError>(Err(existing.id));
            }
            let asset_id = catalog::new_asset_id();
            let mut new = new_asset(&asset_id, path, facts, Some(hash.clone()));
            new.title = title.to_string();
            new.sidecars = Vec::new();
            catalog::insert(tx, &new, None, now)?;
            attach_title(tx, &new, policy, now)?;
            queue::enqueue(tx, &asset_id, now)?;
            let queued = Enqueued::Queued { asset_id };
            record_once(tx, &queued)?;
            Ok(Ok(queued))
        })?,
    };
    match outcome {
        Ok(queued) => {
            tracing::info!(file = ?path, title, "upload queued");
            Ok(queued)
        }
        Err(of) => {
            let moved_to = set_aside_duplicate(data, path)?;
            tracing::warn!(file = ?path, of = %of, moved_to = ?moved_to,
                "uploaded file has the same content as an existing asset: not transcoded again");
            let duplicate = Enqueued::Duplicate { of, moved_to };
            db.write_blocking(|tx| Ok::<_, IngestError>(record_once(tx, &duplicate)?))?;
            Ok(duplicate)
        }
    }
}

#[derive(Debug)]
pub enum CliIngest {
    Started {
        asset_id: String,
        title: String,
        job: ClaimedJob,
    },
    Duplicate {
        of: String,
        title: String,
    },
}

/// `marquee ingest FILE`: the operator's file stays where it is; a hard link (or a copy,
/// across filesystems) goes under the data dir and is processed like an inbox file, in a
/// job owned by this process.
pub fn ingest_cli_file(
    db: &Db,
    data: &DataDir,
    path: &Path,
    policy: &NewTitlePolicy,
    now: i64,
) -> Result<CliIngest, IngestError> {
    let path = std::fs::canonicalize(path).map_err(|e| io_err(path, e))?;
    if !path.is_file() {
        return Err(io_err(&path, std::io::Error::other("not a regular file")));
    }
    let hash = content_hash(&path)?;
    if let Some(existing) =
        db.read_blocking(|c| catalog::find_by_hash(c, &hash).map_err(IngestError::from))?
    {
        return Ok(CliIngest::Duplicate {
            of: existing.id,
            title: existing.title,
        });
    }
    let asset_id = catalog::new_asset_id();
    let imports = data.root.join("imports");
    std::fs::create_dir_all(&imports).map_err(|e| io_err(&imports, e))?;
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let copy = imports.join(format!("{asset_id}{ext}"));
    link_or_copy(&path, &copy)?;
    let facts = facts(&copy)?;
    let mut new = new_asset(&asset_id, &copy, facts, Some(hash));
    new.title = classify::title_from(&path);
    // Sidecars are published by moving them, so they too are linked or copied first.
    new.sidecars = classify::sidecars_for(&path)
        .into_iter()
        .map(|mut sidecar| {
            let name = sidecar
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = imports.join(format!("{asset_id}-{name}"));
            link_or_copy(&sidecar.path, &target)?;
            sidecar.path = target;
            Ok(sidecar)
        })
        .collect::<Result<_, IngestError>>()?;
    let title = new.title.clone();
    let job = db.write_blocking(|tx| {
        catalog::insert(tx, &new, None, now)?;
        attach_title(tx, &new, policy, now)?;
        Ok::<_, IngestError>(queue::enqueue_running(
            tx,
            &asset_id,
            std::process::id(),
            now,
        )?)
    })?;
    Ok(CliIngest::Started {
        asset_id,
        title,
        job,
    })
}

fn link_or_copy(from: &Path, to: &Path) -> Result<(), IngestError> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(|e| io_err(from, e))?;
    }
    Ok(())
}
