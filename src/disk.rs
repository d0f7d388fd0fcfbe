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

/// Writes `bytes` to `path` through a temporary file beside it (`.<name>.tmp`), fsync and a
/// rename, then fsyncs the folder: a crash or `kill -9` leaves the old file or the new one,
/// never a torn one. `mode` applies from creation on, so a key is never readable by others,
/// not even for a moment. A temp file left by a crash is replaced, not piled up.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temp);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
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
