//! What a file in the inbox is, judged by its name; FFmpeg judges the contents later.

use std::path::{Path, PathBuf};

use crate::media::{Sidecar, SidecarKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// Possibly audio or video: the worker's probe decides.
    Media,
    Subtitle,
    Image,
    /// A `name.json` title sidecar.
    Metadata,
    /// Hidden files and the temporary names downloaders and copy tools use.
    Ignored,
}

const SUBTITLE_EXTS: [&str; 2] = ["srt", "vtt"];
const IMAGE_EXTS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];
const TEMP_SUFFIXES: [&str; 8] = [
    ".part",
    ".partial",
    ".tmp",
    ".crdownload",
    ".download",
    ".swp",
    "~",
    ".!qb",
];

pub fn kind_of(path: &Path) -> FileKind {
    let Some(name) = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
    else {
        return FileKind::Ignored;
    };
    if name.starts_with('.') || TEMP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return FileKind::Ignored;
    }
    match ext_of(path).as_deref() {
        Some(e) if SUBTITLE_EXTS.contains(&e) => FileKind::Subtitle,
        Some(e) if IMAGE_EXTS.contains(&e) => FileKind::Image,
        Some("json") => FileKind::Metadata,
        _ => FileKind::Media,
    }
}

fn ext_of(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Whether any path component below `root` is hidden (`.something/`).
pub fn in_hidden_dir(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .map(|rel| {
            rel.parent().is_some_and(|p| {
                p.components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
        })
        .unwrap_or(false)
}

/// The stem a sidecar belongs to: `movie.en.srt` → `movie`, `movie.srt` → `movie`,
/// `movie.jpg` → `movie`; with the language code for subtitles.
fn sidecar_stem(path: &Path) -> (String, Option<String>) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if kind_of(path) == FileKind::Subtitle
        && let Some((base, lang)) = stem.rsplit_once('.')
        && is_language_code(lang)
    {
        return (base.to_string(), Some(lang.to_ascii_lowercase()));
    }
    (stem, None)
}

fn is_language_code(s: &str) -> bool {
    let core = s.split(['-', '_']).next().unwrap_or_default();
    (2..=3).contains(&core.len()) && core.chars().all(|c| c.is_ascii_alphabetic()) && s.len() <= 8
}

fn siblings(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                // Regular files only: a symbolic link is never anyone's sidecar.
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| p != path)
                .collect()
        })
        .unwrap_or_default()
}

/// The subtitle and poster files lying next to a media file with the same stem.
pub fn sidecars_for(media: &Path) -> Vec<Sidecar> {
    let stem = media
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found: Vec<Sidecar> = siblings(media)
        .into_iter()
        .filter_map(|p| {
            let kind = kind_of(&p);
            let (base, lang) = sidecar_stem(&p);
            if base != stem {
                return None;
            }
            match kind {
                FileKind::Subtitle => Some(Sidecar {
                    path: p,
                    kind: SidecarKind::Subtitle { language: lang },
                }),
                FileKind::Image if ext_of(&p).as_deref() != Some("webp") => Some(Sidecar {
                    path: p,
                    kind: SidecarKind::Poster,
                }),
                FileKind::Metadata => Some(Sidecar {
                    path: p,
                    kind: SidecarKind::Metadata,
                }),
                _ => None,
            }
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    // One poster: prefer JPEG, then PNG.
    let mut seen_poster = false;
    found.retain(|s| {
        if s.kind == SidecarKind::Poster {
            let keep = !seen_poster;
            seen_poster = true;
            keep
        } else {
            true
        }
    });
    found
}

/// The `name.json` title sidecar among a media file's sidecars.
pub fn title_sidecar(sidecars: &[Sidecar]) -> Option<&Path> {
    sidecars
        .iter()
        .find(|s| s.kind == SidecarKind::Metadata)
        .map(|s| s.path.as_path())
}

/// For a subtitle, image or title sidecar: the media file it belongs to, if one lies next to it.
pub fn media_for_sidecar(sidecar: &Path) -> Option<PathBuf> {
    let (base, _) = sidecar_stem(sidecar);
    siblings(sidecar).into_iter().find(|p| {
        kind_of(p) == FileKind::Media && p.file_stem().is_some_and(|s| s.to_string_lossy() == base)
    })
}

/// A title from a file name: `my_summer-film.mp4` → `my summer-film`.
pub fn title_from(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let title = stem
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if title.is_empty() {
        "Untitled".into()
    } else {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of(Path::new("a/movie.MP4")), FileKind::Media);
        assert_eq!(kind_of(Path::new("movie.en.srt")), FileKind::Subtitle);
        assert_eq!(kind_of(Path::new("movie.jpg")), FileKind::Image);
        assert_eq!(kind_of(Path::new(".movie.mp4")), FileKind::Ignored);
        assert_eq!(kind_of(Path::new("movie.mp4.part")), FileKind::Ignored);
    }

    #[test]
    fn sidecars_are_matched_by_stem() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "film.mp4",
            "film.en.srt",
            "film.vtt",
            "film.jpg",
            "film.png",
            "film.json",
            "other.srt",
            "film2.srt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let found = sidecars_for(&dir.path().join("film.mp4"));
        let names: Vec<_> = found
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["film.en.srt", "film.jpg", "film.json", "film.vtt"]
        );
        assert_eq!(
            title_sidecar(&found),
            Some(dir.path().join("film.json").as_path())
        );
        assert_eq!(
            found[0].kind,
            SidecarKind::Subtitle {
                language: Some("en".into())
            }
        );
        assert_eq!(
            media_for_sidecar(&dir.path().join("film.en.srt")),
            Some(dir.path().join("film.mp4"))
        );
        assert_eq!(media_for_sidecar(&dir.path().join("other.srt")), None);
    }

    #[test]
    fn titles() {
        assert_eq!(
            title_from(Path::new("/x/my_summer  film.mp4")),
            "my summer film"
        );
    }
}
