//! Serving packages to viewers: which files of a package a viewer may fetch, where they
//! are on disk, and which assets may be served at all. Playback URLs carry a token in the
//! path (`/p/<token>/<asset>/<file>`), so every relative URI inside a playlist keeps it;
//! today the only token is `public`, and the paywall will add signed ones.

pub mod files;
pub mod ready;
pub mod response;
pub mod token;

pub use files::{Library, PackageFile};
pub use ready::ReadyAssets;
pub use response::Origin;

use crate::catalog::CatalogError;

/// The token of titles anyone may watch.
pub const PUBLIC_TOKEN: &str = "public";

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// Deliberately vague: a viewer learns nothing about what exists.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// Whether `token` lets a viewer fetch `asset_id`.
pub fn token_allows(token: &str, _asset_id: &str) -> bool {
    token == PUBLIC_TOKEN
}

/// The playback URL of a file of a package.
pub fn package_url(asset_id: &str, file: &str) -> String {
    format!("/p/{PUBLIC_TOKEN}/{asset_id}/{file}")
}
