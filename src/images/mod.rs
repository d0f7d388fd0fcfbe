//! Artwork files: an uploaded image checked, cropped to its kind's shape and written once
//! in a few widths (JPEG; PNG for logos, which need transparency), under a content-derived
//! key so the public URLs can be cached for good. Decoding hostile bytes is bounded: the
//! format is sniffed from the bytes (JPEG, PNG or WebP only), dimensions and decoder memory
//! are limited before any pixel is decoded.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// An upload larger than this is refused unread.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
const MAX_SIDE: u32 = 8000;
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtKind {
    /// 2:3, for title pages.
    Poster,
    /// 16:9, for cards, the hero banner and link previews.
    Backdrop,
    /// The title's logo, any shape, transparency kept.
    Logo,
}

impl ArtKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtKind::Poster => "poster",
            ArtKind::Backdrop => "backdrop",
            ArtKind::Logo => "logo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "poster" => ArtKind::Poster,
            "backdrop" => ArtKind::Backdrop,
            "logo" => ArtKind::Logo,
            _ => return None,
        })
    }

    /// Widths written, smallest first.
    pub fn widths(self) -> &'static [u32] {
        match self {
            ArtKind::Poster => &[240, 480, 960],
            ArtKind::Backdrop => &[640, 1280, 1920],
            ArtKind::Logo => &[300, 600],
        }
    }

    /// Width over height it is cropped to (`None`: kept as it is).
    fn aspect(self) -> Option<(u32, u32)> {
        match self {
            ArtKind::Poster => Some((2, 3)),
            ArtKind::Backdrop => Some((16, 9)),
            ArtKind::Logo => None,
        }
    }

    pub fn extension(self) -> &'static str {
        if self == ArtKind::Logo { "png" } else { "jpg" }
    }
}

/// What was written: the key (folder) and the widths made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub widths: Vec<u32>,
    pub width: u32,
    pub height: u32,
}

/// The file name of one width.
pub fn file_name(kind: ArtKind, width: u32) -> String {
    format!("{width}.{}", kind.extension())
}

/// Checks, crops and resizes `bytes`, writing every width under `dir/<key>/`. Blocking.
pub fn store(dir: &Path, kind: ArtKind, bytes: &[u8]) -> Result<Stored, ImageError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImageError::Invalid(format!(
            "the image is larger than {} MB",
            MAX_BYTES / 1024 / 1024
        )));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP))
        .ok_or_else(|| ImageError::Invalid("the file is not a JPEG, PNG or WebP image".into()))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| ImageError::Invalid(format!("the image cannot be read: {e}")))?;
    if image.width() < 16 || image.height() < 16 {
        return Err(ImageError::Invalid(
            "the image is smaller than 16×16".into(),
        ));
    }
    let image = crop(image, kind);
    let key = blake3::hash(bytes).to_hex()[..20].to_string();
    let folder = dir.join(&key);
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;
    let mut widths: Vec<u32> = kind
        .widths()
        .iter()
        .copied()
        .filter(|w| *w <= image.width())
        .collect();
    if widths.is_empty() {
        widths.push(image.width());
    }
    for &width in &widths {
        let height =
            (u64::from(image.height()) * u64::from(width) / u64::from(image.width())).max(1) as u32;
        let resized = image.resize_exact(width, height, image::imageops::FilterType::Lanczos3);
        let path = folder.join(file_name(kind, width));
        write(&path, kind, &resized)?;
    }
    Ok(Stored {
        key,
        widths,
        width: image.width(),
        height: image.height(),
    })
}

/// The centre of the image in the kind's shape.
fn crop(image: DynamicImage, kind: ArtKind) -> DynamicImage {
    let Some((aw, ah)) = kind.aspect() else {
        return image;
    };
    let (w, h) = (image.width(), image.height());
    // Wider than the shape: cut the sides; taller: cut top and bottom.
    if u64::from(w) * u64::from(ah) > u64::from(h) * u64::from(aw) {
        let nw = (u64::from(h) * u64::from(aw) / u64::from(ah)) as u32;
        image.crop_imm((w - nw) / 2, 0, nw, h)
    } else {
        let nh = (u64::from(w) * u64::from(ah) / u64::from(aw)) as u32;
        image.crop_imm(0, (h - nh) / 2, w, nh)
    }
}

