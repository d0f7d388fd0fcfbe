//! `marquee backup` and `marquee restore`: one `.tar.zst` archive holding a consistent
//! snapshot of the database and of `events.db` (playback analytics) (SQLite's online
//! backup API, safe beside a running server), the settings file the server reads (`--config`, else the data dir's), the keys (the
//! self-signed `tls/` and the ACME `acme/` folders) and, with `--media`, the library;
//! `manifest.json` last, with every file's size and BLAKE3 hash. Certificate files the
//! settings name (`tls.cert_file`) are the operator's and are not copied.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::DataDir;
use crate::db;

pub const FORMAT: &str = "marquee-backup";
/// 2: the settings file is `settings.toml`, wherever it was read from (version 1 held
/// the data dir's `marquee.toml`); the `acme/` folder is kept. 3: `events.db` (playback
/// analytics) is kept too, so an older Marquee refuses the archive by its version.
pub const FORMAT_VERSION: u32 = 3;
const MANIFEST: &str = "manifest.json";
const DB_FILE: &str = "marquee.db";
/// Playback events and their rollups (`analytics`), when the data dir has them.
const EVENTS_FILE: &str = "events.db";
/// The settings file's name in the data dir (read when no `--config` is given).
const CONFIG_FILE: &str = "marquee.toml";
/// The settings file's name in an archive, whatever its path was.
const SETTINGS_FILE: &str = "settings.toml";
/// The data dir's small folders that go in every backup: the self-signed certificate, the
/// ACME account and certificate, and the catalog's artwork.
const KEY_DIRS: [&str; 3] = ["tls", "acme", "images"];
/// The top-level names an archive may hold; anything else in one is refused. `marquee.toml`
/// is the settings file of a version 1 archive.
const TOP_LEVEL: [&str; 9] = [
    MANIFEST,
    DB_FILE,
    EVENTS_FILE,
    SETTINGS_FILE,
    CONFIG_FILE,
    "tls",
    "acme",
    "images",
    "library",
];
/// Mode of a settings file a restore creates: the installed one is root:marquee 0640
/// (it may hold the metrics token and ACME contact).
const SETTINGS_MODE: u32 = 0o640;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot snapshot the database {path}: {source}")]
    Snapshot {
        path: String,
        source: rusqlite::Error,
    },
    #[error("there is no database at {0}: is this the data dir?")]
    NoDatabase(String),
    #[error("{file} is not a Marquee backup: {reason}")]
    NotABackup { file: String, reason: String },
    #[error("{file} is damaged: {reason}")]
    Damaged { file: String, reason: String },
    #[error(
        "this backup's database has schema version {found}, but this Marquee ({binary}) knows schema versions up to {supported}; restore it with Marquee {made_by} or newer"
    )]
    NewerSchema {
        found: i64,
        supported: i64,
        made_by: String,
        binary: &'static str,
    },
    #[error(
        "{0} is not empty; restoring would replace what is there. Run again with --force to move the current database, config and keys (and library, for a backup with media) aside into backups/ first"
    )]
    NotEmpty(String),
    #[error(
        "the settings file {0} differs from the one in the backup; nothing was restored. Run again with --force to replace it (the current one is kept in backups/pre-restore-<time>/)"
    )]
    SettingsDiffer(String),
    #[error("the settings file {0} does not exist (given with --config or MARQUEE_CONFIG)")]
    NoSettingsFile(String),
    #[error(transparent)]
    Locked(#[from] super::lock::LockError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackupManifest {
    pub format: String,
    pub format_version: u32,
    /// The Marquee version that made the backup.
    pub marquee_version: String,
    /// `PRAGMA user_version` of the database in the archive.
    pub schema_version: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub media: bool,
    pub files: Vec<BackupFile>,
    /// Where the settings file in the archive (`settings.toml`) was read from; absent when
    /// there was none, and in version 1 archives (their `marquee.toml` was the data dir's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackupFile {
    /// Relative, `/`-separated.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// Writes a backup of `data` and of the settings file the server reads (`config_file`,
/// else the data dir's) to `to` (through a temporary name beside it, renamed once complete
/// and synced, so `to` is never a partial archive).
pub fn create(
    data: &DataDir,
    config_file: Option<&Path>,
    to: &Path,
    media: bool,
    now: i64,
) -> Result<BackupManifest, BackupError> {
    let db_path = data.db_path();
    if !db_path.is_file() {
        return Err(BackupError::NoDatabase(db_path.display().to_string()));
    }
    let settings = data.settings_file(config_file);
    // Named on the command line, it must be there: the server would refuse to start too.
    if config_file.is_some() && !settings.is_file() {
        return Err(BackupError::NoSettingsFile(settings.display().to_string()));
    }
    let folder = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .map_or("backup".into(), |n| n.to_string_lossy());
    remove_leftovers(folder, &name);
    let partial = folder.join(format!(".{name}.partial-{}", std::process::id()));
    let snapshot = folder.join(format!(".{name}.db-{}", std::process::id()));
    let events = folder.join(format!(".{name}.events-{}", std::process::id()));
    let snapshots = Snapshots {
        db: &snapshot,
        events: &events,
    };
    let result = write_archive(data, &settings, &partial, snapshots, media, now);
    let _ = std::fs::remove_file(&snapshot);
    let _ = std::fs::remove_file(&events);
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to)
        .map_err(io(format!("cannot rename the archive to {}", to.display())))?;
    sync_folder(folder);
    Ok(manifest)
}

