//! Serving packages to viewers: which files of a package a viewer may fetch, where they
//! are on disk, which assets may be served at all, and with what pass. Playback URLs carry
//! a pass in the path (`/p/<token>/<asset>/<file>`), so every relative URI inside a
//! playlist keeps it: `public` for free media, a signed token for the rest (`gate`).

pub mod decisions;
pub mod files;
pub mod gate;
pub mod keys;
pub mod previews;
pub mod ready;
pub mod response;
pub mod streams;
pub mod token;

pub use files::{Library, PackageFile};
pub use gate::{Gate, Pass};
pub use ready::{ReadyAssets, Served};
pub use response::Origin;

use crate::access::AccessError;
use crate::catalog::CatalogError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// Deliberately vague: a viewer learns nothing about what exists.
    #[error("not found")]
    NotFound,
    /// No pass, or one that does not open this media now (expired, another viewer's):
    /// the player asks the watch page for a fresh one.
    #[error("playback token {0}")]
    Token(token::TokenError),
    #[error("this media needs a playback token")]
    TokenRequired,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl From<DbError> for PlaybackError {
    fn from(e: DbError) -> Self {
        PlaybackError::Catalog(CatalogError::Db(e))
    }
}
