//! Publishing a finished package: the staging folder is renamed into the library in one
//! step, then the source joins it. Every step can be repeated after a crash, and
//! [`recover`] finishes whatever a crash interrupted.

use std::path::{Path, PathBuf};

use crate::catalog::{self, Asset};
use crate::config::DataDir;
use crate::media::PackageManifest;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot publish {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "the source {0} is not a plain file of the data dir (a symbolic link?); it was left where it is"
    )]
    NotOurs(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PublishError {
    let what = what.into();
    move |source| PublishError::Io { what, source }
}

/// Moves `staging` to `library/<asset>/` and the source (and sidecars) into it.
/// Returns the source's new path.
pub fn publish(data: &DataDir, asset: &Asset, staging: &Path) -> Result<PathBuf, PublishError> {
    let target = data.asset_dir(&asset.id);
    if target.exists() {
        if find_source_in(&target).is_some() {
            // An earlier attempt got as far as moving the source in: that package stands.
            let _ = std::fs::remove_dir_all(staging);
            return adopt_source(data, asset, &target);
        }
        std::fs::remove_dir_all(&target).map_err(io(format!("stale {}", target.display())))?;
    }
    std::fs::rename(staging, &target).map_err(io(format!(
        "{} to {}",
        staging.display(),
        target.display()
    )))?;
    sync_dir(&data.library());
    adopt_source(data, asset, &target)
}

/// Moves the source and its sidecars into the published folder (no-op if already there).
fn adopt_source(data: &DataDir, asset: &Asset, target: &Path) -> Result<PathBuf, PublishError> {
    if let Some(existing) = find_source_in(target) {
        return Ok(existing);
    }
    let ext = asset
        .source_path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
        .unwrap_or_default();
    let dest = target.join(format!("source{ext}"));
    if !take_file(data, &asset.source_path, &dest)? {
        return Err(PublishError::NotOurs(
            asset.source_path.display().to_string(),
        ));
    }
    for sidecar in &asset.sidecars {
        if let Some(name) = sidecar.path.file_name()
            && sidecar.path.exists()
        {
            let dir = target.join("sidecars");
            std::fs::create_dir_all(&dir).map_err(io("sidecars folder"))?;
            take_file(data, &sidecar.path, &dir.join(name))?;
        }
    }
    sync_dir(target);
    Ok(dest)
}

fn find_source_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file() && p.file_stem().is_some_and(|s| s == "source"))
}

/// Moves a file the data dir owns into place and says true. A file it does not own
/// (reached through a symbolic link, so it lies in another folder) is left alone and not
/// even opened: the server must never open what a link names (closing any handle on the
/// database file would drop SQLite's locks), nor change the operator's other folders.
pub fn take_file(data: &DataDir, from: &Path, to: &Path) -> Result<bool, PublishError> {
    if data.owns(from) {
        move_file(from, to)?;
        Ok(true)
    } else {
        tracing::warn!(file = ?from, "not moved: it is not a plain file of the data dir");
        Ok(false)
    }
}

/// Rename, or copy + fsync + remove when the source is on another filesystem.
fn move_file(from: &Path, to: &Path) -> Result<(), PublishError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_file(from, to)?;
            std::fs::remove_file(from).map_err(io(format!("removal of {}", from.display())))
        }
        Err(e) => Err(PublishError::Io {
            what: format!("{} to {}", from.display(), to.display()),
            source: e,
        }),
    }
}

/// Copy under a temporary name, fsync, rename: `to` is either absent or complete.
fn copy_file(from: &Path, to: &Path) -> Result<(), PublishError> {
    let tmp = to.with_extension("partial");
    std::fs::copy(from, &tmp).map_err(io(format!("copy of {}", from.display())))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("fsync"))?;
    std::fs::rename(&tmp, to).map_err(io(format!("{}", to.display())))
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// After a crash: an asset not marked ready whose package already sits in the library was
/// interrupted mid-publish. Returns the assets to mark ready, with their source paths.
pub fn interrupted_publishes(
    data: &DataDir,
    unfinished: &[Asset],
) -> Vec<(String, PathBuf, PackageManifest)> {
    let mut done = Vec::new();
    for asset in unfinished {
        let target = data.asset_dir(&asset.id);
        let Ok(manifest) = crate::media::contents::read_manifest(&target) else {
            continue;
        };
        match adopt_source(data, asset, &target) {
            Ok(source) => done.push((asset.id.clone(), source, manifest)),
            Err(e) => {
                tracing::warn!(asset = %asset.id, error = %e, "cannot finish an interrupted publish")
            }
        }
    }
    done
}

/// Lists the files of packages made before manifests recorded them, rewriting each
/// `package.json`. Returns the assets with their new manifests; a package that cannot be
/// listed is logged and left out (the origin serves nothing of it).
pub fn list_legacy_packages(data: &DataDir, assets: &[String]) -> Vec<(String, PackageManifest)> {
    let mut listed = Vec::new();
    for asset in assets {
        match crate::media::contents::upgrade(&data.asset_dir(asset)) {
            Ok(manifest) => listed.push((asset.clone(), manifest)),
            Err(e) => {
                tracing::error!(asset = %asset, error = %e, "cannot list the files of a package")
            }
        }
    }
    listed
}

