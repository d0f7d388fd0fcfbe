//! Running jobs by asset, so an operator's action (deleting an asset) can stop its worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Default)]
pub struct RunningJobs {
    cancels: Mutex<HashMap<String, Arc<watch::Sender<bool>>>>,
}

impl RunningJobs {
    /// A cancel signal for this asset's job that also fires on server shutdown.
    pub fn register(
        &self,
        asset_id: &str,
        mut shutdown: watch::Receiver<bool>,
    ) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        self.lock().insert(asset_id.to_string(), tx.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.changed() => { let _ = tx.send(true); }
                _ = tx.closed() => {}
            }
        });
        rx
    }

    pub fn unregister(&self, asset_id: &str) {
        self.lock().remove(asset_id);
    }

    /// Stops the asset's worker if one runs; true if there was one.
    pub fn cancel(&self, asset_id: &str) -> bool {
        match self.lock().remove(asset_id) {
            Some(tx) => tx.send(true).is_ok(),
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<watch::Sender<bool>>>> {
        self.cancels.lock().unwrap_or_else(|p| p.into_inner())
    }
}