/// Removes the temporary files of earlier backups to the same name whose process is gone
/// (killed halfway): `.<name>.partial-<pid>` and `.<name>.db-<pid>`.
fn remove_leftovers(folder: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&format!(".{name}.")))
        else {
            continue;
        };
        let pid = rest
            .strip_prefix("partial-")
            .or_else(|| rest.strip_prefix("db-"))
            .or_else(|| rest.strip_prefix("events-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where the databases' snapshots are written before they go into the archive.
#[derive(Clone, Copy)]
struct Snapshots<'a> {
    db: &'a Path,
    events: &'a Path,
}

fn write_archive(
    data: &DataDir,
    settings: &Path,
    partial: &Path,
    snapshots: Snapshots,
    media: bool,
    now: i64,
) -> Result<BackupManifest, BackupError> {
    let snapshot = snapshots.db;
    let db_path = data.db_path();
    let snapshot_error = |source| BackupError::Snapshot {
        path: db_path.display().to_string(),
        source,
    };
    let conn = db::open_read_only(&db_path).map_err(snapshot_error)?;
    db::snapshot(&conn, snapshot).map_err(snapshot_error)?;
    drop(conn);
    let schema_version = db::open_read_only(snapshot)
        .and_then(|c| db::schema_version_of(&c))
        .map_err(snapshot_error)?;

    let out = File::create(partial).map_err(io(format!("cannot create {}", partial.display())))?;
    let encoder =
        zstd::Encoder::new(BufWriter::new(out), 3).map_err(io("cannot start compressing"))?;
    let mut tar = tar::Builder::new(encoder);
    let mut files = Vec::new();
    files.push(append_file(&mut tar, snapshot, DB_FILE)?);
    let events_path = data.events_db_path();
    if events_path.is_file() {
        let events_error = |source| BackupError::Snapshot {
            path: events_path.display().to_string(),
            source,
        };
        let conn = db::open_read_only(&events_path).map_err(events_error)?;
        db::snapshot(&conn, snapshots.events).map_err(events_error)?;
        drop(conn);
        files.push(append_file(&mut tar, snapshots.events, EVENTS_FILE)?);
    }
    let settings_path = if settings.is_file() {
        files.push(append_file(&mut tar, settings, SETTINGS_FILE)?);
        Some(std::path::absolute(settings).map_or_else(
            |_| settings.display().to_string(),
            |p| p.display().to_string(),
        ))
    } else {
        None
    };
    for dir in KEY_DIRS {
        append_tree(&mut tar, &data.root.join(dir), dir, &mut files)?;
    }
    if media {
        append_tree(&mut tar, &data.library(), "library", &mut files)?;
    }
    let manifest = BackupManifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        marquee_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        created_at: now,
        media,
        files,
        settings_path,
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("the manifest serialises");
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(now.max(0) as u64);
    tar.append_data(&mut header, MANIFEST, text.as_slice())
        .map_err(io("cannot write the archive"))?;
    let encoder = tar.into_inner().map_err(io("cannot write the archive"))?;
    let out = encoder.finish().map_err(io("cannot write the archive"))?;
    let file = out.into_inner().map_err(|e| BackupError::Io {
        what: "cannot write the archive".into(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io("cannot sync the archive"))?;
    Ok(manifest)
}

/// Adds one file under `name`, hashing it as it is read.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
) -> Result<BackupFile, BackupError> {
    let file = File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(io(format!("cannot read {}", path.display())))?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&meta);
    let mut reader = Hashing {
        inner: BufReader::new(file),
        hasher: blake3::Hasher::new(),
        read: 0,
    };
    tar.append_data(&mut header, name, &mut reader)
        .map_err(io(format!("cannot archive {}", path.display())))?;
    Ok(BackupFile {
        path: name.into(),
        size: reader.read,
        blake3: reader.hasher.finalize().to_hex().to_string(),
    })
}

/// Adds every regular file below `folder` (symbolic links and special files are not
/// followed or kept); a missing folder adds nothing.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    folder: &Path,
    name: &str,
    files: &mut Vec<BackupFile>,
) -> Result<(), BackupError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(format!("cannot list {}", folder.display()))(e)),
    };
    let mut entries: Vec<_> = entries
        .collect::<Result<_, _>>()
        .map_err(io(format!("cannot list {}", folder.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(leaf) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = ?entry.path(), "not backed up: the name is not UTF-8");
            continue;
        };
        let path = entry.path();
        let child = format!("{name}/{leaf}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => append_tree(tar, &path, &child, files)?,
            Ok(t) if t.is_file() => match append_file(tar, &path, &child) {
                Ok(file) => files.push(file),
                // Deleted while the backup ran: the database snapshot was taken first.
                Err(BackupError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            _ => tracing::warn!(path = ?path, "not backed up: not a plain file or folder"),
        }
    }
    Ok(())
}

struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[derive(Debug)]
pub struct Restored {
    pub manifest: BackupManifest,
    /// Where the replaced database, config and keys were moved, when `--force` replaced any.
    pub moved_aside: Option<PathBuf>,
    pub settings: SettingsRestored,
}

/// What a restore did with the settings file.
#[derive(Debug, PartialEq)]
pub enum SettingsRestored {
    /// The backup holds none; the settings file was left as it was.
    NotInBackup,
    /// The file at this path already held the backup's settings.
    Unchanged(PathBuf),
    Written(PathBuf),
}

/// Restores `from` into `data`, and its settings file to the one the server reads
/// (`config_file`, else the data dir's): unpacks into a folder inside the data dir, checks
/// every file against the manifest and the schema version against this binary, and only
/// then moves the files into place. A data dir that is not empty, or a settings file that
/// differs from the backup's, is refused unless `force`; then what the backup replaces is
/// moved (the settings file copied) to `backups/pre-restore-<now>/`, never deleted.
pub fn restore(
    data: &DataDir,
    config_file: Option<&Path>,
    from: &Path,
    force: bool,
    now: i64,
) -> Result<Restored, BackupError> {
    std::fs::create_dir_all(&data.root)
        .map_err(io(format!("cannot create {}", data.root.display())))?;
    let _lock = super::lock::DataDirLock::acquire(&data.root)?;
    let unpacked = data.root.join(format!(".restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&unpacked);
    let settings = data.settings_file(config_file);
    let result = unpack_and_check(from, &unpacked).and_then(|manifest| {
        let (moved_aside, settings) = install(data, &unpacked, &settings, &manifest, force, now)?;
        Ok(Restored {
            manifest,
            moved_aside,
            settings,
        })
    });
    let _ = std::fs::remove_dir_all(&unpacked);
    result
}

fn unpack_and_check(from: &Path, unpacked: &Path) -> Result<BackupManifest, BackupError> {
    let file_name = from.display().to_string();
    let not_a_backup = |reason: String| BackupError::NotABackup {
        file: file_name.clone(),
        reason,
    };
    let damaged = |reason: String| BackupError::Damaged {
        file: file_name.clone(),
        reason,
    };
    let archive = File::open(from).map_err(io(format!("cannot read {}", from.display())))?;
    let decoder = zstd::Decoder::new(archive).map_err(|e| not_a_backup(e.to_string()))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(false);
    tar.set_unpack_xattrs(false);
    std::fs::create_dir_all(unpacked)
        .map_err(io(format!("cannot create {}", unpacked.display())))?;
    let mut unpacked_files = Vec::new();
    let entries = tar.entries().map_err(|e| not_a_backup(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not_a_backup(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .into_owned();
        let Some(name) = safe_relative(&path) else {
            return Err(damaged(format!(
                "it holds an unsafe path {}",
                path.display()
            )));
        };
        if !entry.header().entry_type().is_file() {
            return Err(damaged(format!("{name} is not a plain file")));
        }
        if !TOP_LEVEL.contains(&name.split('/').next().unwrap_or_default()) {
            return Err(damaged(format!("it holds an unexpected file {name}")));
        }
        let unpacked_ok = entry
            .unpack_in(unpacked)
            .map_err(|e| damaged(format!("cannot unpack {name}: {e}")))?;
        if !unpacked_ok {
            return Err(damaged(format!("it holds an unsafe path {name}")));
        }
        unpacked_files.push(name);
    }
    let text = std::fs::read(unpacked.join(MANIFEST))
        .map_err(|_| not_a_backup("it has no manifest.json".into()))?;
    let manifest: BackupManifest =
        serde_json::from_slice(&text).map_err(|e| not_a_backup(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
        return Err(not_a_backup(format!(
            "its format is {} version {}; this Marquee reads {FORMAT} up to version {FORMAT_VERSION}",
            manifest.format, manifest.format_version
        )));
    }
    if manifest.schema_version > db::schema_version() {
        return Err(BackupError::NewerSchema {
            found: manifest.schema_version,
            supported: db::schema_version(),
            made_by: manifest.marquee_version.clone(),
            binary: concat!("version ", env!("CARGO_PKG_VERSION")),
        });
    }
    // Listed paths are plain relative ones, as the archive's own are, all checked before
    // any is opened: an absolute or parent path would have the check below read (and
    // compare the hash of) a file outside the archive.
    if let Some(unsafe_path) = manifest
        .files
        .iter()
        .find(|f| safe_relative(Path::new(&f.path)).as_deref() != Some(f.path.as_str()))
    {
        return Err(damaged(format!(
            "its manifest lists an unsafe path {}",
            unsafe_path.path
        )));
    }
    // Every file listed, with its size and hash; nothing unlisted; the database included.
    for listed in &manifest.files {
        let path = unpacked.join(&listed.path);
        let mut file = File::open(&path)
            .map_err(|_| damaged(format!("{} is listed but missing", listed.path)))?;
        let mut hasher = blake3::Hasher::new();
        let size = std::io::copy(&mut file, &mut hasher)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if size != listed.size || hasher.finalize().to_hex().as_str() != listed.blake3 {
            return Err(damaged(format!(
                "{} does not match its checksum",
                listed.path
            )));
        }
    }
    if let Some(extra) = unpacked_files
        .iter()
        .find(|f| *f != MANIFEST && !manifest.files.iter().any(|l| &l.path == *f))
    {
        return Err(damaged(format!("{extra} is not in the manifest")));
    }
    if !manifest.files.iter().any(|f| f.path == DB_FILE) {
        return Err(damaged("it holds no database".into()));
    }
    let found = db::open_read_only(&unpacked.join(DB_FILE))
        .and_then(|c| db::schema_version_of(&c))
        .map_err(|e| damaged(format!("the database cannot be read: {e}")))?;
    if found != manifest.schema_version {
        return Err(damaged(format!(
            "the database has schema version {found}, the manifest says {}",
            manifest.schema_version
        )));
    }
    Ok(manifest)
}

/// `a/b/c` for a path of plain components only.
fn safe_relative(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => parts.push(p.to_str()?),
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Moves the checked files into the data dir and writes the settings file to `settings`,
/// moving aside what they replace. Everything that could refuse is checked first.
fn install(
    data: &DataDir,
    unpacked: &Path,
    settings: &Path,
    manifest: &BackupManifest,
    force: bool,
    now: i64,
) -> Result<(Option<PathBuf>, SettingsRestored), BackupError> {
    let unpacked_name = unpacked.file_name().unwrap_or_default();
    let occupied = std::fs::read_dir(&data.root)
        .map_err(io(format!("cannot list {}", data.root.display())))?
        .flatten()
        .any(|e| e.file_name() != unpacked_name && e.file_name() != super::lock::LOCK_FILE);
    if occupied && !force {
        return Err(BackupError::NotEmpty(data.root.display().to_string()));
    }
    // A version 1 archive holds the data dir's `marquee.toml` instead.
    let archived_settings = match [SETTINGS_FILE, CONFIG_FILE]
        .iter()
        .map(|name| unpacked.join(name))
        .find(|p| p.is_file())
    {
        Some(path) => {
            Some(std::fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?)
        }
        None => None,
    };
    let current_settings = match std::fs::read(settings) {
        Ok(bytes) => {
            let meta = std::fs::metadata(settings)
                .map_err(io(format!("cannot read {}", settings.display())))?;
            Some((bytes, meta))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(format!("cannot read {}", settings.display()))(e)),
    };
    let settings_differ = matches!(
        (&archived_settings, &current_settings),
        (Some(new), Some((old, _))) if new != old
    );
    if settings_differ && !force {
        return Err(BackupError::SettingsDiffer(settings.display().to_string()));
    }

    let aside = data.backups().join(format!("pre-restore-{now}"));
    let in_data_dir = settings == data.root.join(CONFIG_FILE);
    let mut replaced = vec![
        DB_FILE.to_string(),
        format!("{DB_FILE}-wal"),
        format!("{DB_FILE}-shm"),
        EVENTS_FILE.to_string(),
        format!("{EVENTS_FILE}-wal"),
        format!("{EVENTS_FILE}-shm"),
    ];
    // The data dir's settings file, when the server reads another, goes with the rest.
    if !in_data_dir {
        replaced.push(CONFIG_FILE.into());
    }
    replaced.extend(KEY_DIRS.map(String::from));
    if manifest.media {
        replaced.push("library".into());
    }
    let mut moved_any = false;
    // The settings file the backup replaces is copied aside, never moved: it stays in
    // place until the atomic write below replaces it.
    if settings_differ && let Some((old, _)) = &current_settings {
        std::fs::create_dir_all(&aside)
            .map_err(io(format!("cannot create {}", aside.display())))?;
        let copy = aside.join(SETTINGS_FILE);
        crate::disk::write_atomic(&copy, old, 0o600)
            .map_err(io(format!("cannot write {}", copy.display())))?;
        moved_any = true;
    }
    for name in &replaced {
        let current = data.root.join(name);
        if std::fs::symlink_metadata(&current).is_err() {
            continue;
        }
        std::fs::create_dir_all(&aside)
            .map_err(io(format!("cannot create {}", aside.display())))?;
        std::fs::rename(&current, aside.join(name))
            .map_err(io(format!("cannot move {} aside", current.display())))?;
        moved_any = true;
    }
    // Run as root for a service that runs as its own user, the restored files must be that
    // user's, or the server could not write its own database.
    let owner = std::fs::metadata(&data.root)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.uid(), m.gid())
        })
        .map_err(io(format!("cannot read {}", data.root.display())))?;
    for name in [DB_FILE, EVENTS_FILE, "tls", "acme", "images", "library"] {
        let from = unpacked.join(name);
        if from.exists() {
            hand_over(&from, owner)?;
            let to = data.root.join(name);
            std::fs::rename(&from, &to)
                .map_err(io(format!("cannot move {} into place", to.display())))?;
        }
    }
    let settings_restored = match archived_settings {
        None => SettingsRestored::NotInBackup,
        Some(_) if !settings_differ && current_settings.is_some() => {
            SettingsRestored::Unchanged(settings.to_path_buf())
        }
        Some(new) => {
            let replaced = current_settings.map(|(_, meta)| meta);
            write_settings(settings, in_data_dir, &new, replaced, owner)?;
            SettingsRestored::Written(settings.to_path_buf())
        }
    };
    if moved_any {
        // The server writes its pre-migration snapshots into backups/ too.
        hand_over(&data.backups(), owner)?;
    }
    sync_folder(&data.root);
    Ok((moved_any.then_some(aside), settings_restored))
}

/// Writes the restored settings file atomically. A file it replaces keeps its owner and
/// mode; a new one is 0640, readable by the data dir owner's group (the service's): the
/// data dir's own file belongs to that owner, one elsewhere (/etc/marquee) to root.
fn write_settings(
    path: &Path,
    in_data_dir: bool,
    bytes: &[u8],
    replaced: Option<std::fs::Metadata>,
    data_owner: (u32, u32),
) -> Result<(), BackupError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let (uid, gid, mode) = match &replaced {
        Some(meta) => (meta.uid(), meta.gid(), meta.mode() & 0o777),
        None if in_data_dir => (data_owner.0, data_owner.1, SETTINGS_MODE),
        None => (me, data_owner.1, SETTINGS_MODE),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    }
    crate::disk::write_atomic(path, bytes, mode)
        .map_err(io(format!("cannot write {}", path.display())))?;
    // The creation mode went through the umask; the owner is set only where this process
    // may (root), as restore runs for an installed service.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("cannot set the mode of {}", path.display())))?;
    if me == 0 {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(io(format!("cannot hand {} to uid {uid}", path.display())))?;
    }
    Ok(())
}

/// Gives `path` (and everything below it) to `owner` (uid, gid) when this process may
/// (root) and the owner is someone else; files unpacked by that owner are theirs already.
fn hand_over(path: &Path, owner: (u32, u32)) -> Result<(), BackupError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let (uid, gid) = owner;
    if me != 0 || uid == me {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(io(format!("cannot hand {} to uid {uid}", path.display())))?;
    if path.is_dir() && !path.is_symlink() {
        let entries =
            std::fs::read_dir(path).map_err(io(format!("cannot list {}", path.display())))?;
        for entry in entries.flatten() {
            hand_over(&entry.path(), owner)?;
        }
    }
    Ok(())
}

fn sync_folder(folder: &Path) {
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.tar.zst` holding only a manifest that lists `listed` with the size and hash of
    /// `real` (a file outside the archive).
    fn archive_listing(dir: &Path, listed: &str, real: &Path) -> PathBuf {
        let bytes = std::fs::read(real).unwrap();
        let manifest = BackupManifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            marquee_version: "test".into(),
            schema_version: 1,
            created_at: 0,
            media: false,
            files: vec![BackupFile {
                path: listed.into(),
                size: bytes.len() as u64,
                blake3: blake3::hash(&bytes).to_hex().to_string(),
            }],
            settings_path: None,
        };
        let text = serde_json::to_vec(&manifest).unwrap();
        let path = dir.join(format!("crafted-{}.tar.zst", listed.len()));
        let encoder = zstd::Encoder::new(File::create(&path).unwrap(), 3).unwrap();
        let mut tar = tar::Builder::new(encoder);
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, &text[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn a_manifest_naming_an_absolute_or_parent_path_is_refused_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, b"not the archive's").unwrap();
        let unpacked = dir.path().join("data").join(".restore");
        for listed in [
            outside.display().to_string(),
            "../../outside.txt".to_string(),
            "library/../../../outside.txt".to_string(),
        ] {
            let archive = archive_listing(dir.path(), &listed, &outside);
            let err = unpack_and_check(&archive, &unpacked).unwrap_err();
            assert!(
                matches!(&err, BackupError::Damaged { reason, .. }
                    if reason == &format!("its manifest lists an unsafe path {listed}")),
                "{listed}: {err}"
            );
            let _ = std::fs::remove_dir_all(&unpacked);
        }
    }
}
