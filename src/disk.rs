//! Free space on the data dir's filesystem, and the floor below which ingest pauses
//! (`ingest.min_free_mb`).

use std::path::Path;

/// What the filesystem holding a folder has left, against the configured floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskSpace {
    /// Bytes an unprivileged process may still write (`f_bavail`).
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub min_free_bytes: u64,
}

impl DiskSpace {
    /// Measures the filesystem of `folder` against a floor of `min_free_mb` MB (10^6 bytes).
    pub fn of(folder: &Path, min_free_mb: u64) -> std::io::Result<DiskSpace> {
        let stat = rustix::fs::statvfs(folder)?;
        Ok(DiskSpace {
            free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
            total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
            min_free_bytes: min_free_mb.saturating_mul(1_000_000),
        })
    }

    pub fn is_low(&self) -> bool {
        self.free_bytes < self.min_free_bytes
    }

    /// "120 MB free, below the 1024 MB floor (ingest.min_free_mb)".
    pub fn describe(&self) -> String {
        format!(
            "{} MB free of {} MB on the data dir's filesystem; the floor is {} MB (ingest.min_free_mb)",
            self.free_bytes / 1_000_000,
            self.total_bytes / 1_000_000,
            self.min_free_bytes / 1_000_000
        )
    }
}

/// Whether an I/O error (or a message carrying one, such as a worker's stderr) says the
/// disk is full.
pub fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_above_the_free_space_is_low() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::of(dir.path(), 0).unwrap();
        assert!(!space.is_low() && space.free_bytes > 0);
        let huge = DiskSpace::of(dir.path(), u64::MAX / 1_000_000).unwrap();
        assert!(huge.is_low(), "{}", huge.describe());
    }
}
