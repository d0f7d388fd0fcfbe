//! Publishing a finished package: the staging folder is renamed into the library in one
//! step, then the source joins it. Every step can be repeated after a crash, and
//! [`recover`] finishes whatever a crash interrupted.

use std::path::{Path, PathBuf};

use crate::catalog::{self, Asset};
use crate::config::DataDir;
use crate::media::{PackageManifest, package::MANIFEST_NAME};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot publish {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the package manifest is unreadable: {0}")]
    Manifest(String),
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
            return adopt_source(asset, &target);
        }
        std::fs::remove_dir_all(&target).map_err(io(format!("stale {}", target.display())))?;
    }
    std::fs::rename(staging, &target).map_err(io(format!(
        "{} to {}",
        staging.display(),
        target.display()
    )))?;
    sync_dir(&data.library());
    adopt_source(asset, &target)
}

/// Moves the source and its sidecars into the published folder (no-op if already there).
fn adopt_source(asset: &Asset, target: &Path) -> Result<PathBuf, PublishError> {
    if let Some(existing) = find_source_in(target) {
        return Ok(existing);
    }
    let ext = asset
        .source_path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
        .unwrap_or_default();
    let dest = target.join(format!("source{ext}"));
    move_file(&asset.source_path, &dest)?;
    for sidecar in &asset.sidecars {
        if let Some(name) = sidecar.path.file_name()
            && sidecar.path.exists()
        {
            let dir = target.join("sidecars");
            std::fs::create_dir_all(&dir).map_err(io("sidecars folder"))?;
            move_file(&sidecar.path, &dir.join(name))?;
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

/// Rename, or copy + fsync + remove when the source is on another filesystem.
pub fn move_file(from: &Path, to: &Path) -> Result<(), PublishError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let tmp = to.with_extension("partial");
            std::fs::copy(from, &tmp).map_err(io(format!("copy of {}", from.display())))?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io("fsync"))?;
            std::fs::rename(&tmp, to).map_err(io(format!("{}", to.display())))?;
            std::fs::remove_file(from).map_err(io(format!("removal of {}", from.display())))
        }
        Err(e) => Err(PublishError::Io {
            what: format!("{} to {}", from.display(), to.display()),
            source: e,
        }),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

pub fn read_manifest(dir: &Path) -> Result<PackageManifest, PublishError> {
    let text = std::fs::read_to_string(dir.join(MANIFEST_NAME)).map_err(io("manifest"))?;
    serde_json::from_str(&text).map_err(|e| PublishError::Manifest(e.to_string()))
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
        let Ok(manifest) = read_manifest(&target) else {
            continue;
        };
        match adopt_source(asset, &target) {
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
/// deleted), its package is removed. Returns the trash folder.
pub fn discard(data: &DataDir, asset: &Asset) -> Result<PathBuf, PublishError> {
    let trash = data.root.join("trash").join(&asset.id);
    std::fs::create_dir_all(&trash).map_err(io(format!("{}", trash.display())))?;
    let package = data.asset_dir(&asset.id);
    let mut originals = vec![asset.source_path.clone()];
    originals.extend(asset.sidecars.iter().map(|s| s.path.clone()));
    if let Ok(entries) = std::fs::read_dir(package.join("sidecars")) {
        originals.extend(entries.flatten().map(|e| e.path()));
    }
    for file in originals.into_iter().filter(|f| f.is_file()) {
        if let Some(name) = file.file_name() {
            move_file(&file, &trash.join(name))?;
        }
    }
    if package.exists() {
        std::fs::remove_dir_all(&package).map_err(io(format!("{}", package.display())))?;
    }
    Ok(trash)
}

pub fn staging_name(asset_id: &str, job_id: i64) -> String {
    format!("{asset_id}-{job_id}")
}

pub use catalog::AssetStatus;
