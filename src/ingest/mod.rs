//! Getting files in: the watched inbox, and the enqueue step shared with `marquee ingest`.

pub mod classify;
pub mod enqueue;
pub mod watcher;

use crate::catalog::CatalogError;
use crate::db::DbError;
use crate::jobs::queue::QueueError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("cannot watch the inbox: {0}")]
    Watch(#[from] notify::Error),
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Db(DbError::Sqlite(e))
    }
}