/// Removes staging folders that no running job owns.
pub fn clean_staging(data: &DataDir, keep: &dyn Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(data.staging()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep(&name) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Takes a deleted asset off disk: its source and sidecars go to `trash/<asset>/` (never
/// deleted), its package is removed. The source is looked for where the asset row says and
/// in the package folder, since a publish may have moved it there; the package folder is
/// only removed once nothing of the operator's is left in it. Returns the trash folder.
pub fn discard(data: &DataDir, asset: &Asset) -> Result<PathBuf, PublishError> {
    let mut originals = vec![asset.source_path.clone()];
    originals.extend(asset.sidecars.iter().map(|s| s.path.clone()));
    to_trash(data, &asset.id, originals)
}

/// A library folder with no asset row: its source and sidecars to the trash, then gone.
pub fn discard_orphan(data: &DataDir, folder: &str) -> Result<PathBuf, PublishError> {
    to_trash(data, folder, Vec::new())
}

fn to_trash(
    data: &DataDir,
    id: &str,
    mut originals: Vec<PathBuf>,
) -> Result<PathBuf, PublishError> {
    let trash = data.trash().join(id);
    let package = data.asset_dir(id);
    originals.extend(find_source_in(&package));
    if let Ok(entries) = std::fs::read_dir(package.join("sidecars")) {
        originals.extend(entries.flatten().map(|e| e.path()));
    }
    // The row's path and the package folder name the same file once published.
    originals.sort();
    originals.dedup();
    let originals: Vec<PathBuf> = originals.into_iter().filter(|f| f.is_file()).collect();
    if !originals.is_empty() {
        std::fs::create_dir_all(&trash).map_err(io(format!("{}", trash.display())))?;
    }
    for file in originals {
        if let Some(name) = file.file_name() {
            take_file(data, &file, &free_name(&trash.join(name)))?;
        }
    }
    sync_dir(&trash);
    if package.exists() {
        std::fs::remove_dir_all(&package).map_err(io(format!("{}", package.display())))?;
    }
    Ok(trash)
}

/// `path`, or `path` with a number before its name when that is taken.
pub fn free_name(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let name = name.to_string_lossy();
    let mut candidate = path.to_path_buf();
    let mut n = 1;
    while candidate.exists() {
        candidate = dir.join(format!("{n}-{name}"));
        n += 1;
    }
    candidate
}

/// The names of the folders in `library/`: asset ids, and whatever else lies there.
pub fn library_folders(data: &DataDir) -> Vec<String> {
    std::fs::read_dir(data.library())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn staging_name(asset_id: &str, job_id: i64) -> String {
    format!("{asset_id}-{job_id}")
}

pub use catalog::AssetStatus;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::package::MANIFEST_NAME;
    use crate::media::{Sidecar, SidecarKind};

    struct Fixture {
        _tmp: tempfile::TempDir,
        data: DataDir,
        outside: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path().join("data"));
        data.create_all().unwrap();
        let outside = tmp.path().join("operator");
        std::fs::create_dir_all(&outside).unwrap();
        Fixture {
            _tmp: tmp,
            data,
            outside,
        }
    }

    fn asset(id: &str, source: PathBuf, sidecars: Vec<PathBuf>) -> Asset {
        Asset {
            id: id.into(),
            title: "t".into(),
            description: String::new(),
            status: AssetStatus::Processing,
            progress: 0.0,
            eta_secs: None,
            error: None,
            source_path: source,
            source_size: 0,
            source_mtime: 0,
            content_hash: None,
            sidecars: sidecars
                .into_iter()
                .map(|path| Sidecar {
                    path,
                    kind: SidecarKind::Poster,
                })
                .collect(),
            duration_secs: None,
            manifest: None,
            created_at: 0,
            updated_at: 0,
            ready_at: None,
        }
    }

    fn staging_with_package(data: &DataDir, name: &str) -> PathBuf {
        let staging = data.staging().join(name);
        std::fs::create_dir_all(staging.join("video_240p")).unwrap();
        std::fs::write(staging.join("master.m3u8"), b"#EXTM3U\n").unwrap();
        std::fs::write(staging.join("video_240p/seg_00000.m4s"), b"seg").unwrap();
        std::fs::write(staging.join(MANIFEST_NAME), b"{}").unwrap();
        staging
    }

    #[test]
    fn publish_renames_the_package_in_and_moves_the_source_after_it() {
        let f = fixture();
        let source = f.data.inbox().join("film.mp4");
        let poster = f.data.inbox().join("film.jpg");
        std::fs::write(&source, b"source bytes").unwrap();
        std::fs::write(&poster, b"poster").unwrap();
        let staging = staging_with_package(&f.data, "abcd-1");
        let a = asset("abcd", source.clone(), vec![poster.clone()]);

        let published = publish(&f.data, &a, &staging).unwrap();
        let package = f.data.asset_dir("abcd");
        assert_eq!(published, package.join("source.mp4"));
        assert_eq!(std::fs::read(&published).unwrap(), b"source bytes");
        assert_eq!(
            std::fs::read(package.join("sidecars/film.jpg")).unwrap(),
            b"poster"
        );
        assert!(package.join("video_240p/seg_00000.m4s").is_file());
        assert!(!staging.exists() && !source.exists() && !poster.exists());

        // Run again (a crash after the move): the package stands, nothing is lost.
        let again = staging_with_package(&f.data, "abcd-2");
        assert_eq!(publish(&f.data, &a, &again).unwrap(), published);
        assert!(!again.exists());
        assert_eq!(std::fs::read(&published).unwrap(), b"source bytes");
    }

    #[test]
    fn a_stale_package_without_its_source_is_replaced_whole() {
        let f = fixture();
        let source = f.data.inbox().join("film.mp4");
        std::fs::write(&source, b"src").unwrap();
        let stale = f.data.asset_dir("abcd");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("old.m4s"), b"old").unwrap();
        let staging = staging_with_package(&f.data, "abcd-1");
        publish(&f.data, &asset("abcd", source, vec![]), &staging).unwrap();
        assert!(!stale.join("old.m4s").exists());
        assert!(stale.join("master.m3u8").is_file());
    }

    #[test]
    fn discard_finds_the_source_where_a_publish_left_it() {
        let f = fixture();
        // The row still names the inbox, but a publish has moved the source in.
        let package = f.data.asset_dir("abcd");
        std::fs::create_dir_all(package.join("sidecars")).unwrap();
        std::fs::write(package.join("source.mp4"), b"the only copy").unwrap();
        std::fs::write(package.join("sidecars/film.en.srt"), b"subs").unwrap();
        std::fs::write(package.join("master.m3u8"), b"#EXTM3U").unwrap();
        let a = asset("abcd", f.data.inbox().join("film.mp4"), vec![]);

        let trash = discard(&f.data, &a).unwrap();
        assert_eq!(
            std::fs::read(trash.join("source.mp4")).unwrap(),
            b"the only copy"
        );
        assert_eq!(std::fs::read(trash.join("film.en.srt")).unwrap(), b"subs");
        assert!(!package.exists());
    }

    #[test]
    fn discard_of_an_unpublished_asset_moves_the_inbox_file_to_the_trash() {
        let f = fixture();
        let source = f.data.inbox().join("film.mp4");
        std::fs::write(&source, b"src").unwrap();
        // A name already in the trash is not overwritten.
        std::fs::create_dir_all(f.data.trash().join("abcd")).unwrap();
        std::fs::write(f.data.trash().join("abcd/film.mp4"), b"earlier").unwrap();
        let trash = discard(&f.data, &asset("abcd", source.clone(), vec![])).unwrap();
        assert!(!source.exists());
        assert_eq!(std::fs::read(trash.join("film.mp4")).unwrap(), b"earlier");
        assert_eq!(std::fs::read(trash.join("1-film.mp4")).unwrap(), b"src");
    }

    #[test]
    fn files_of_other_folders_are_never_opened_moved_or_copied() {
        let f = fixture();
        let theirs = f.outside.join("film.mp4");
        std::fs::write(&theirs, b"operator's file").unwrap();
        let link = f.data.inbox().join("film.mp4");
        std::os::unix::fs::symlink(&theirs, &link).unwrap();
        let staging = staging_with_package(&f.data, "abcd-1");
        let err = publish(&f.data, &asset("abcd", link.clone(), vec![]), &staging).unwrap_err();
        assert!(matches!(err, PublishError::NotOurs(_)), "{err}");
        assert!(!f.data.asset_dir("abcd").join("source.mp4").exists());
        assert_eq!(std::fs::read(&theirs).unwrap(), b"operator's file");

        // A linked sidecar is not taken along; the package still publishes.
        let source = f.data.inbox().join("own.mp4");
        std::fs::write(&source, b"own").unwrap();
        let staging = staging_with_package(&f.data, "efgh-1");
        publish(
            &f.data,
            &asset("efgh", source, vec![link.clone()]),
            &staging,
        )
        .unwrap();
        assert!(!f.data.asset_dir("efgh").join("sidecars/film.mp4").exists());

        let trash = discard(&f.data, &asset("ijkl", theirs.clone(), vec![])).unwrap();
        assert!(!trash.join("film.mp4").exists());
        assert!(
            theirs.is_file() && link.is_symlink(),
            "the operator's file stays where it was"
        );
    }

    #[test]
    fn an_orphaned_package_goes_but_its_source_is_kept_in_the_trash() {
        let f = fixture();
        let package = f.data.asset_dir("zzzz");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("source.mkv"), b"keep me").unwrap();
        std::fs::write(package.join("master.m3u8"), b"#EXTM3U").unwrap();
        assert_eq!(library_folders(&f.data), vec!["zzzz".to_string()]);
        let trash = discard_orphan(&f.data, "zzzz").unwrap();
        assert_eq!(std::fs::read(trash.join("source.mkv")).unwrap(), b"keep me");
        assert!(!package.exists());
    }
}
