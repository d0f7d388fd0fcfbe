//! Playback analytics: what players report about each playback
//! session (`beacon`: the batch format, checked and bounded), kept apart from the main
//! database in `events.db` by one writer thread that batches inserts (`recorder`), so a
//! flood of beacons never queues behind the writer that jobs and the dashboard use.

pub mod alerts;
pub mod beacon;
pub mod business;
pub mod cmcd;
pub mod intake;
pub mod ledger;
pub mod recorder;
pub mod report;
pub mod rollup;
pub mod segments;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A beacon that is not what a player sends; the sentence says what.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}
