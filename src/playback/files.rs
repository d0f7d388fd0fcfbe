//! Which files of a package are served, and how. Anything not on the list (the source,
//! sidecars, `package.json`) is never served, and no path can leave the package folder.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::PlaybackError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Playlist,
    InitSegment,
    MediaSegment,
    Subtitles,
    Image,
    /// `key.bin`: the AES-128 key of an encrypted package.
    Key,
}

impl FileKind {
    pub fn metrics_class(self) -> crate::metrics::OriginClass {
        use crate::metrics::OriginClass;
        match self {
            FileKind::Playlist => OriginClass::Playlist,
            FileKind::InitSegment => OriginClass::Init,
            FileKind::MediaSegment => OriginClass::Segment,
            FileKind::Subtitles => OriginClass::Subtitles,
            FileKind::Image => OriginClass::Image,
            FileKind::Key => OriginClass::Playlist,
        }
    }

    pub fn content_type(self, name: &str) -> &'static str {
        match self {
            FileKind::Playlist => "application/vnd.apple.mpegurl",
            FileKind::InitSegment => "video/mp4",
            FileKind::MediaSegment => "video/iso.segment",
            FileKind::Subtitles => "text/vtt; charset=utf-8",
            FileKind::Image if name.ends_with(".png") => "image/png",
            FileKind::Image => "image/jpeg",
            FileKind::Key => "application/octet-stream",
        }
    }

    /// Segments never change under a given URL (a re-transcode gets a new asset);
    /// playlists may, so they are cached briefly.
    pub fn cache_control(self) -> &'static str {
        match self {
            FileKind::Playlist => "public, max-age=10",
            FileKind::InitSegment | FileKind::MediaSegment => "public, max-age=31536000, immutable",
            FileKind::Subtitles | FileKind::Image => "public, max-age=3600",
            // Whoever holds the key plays the media: never kept anywhere.
            FileKind::Key => "private, no-store",
        }
    }
}

#[derive(Debug)]
pub struct PackageFile {
    pub file: File,
    pub meta: std::fs::Metadata,
    pub kind: FileKind,
}

/// The library folder, held open so each request resolves from it without walking the
/// data dir's path again.
pub struct Library {
    dir: OwnedFd,
}

impl Library {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Library { dir })
    }
}

/// A package file name: letters, digits, `_`, `-` and one or more dots, never leading.
fn is_plain_name(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part.len() <= 64
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn is_asset_id(id: &str) -> bool {
    (4..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn kind_of(name: &str) -> Option<FileKind> {
    let ext = name.rsplit_once('.')?.1;
    match ext {
        "m3u8" => Some(FileKind::Playlist),
        "m4s" => Some(FileKind::MediaSegment),
        "mp4" if name == "init.mp4" => Some(FileKind::InitSegment),
        "vtt" => Some(FileKind::Subtitles),
        "jpg" | "png" if !name.starts_with("source") => Some(FileKind::Image),
        "bin" if name == crate::media::encrypt::KEY_NAME => Some(FileKind::Key),
        _ => None,
    }
}

/// Opens `<asset>/<relative>` inside `library/`, or `NotFound`. The relative path arrives
/// exactly as sent (percent-encoding included), so encoded separators and dots are refused
/// by the name rule rather than decoded into meaning; symlinks are never followed.
pub fn open(
    library: &Library,
    asset_id: &str,
    relative: &str,
) -> Result<PackageFile, PlaybackError> {
    if !is_asset_id(asset_id) {
        return Err(PlaybackError::NotFound);
    }
    let parts: Vec<&str> = relative.split('/').collect();
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| is_plain_name(p)) {
        return Err(PlaybackError::NotFound);
    }
    if parts.len() == 2 && parts[0] == "sidecars" {
        return Err(PlaybackError::NotFound);
    }
    let kind = kind_of(parts[parts.len() - 1]).ok_or(PlaybackError::NotFound)?;
    let file = open_beneath(&library.dir, &format!("{asset_id}/{relative}"))
        .map_err(|_| PlaybackError::NotFound)?;
    let meta = file.metadata().map_err(|_| PlaybackError::NotFound)?;
    if !meta.is_file() {
        return Err(PlaybackError::NotFound);
    }
    Ok(PackageFile { file, meta, kind })
}

/// Opens `relative` below `dir` one component at a time with `O_NOFOLLOW`: the name rule
/// has already refused `..`, so no symlink followed means nothing outside `dir`, at a few
/// syscalls instead of canonicalising (one per path component) on every segment request.
fn open_beneath(dir: &OwnedFd, relative: &str) -> std::io::Result<File> {
    let (folders, name) = relative.rsplit_once('/').unwrap_or(("", relative));
    let mut folder_fd: Option<OwnedFd> = None;
    for folder in folders.split('/').filter(|f| !f.is_empty()) {
        let at = folder_fd.as_ref().unwrap_or(dir);
        folder_fd = Some(rustix::fs::openat(
            at,
            folder,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
    }
    let fd = rustix::fs::openat(
        folder_fd.as_ref().unwrap_or(dir),
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_package_files_resolve() {
        let lib = tempfile::tempdir().unwrap();
        let pkg = lib.path().join("abcd1234");
        std::fs::create_dir_all(pkg.join("video_360p")).unwrap();
        std::fs::create_dir_all(pkg.join("sidecars")).unwrap();
        for f in [
            "master.m3u8",
            "video_360p/init.mp4",
            "video_360p/seg_00000.m4s",
            "source.mp4",
            "package.json",
            "sidecars/a.jpg",
            "poster.jpg",
        ] {
            std::fs::write(pkg.join(f), b"x").unwrap();
        }
        std::fs::write(lib.path().join("secret.m3u8"), b"x").unwrap();
        std::os::unix::fs::symlink(lib.path().join("secret.m3u8"), pkg.join("link.m3u8")).unwrap();
        std::fs::create_dir_all(lib.path().join("outside")).unwrap();
        std::fs::write(lib.path().join("outside/seg_00000.m4s"), b"x").unwrap();
        std::os::unix::fs::symlink(lib.path().join("outside"), pkg.join("video_link")).unwrap();
        std::os::unix::fs::symlink(&pkg, lib.path().join("linkedasset")).unwrap();

        let library = Library::open(lib.path()).unwrap();
        let ok = |rel: &str| open(&library, "abcd1234", rel).map(|f| f.kind);
        assert_eq!(ok("master.m3u8").unwrap(), FileKind::Playlist);
        assert_eq!(ok("video_360p/init.mp4").unwrap(), FileKind::InitSegment);
        assert_eq!(
            ok("video_360p/seg_00000.m4s").unwrap(),
            FileKind::MediaSegment
        );
        assert_eq!(ok("poster.jpg").unwrap(), FileKind::Image);
        for bad in [
            "source.mp4",
            "package.json",
            "sidecars/a.jpg",
            "../secret.m3u8",
            "..%2fsecret.m3u8",
            "%2e%2e/secret.m3u8",
            "video_360p/../../secret.m3u8",
            "link.m3u8",
            "video_link/seg_00000.m4s",
            "",
            "video_360p/",
            ".hidden.m3u8",
            "a/b/c.m3u8",
            "missing.m3u8",
        ] {
            assert!(ok(bad).is_err(), "{bad} must not resolve");
        }
        assert!(open(&library, "../abcd1234", "master.m3u8").is_err());
        assert!(open(&library, "linkedasset", "master.m3u8").is_err());
    }
}
