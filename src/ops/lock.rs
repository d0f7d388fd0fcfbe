//! One `marquee serve` (or restore) per data dir: an exclusive `flock` on
//! `<data-dir>/marquee.lock`, held for the life of the process and released by the kernel
//! however the process ends, so a `kill -9` leaves no stale lock.

use std::fs::File;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

pub const LOCK_FILE: &str = "marquee.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another Marquee (a server or a restore) is using the data dir {0}; stop it first")]
    Busy(String),
    #[error("cannot lock the data dir {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Held while alive.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(root: &Path) -> Result<DataDirLock, LockError> {
        let path = root.join(LOCK_FILE);
        // Read-only once it exists: `flock` needs no write access, so a lock file that
        // root made (`marquee restore` run as root) still works for the service's user.
        let file = std::fs::File::open(&path)
            .or_else(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
            })
            .map_err(|source| LockError::Io {
                path: path.display().to_string(),
                source,
            })?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(LockError::Busy(root.display().to_string())),
            Err(e) => Err(LockError::Io {
                path: path.display().to_string(),
                source: e.into(),
            }),
        }
    }
}