fn write(path: &Path, kind: ArtKind, image: &DynamicImage) -> Result<(), ImageError> {
    let tmp = path.with_extension("tmp");
    let mut out = Vec::new();
    if kind == ArtKind::Logo {
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(|e| ImageError::Invalid(format!("cannot encode: {e}")))?;
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
        encoder
            .encode_image(&rgb)
            .map_err(|e| ImageError::Invalid(format!("cannot encode: {e}")))?;
    }
    std::fs::write(&tmp, &out).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Removes the folders of artwork nothing refers to any more (replaced, removed, or its title
/// deleted) once they are `older_than` (so an upload between its files and its record is
/// left alone). Returns how many went. Blocking.
pub fn sweep(
    dir: &Path,
    keep: &std::collections::HashSet<String>,
    older_than: std::time::Duration,
) -> Result<usize, ImageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Some(key) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let is_key = key.len() == 20 && key.bytes().all(|b| b.is_ascii_hexdigit());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= older_than);
        if is_key && old && !keep.contains(&key) && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The file for a public request `<key>/<name>`, if the names are well-formed (no path
/// tricks: a key is 20 hex characters, a name a width and an extension).
pub fn public_file(dir: &Path, key: &str, name: &str) -> Option<PathBuf> {
    let key_ok = key.len() == 20 && key.bytes().all(|b| b.is_ascii_hexdigit());
    let (width, ext) = name.split_once('.')?;
    let name_ok = !width.is_empty()
        && width.len() <= 5
        && width.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, "jpg" | "png");
    (key_ok && name_ok).then(|| dir.join(key).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x % 255) as u8, 40, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn images_are_cropped_to_their_shape_and_never_upscaled() {
        let dir = tempfile::tempdir().unwrap();
        let stored = store(dir.path(), ArtKind::Poster, &png(900, 900)).unwrap();
        assert_eq!((stored.width, stored.height), (600, 900));
        assert_eq!(stored.widths, vec![240, 480]);
        let small = image::open(dir.path().join(&stored.key).join("240.jpg")).unwrap();
        assert_eq!((small.width(), small.height()), (240, 360));
        let wide = store(dir.path(), ArtKind::Backdrop, &png(2000, 600)).unwrap();
        assert_eq!((wide.width, wide.height), (1066, 600));
        assert_eq!(wide.widths, vec![640]);
    }

    #[test]
    fn hostile_bytes_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        for (bytes, says) in [
            (b"<svg onload=alert(1)>".to_vec(), "not a JPEG"),
            (b"GIF89a....".to_vec(), "not a JPEG"),
            (png(8, 8), "smaller"),
            (png(40, 40)[..60].to_vec(), "cannot be read"),
        ] {
            let err = store(dir.path(), ArtKind::Poster, &bytes).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        // A PNG header that claims 100000 × 100000 pixels is refused before decoding.
        let mut huge = png(20, 20);
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(store(dir.path(), ArtKind::Poster, &huge).is_err());
        assert!(public_file(dir.path(), "../../etc/passwd", "1.jpg").is_none());
        assert!(public_file(dir.path(), "0123456789abcdef0123", "../1.jpg").is_none());
        assert!(public_file(dir.path(), "0123456789abcdef0123", "480.jpg").is_some());
    }

    #[test]
    fn the_sweep_removes_only_old_folders_nothing_refers_to() {
        let dir = tempfile::tempdir().unwrap();
        let (used, unused) = ("0123456789abcdef0123", "fedcba98765432100000");
        for key in [used, unused, "not-a-key"] {
            std::fs::create_dir_all(dir.path().join(key)).unwrap();
            std::fs::write(dir.path().join(key).join("480.jpg"), b"x").unwrap();
        }
        let keep: std::collections::HashSet<String> = [used.to_string()].into();
        // Too new: an upload may be between its files and its record.
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(sweep(dir.path(), &keep, hour).unwrap(), 0);
        assert_eq!(
            sweep(dir.path(), &keep, std::time::Duration::ZERO).unwrap(),
            1
        );
        assert!(dir.path().join(used).join("480.jpg").is_file());
        assert!(dir.path().join("not-a-key").is_dir());
        assert!(!dir.path().join(unused).exists());
    }
}
