//! The fixed layout under the data dir.

use std::path::{Path, PathBuf};

/// Where Marquee keeps everything when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    let is_root = unsafe { libc::geteuid() } == 0;
    match std::env::var_os("HOME") {
        Some(home) if !is_root => PathBuf::from(home).join(".local/share/marquee"),
        _ => PathBuf::from("/var/lib/marquee"),
    }
}

/// The fixed layout under the data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: PathBuf) -> Self {
        DataDir { root }
    }
    /// The settings file the server reads: `config_file` (`--config`, `MARQUEE_CONFIG`),
    /// else `<data-dir>/marquee.toml`.
    pub fn settings_file(&self, config_file: Option<&Path>) -> PathBuf {
        config_file.map_or_else(|| self.root.join("marquee.toml"), Path::to_path_buf)
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("marquee.db")
    }
    /// Raw playback events (analytics), apart from the main database.
    pub fn events_db_path(&self) -> PathBuf {
        self.root.join("events.db")
    }
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn library(&self) -> PathBuf {
        self.root.join("library")
    }
    pub fn asset_dir(&self, asset_id: &str) -> PathBuf {
        self.library().join(asset_id)
    }
    /// Work in progress lives here, on the same filesystem as the library, so publishing is a rename.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }
    /// The catalog's artwork, resized (`images/<key>/<width>.jpg`), with the originals.
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    pub fn duplicates(&self) -> PathBuf {
        self.root.join("duplicates")
    }
    /// Sources of deleted assets and of orphaned packages: moved here, never deleted.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }
    /// Copies (or hard links) of files taken from outside the data dir: `marquee ingest`
    /// and inbox files reached through a symbolic link.
    pub fn imports(&self) -> PathBuf {
        self.root.join("imports")
    }

    /// Whether `path` is a file this data dir owns, and so may move: a regular file below
    /// one of its folders, reached without a symbolic link below that folder (the folder
    /// itself may be a link the operator made). A file reached through a link belongs to
    /// some other folder of the operator's and is never moved or deleted.
    pub fn owns(&self, path: &Path) -> bool {
        let bases = [
            self.inbox(),
            self.library(),
            self.staging(),
            self.imports(),
            self.uploads(),
            self.duplicates(),
            self.trash(),
        ];
        let Some((base, relative)) = bases
            .iter()
            .find_map(|b| path.strip_prefix(b).ok().map(|r| (b, r)))
        else {
            return false;
        };
        let mut at = base.clone();
        for part in relative.components() {
            if !matches!(part, std::path::Component::Normal(_)) {
                return false;
            }
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => return false,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
    }

    /// Resumable uploads: `<id>.part` while bytes arrive, then `<id>.<ext>` until its
    /// transcode publishes it into the library.
    pub fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// Snapshots taken before schema upgrades, and the database a restore moved aside.
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }
    /// TLS certificate and key (`tls/cert.pem`, `tls/key.pem`); part of every backup.
    pub fn tls(&self) -> PathBuf {
        self.root.join("tls")
    }

    pub fn create_all(&self) -> std::io::Result<()> {
        for dir in [
            self.root.clone(),
            self.inbox(),
            self.library(),
            self.staging(),
            self.uploads(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Ok(())
    }
}
