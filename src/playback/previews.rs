//! Staff previews: media no live title plays yet (a draft's, a scheduled one's), served to
//! one staff session under its token. The watch page grants a preview only to someone
//! whose role reads the catalog, with the manifest it read, so the origin answers from
//! memory as for any other asset; a grant ends with its token. Nobody else's token, and
//! never the public path, reaches media through here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::ready::Served;
use super::token::ViewerTag;
use crate::media::PackageManifest;

/// At most this many grants are held; expired ones go first when it is full.
const MAX_GRANTS: usize = 1_000;

/// A session's preview of an asset: what it serves, and until when.
type Grant = (Arc<PackageManifest>, i64);

#[derive(Default)]
pub struct Previews {
    grants: RwLock<HashMap<(ViewerTag, String), Grant>>,
}

impl Previews {
    /// Lets `viewer` fetch `asset_id`'s package (as `manifest` lists it) until `until`.
    pub fn grant(&self, viewer: ViewerTag, asset_id: &str, manifest: PackageManifest, until: i64) {
        let now = crate::clock::now();
        let mut grants = self.grants.write().unwrap_or_else(|p| p.into_inner());
        if grants.len() >= MAX_GRANTS {
            grants.retain(|_, (_, until)| *until > now);
            if grants.len() >= MAX_GRANTS {
                grants.clear();
            }
        }
        grants.insert((viewer, asset_id.to_owned()), (Arc::new(manifest), until));
    }

    /// What a preview serves `viewer` of `asset_id` now: under a token only.
    pub fn served(&self, viewer: ViewerTag, asset_id: &str, now: i64) -> Option<Served> {
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        let (manifest, until) = grants.get(&(viewer, asset_id.to_owned()))?;
        (now < *until).then(|| Served {
            manifest: manifest.clone(),
            free: false,
        })
    }
}
