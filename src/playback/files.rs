//! Which files of a package are served, and how. Anything not on the list (the source,
//! sidecars, `package.json`) is never served, and no path can leave the package folder.

use std::path::{Path, PathBuf};

use super::PlaybackError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Playlist,
    InitSegment,
    MediaSegment,
    Subtitles,
    Image,
}

impl FileKind {
    pub fn content_type(self, path: &Path) -> &'static str {
        match self {
            FileKind::Playlist => "application/vnd.apple.mpegurl",
            FileKind::InitSegment => "video/mp4",
            FileKind::MediaSegment => "video/iso.segment",
            FileKind::Subtitles => "text/vtt; charset=utf-8",
            FileKind::Image => match path.extension().and_then(|e| e.to_str()) {
                Some("png") => "image/png",
                _ => "image/jpeg",
            },
        }
    }

    /// Segments never change under a given URL (a re-transcode gets a new asset);
    /// playlists may, so they are cached briefly.
    pub fn cache_control(self) -> &'static str {
        match self {
            FileKind::Playlist => "public, max-age=10",
            FileKind::InitSegment | FileKind::MediaSegment => "public, max-age=31536000, immutable",
            FileKind::Subtitles | FileKind::Image => "public, max-age=3600",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub path: PathBuf,
    pub kind: FileKind,
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
        _ => None,
    }
}

/// Maps `<asset>/<relative>` to a file inside `library/<asset>/`, or `NotFound`. The
/// relative path arrives exactly as sent (percent-encoding included), so encoded
/// separators and dots are refused by the name rule rather than decoded into meaning.
pub fn resolve(
    library: &Path,
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
    let name = parts[parts.len() - 1];
    let kind = kind_of(name).ok_or(PlaybackError::NotFound)?;
    let package = library.join(asset_id);
    let path = package.join(relative);
    // Symlinks are followed by canonicalize; whatever they point at must still be in the package.
    let real = path.canonicalize().map_err(|_| PlaybackError::NotFound)?;
    let real_package = package
        .canonicalize()
        .map_err(|_| PlaybackError::NotFound)?;
    if !real.starts_with(&real_package) || !real.is_file() {
        return Err(PlaybackError::NotFound);
    }
    Ok(PackageFile { path: real, kind })
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

        let ok = |rel: &str| resolve(lib.path(), "abcd1234", rel).map(|f| f.kind);
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
            "",
            "video_360p/",
            ".hidden.m3u8",
            "a/b/c.m3u8",
            "missing.m3u8",
        ] {
            assert!(ok(bad).is_err(), "{bad} must not resolve");
        }
        assert!(resolve(lib.path(), "../abcd1234", "master.m3u8").is_err());
    }
}
