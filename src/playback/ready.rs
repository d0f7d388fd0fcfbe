//! Which assets may be served, answered from memory: the origin must not query the
//! database for every segment. Positive answers are kept a minute, negative ones briefly
//! (an asset may become ready any moment); deleting an asset forgets it at once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::PlaybackError;
use crate::catalog::{self, AssetStatus, CatalogError};
use crate::db::Db;

const READY_TTL: Duration = Duration::from_secs(60);
const NOT_READY_TTL: Duration = Duration::from_secs(2);

pub struct ReadyAssets {
    db: Db,
    known: RwLock<HashMap<String, (bool, Instant)>>,
}

impl ReadyAssets {
    pub fn new(db: Db) -> Self {
        ReadyAssets {
            db,
            known: RwLock::new(HashMap::new()),
        }
    }

    pub async fn is_ready(&self, asset_id: &str) -> Result<bool, PlaybackError> {
        if let Some((ready, at)) = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(asset_id)
        {
            let ttl = if *ready { READY_TTL } else { NOT_READY_TTL };
            if at.elapsed() < ttl {
                return Ok(*ready);
            }
        }
        let id = asset_id.to_string();
        let ready = self
            .db
            .read(move |c| match catalog::get(c, &id) {
                Ok(a) => Ok(a.status == AssetStatus::Ready),
                Err(CatalogError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            })
            .await?;
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.len() > 100_000 {
            known.clear();
        }
        known.insert(asset_id.to_string(), (ready, Instant::now()));
        Ok(ready)
    }

    pub fn forget(&self, asset_id: &str) {
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(asset_id);
    }
}
