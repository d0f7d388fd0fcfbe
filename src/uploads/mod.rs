//! Resumable uploads (the tus 1.0.0 protocol's domain side): upload records in SQLite, the
//! bytes in `<data-dir>/uploads/<id>.part`, and the hand-off of a finished file to the same
//! ingest path as the inbox. Knows nothing of HTTP: `http::uploads` speaks the protocol.
//!
//! The offset an upload reports is the number of bytes synced to disk and recorded
//! (`received`): a crash or `kill -9` at any moment resumes at a correct offset, and bytes
//! past it (written but never acknowledged) are cut off before the next write.

pub mod metadata;
mod records;
mod service;
mod sweep;

pub use records::Upload;
pub use service::{
    Appender, CHECKPOINT_EVERY, MAX_IN_PROGRESS, RESERVE_SECS, UploadLimits, Uploads,
};
pub use sweep::Swept;

use crate::db::DbError;
use crate::ingest::IngestError;

/// The tus protocol version spoken; `Tus-Resumable` must name it.
pub const TUS_VERSION: &str = "1.0.0";
/// The tus extensions supported, as `Tus-Extension` lists them.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";

/// Who created an upload; nobody else may see or touch it: an API key or an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(String);

impl Owner {
    pub fn api_key(id: i64) -> Owner {
        Owner(format!("apikey:{id}"))
    }
    pub fn user(id: i64) -> Owner {
        Owner(format!("user:{id}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Invalid(String),
    /// Unknown, expired, terminated, or another owner's: all look the same.
    #[error("no upload with id {0}")]
    NotFound(String),
    #[error("the file is {size} bytes; uploads may be at most {max} bytes (uploads.max_bytes)")]
    TooLarge { size: u64, max: u64 },
    #[error(
        "the request body runs past the upload's length ({size} bytes); the bytes that fit were kept"
    )]
    BodyTooLong { size: u64 },
    #[error("not enough disk space: {0}")]
    NoSpace(String),
    #[error(
        "you have {limit} uploads in progress (created or sent bytes in the last {minutes} minutes); \
         finish or delete one first, or try again once one has rested {minutes} minutes"
    )]
    TooManyInProgress { limit: u64, minutes: i64 },
    #[error("the upload is at offset {expected}, not {given}; ask with HEAD and resume from there")]
    OffsetMismatch { expected: u64, given: u64 },
    #[error("another request is writing this upload; try again when it ends")]
    Busy,
    #[error("the upload is finished and became asset {0}; delete the asset instead")]
    Finished(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot hand the finished upload to ingest: {0}")]
    Ingest(#[from] IngestError),
}

impl From<rusqlite::Error> for UploadError {
    fn from(e: rusqlite::Error) -> Self {
        UploadError::Db(DbError::Sqlite(e))
    }
}

fn io_error(path: &std::path::Path, source: std::io::Error) -> UploadError {
    if crate::disk::is_disk_full(&source) {
        return UploadError::NoSpace(format!("{}: {source}", path.display()));
    }
    UploadError::Io {
        path: path.display().to_string(),
        source,
    }
}
