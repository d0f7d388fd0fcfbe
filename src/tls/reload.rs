//! Operator certificate files, reloaded when they change: the files are looked at every
//! `interval`; a changed pair that loads replaces the certificate for new handshakes
//! (connections already open keep theirs), a pair that does not load is logged and the
//! certificate in use stays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{CertResolver, files};

pub struct WatchedFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl WatchedFiles {
    pub async fn run(
        self,
        resolver: Arc<CertResolver>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut seen = self.stamps();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            let now = self.stamps();
            if now == seen {
                continue;
            }
            // A pair that does not load (the cert written, the key not yet) is tried again
            // when either file changes next, not on every look.
            seen = now;
            let (cert, key) = (self.cert.clone(), self.key.clone());
            match tokio::task::spawn_blocking(move || files::load(&cert, &key)).await {
                Ok(Ok(certified)) => {
                    resolver.replace(certified);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "TLS certificate files changed but cannot be used; keeping the current certificate");
                }
                Err(e) => tracing::warn!(error = %e, "TLS reload task failed"),
            }
        }
    }

    fn stamps(&self) -> [Option<(u64, i64, i64, u64)>; 2] {
        [files::stamp(&self.cert), files::stamp(&self.key)]
    }
}
