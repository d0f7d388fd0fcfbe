//! Artwork files: an uploaded image checked, cropped to its kind's shape and written once
//! in a few widths (JPEG; PNG for logos, which need transparency), under a content-derived
//! key so the public URLs can be cached for good. Decoding hostile bytes is bounded: the
//! format is sniffed from the bytes (JPEG, PNG or WebP only), dimensions and decoder memory
//! are limited before any pixel is decoded: the pixels and the bytes they take decoded (a
//! 16-bit PNG takes twice an 8-bit one's), read from the header; and one image is decoded
//! at a time in the whole process, so parallel uploads do not add up.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// An upload larger than this is refused unread.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
const MAX_SIDE: u32 = 8000;
/// Larger pictures are refused before decoding: 40 million pixels is more than any
/// artwork needs (the largest width written is 1920).
const MAX_PIXELS: u64 = 40_000_000;
/// The most bytes a picture may take decoded: the largest picture in 8-bit RGBA. A 16-bit
/// one of the same size, which compresses as small, takes up to twice that and is refused.
const MAX_DECODED_BYTES: u64 = MAX_PIXELS * 4;

/// Held while an image is decoded and resized: one at a time in the process.
static DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| ImageError::Invalid(format!("the image cannot be read: {e}")))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::Invalid(format!(
            "the image is {w}×{h}; at most {} million pixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let unreadable =
        |e: image::ImageError| ImageError::Invalid(format!("the image cannot be read: {e}"));
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    check_decoded_size(&decoder, w, h)?;
    let _one_at_a_time = DECODING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A phone photo says in its EXIF how it was held: turned upright before cropping.
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    if image.width() < 16 || image.height() < 16 {
        return Err(ImageError::Invalid(
            "the image is smaller than 16×16".into(),
        ));
    }
    // 8 bits per channel from here on (a 16-bit PNG would double every copy below).
    let image = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    };
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
    // Largest first, each from the one before: the full picture is resampled once.
    let (full_width, full_height) = (image.width(), image.height());
    let mut source = image;
    for &width in widths.iter().rev() {
        let height =
            (u64::from(full_height) * u64::from(width) / u64::from(full_width)).max(1) as u32;
        let resized = source.resize_exact(width, height, image::imageops::FilterType::Lanczos3);
        let path = folder.join(file_name(kind, width));
        write(&path, kind, &resized)?;
        source = resized;
    }
    Ok(Stored {
        key,
        widths,
        width: full_width,
        height: full_height,
    })
}

/// Refuses a picture whose pixels would take more than `MAX_DECODED_BYTES` decoded, as its
/// header says (width × height × bytes per pixel of its colour type and bit depth).
fn check_decoded_size(
    decoder: &impl image::ImageDecoder,
    w: u32,
    h: u32,
) -> Result<(), ImageError> {
    let color = decoder.color_type();
    let decoded = decoder.total_bytes();
    if decoded <= MAX_DECODED_BYTES {
        return Ok(());
    }
    let bits = u32::from(color.bits_per_pixel()) / u32::from(color.channel_count().max(1));
    Err(ImageError::Invalid(format!(
        "the image is {w}×{h} at {bits} bits per channel, which takes {} MB to decode; at most \
         {} MB (save it with 8 bits per channel, or smaller)",
        decoded.div_ceil(1_000_000),
        MAX_DECODED_BYTES / 1_000_000
    )))
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
        if key.ends_with(".gone") && entry.path().is_dir() {
            // Left by a sweep that stopped halfway.
            std::fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
            continue;
        }
        let is_key = key.len() == 20 && key.bytes().all(|b| b.is_ascii_hexdigit());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= older_than);
        if is_key && old && !keep.contains(&key) && entry.path().is_dir() {
            // Moved aside first: an upload of the same picture starting now makes a fresh
            // folder instead of writing into one being deleted.
            let aside = dir.join(format!("{key}.gone"));
            std::fs::rename(entry.path(), &aside).map_err(io(&entry.path()))?;
            std::fs::remove_dir_all(&aside).map_err(io(&aside))?;
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

    /// CRC-32 as PNG chunks use it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A JPEG whose EXIF says "rotate 90° to show it upright" (orientation 6).
    fn jpeg_turned(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x % 255) as u8, 40, 90]));
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
            .unwrap();
        // TIFF, little-endian: one IFD entry, Orientation (0x0112), SHORT, 1, value 6.
        let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec(); // SOI
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn a_photo_is_turned_upright_by_its_exif_orientation() {
        let dir = tempfile::tempdir().unwrap();
        let stored = store(dir.path(), ArtKind::Logo, &jpeg_turned(64, 32)).unwrap();
        assert_eq!((stored.width, stored.height), (32, 64));
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
        // One within the side limit but over the pixel budget (7000 × 7000, its header's
        // checksum right) is refused by its size, unread.
        let mut big = png(20, 20);
        big[16..20].copy_from_slice(&7000u32.to_be_bytes());
        big[20..24].copy_from_slice(&7000u32.to_be_bytes());
        let crc = crc32(&big[12..29]);
        big[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = store(dir.path(), ArtKind::Poster, &big).unwrap_err();
        assert!(err.to_string().contains("million pixels"), "{err}");
        assert!(public_file(dir.path(), "../../etc/passwd", "1.jpg").is_none());
        assert!(public_file(dir.path(), "0123456789abcdef0123", "../1.jpg").is_none());
        assert!(public_file(dir.path(), "0123456789abcdef0123", "480.jpg").is_some());
    }

    /// A tiny PNG (RGB, `depth` bits per channel) whose header claims `side`×`side`, its
    /// checksum right: what the header says, with no pixels behind it.
    fn png_claiming(side: u32, depth: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        let color = if depth == 16 {
            image::ExtendedColorType::Rgb16
        } else {
            image::ExtendedColorType::Rgb8
        };
        let pixels = vec![7u8; 20 * 20 * 3 * usize::from(depth / 8)];
        image::ImageEncoder::write_image(encoder, &pixels, 20, 20, color).unwrap();
        assert_eq!(out[24], depth, "the IHDR's bit depth");
        out[16..20].copy_from_slice(&side.to_be_bytes());
        out[20..24].copy_from_slice(&side.to_be_bytes());
        let crc = crc32(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        out
    }

    #[test]
    fn a_16_bit_picture_is_refused_by_the_bytes_it_would_take_decoded() {
        let dir = tempfile::tempdir().unwrap();
        // 6,320² is under the pixel limit; at 16 bits per channel it would take 240 MB.
        let deep = png_claiming(6320, 16);
        assert!(deep.len() < 1000);
        let err = store(dir.path(), ArtKind::Poster, &deep).unwrap_err();
        let said = err.to_string();
        assert!(
            said.contains("6320×6320 at 16 bits per channel") && said.contains("at most 160 MB"),
            "{said}"
        );
        // The same size at 8 bits (120 MB) is within the budget: it gets as far as its
        // pixels, which this one lacks.
        let err = store(dir.path(), ArtKind::Poster, &png_claiming(6320, 8)).unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
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
