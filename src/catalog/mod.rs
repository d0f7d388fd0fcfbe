//! The catalogue: the assets Marquee holds (processing state and package) and the titles
//! viewers browse (`titles`, with their `credits`), when they see them (`visibility`, `publishing`), how they find
//! them (`search`) and what a dropped file's `name.json` says about them (`title_sidecar`).

pub mod artwork;
mod assets;
pub mod browse;
pub mod collections;
pub mod credits;
pub mod my_list;
pub mod picks;
pub mod progress;
pub mod publishing;
pub mod rails;
pub mod recommend;
pub mod search;
pub mod spelling;
pub mod title_names;
pub mod title_sidecar;
pub mod titles;
pub mod visibility;

#[cfg(test)]
mod recommend_tests;
#[cfg(test)]
mod tests;

pub use assets::*;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("asset {0} not found")]
    NotFound(String),
    #[error("title {0} not found")]
    TitleNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot publish yet; missing: {}", .0.join("; "))]
    NotReady(Vec<String>),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for CatalogError {
    fn from(e: rusqlite::Error) -> Self {
        CatalogError::Db(DbError::Sqlite(e))
    }
}
