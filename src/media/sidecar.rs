//! Sidecar files are read whole, so each kind has a size limit, checked before reading.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::MediaError;

const MB: u64 = 1_000_000;

/// One kind of sidecar's size limit, with the names an operator needs to change it.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimit {
    /// What the file is, as a message starts: "subtitle file".
    pub what: &'static str,
    pub max_mb: u64,
    /// The setting that sets it: "ingest.max_subtitle_mb".
    pub setting: &'static str,
}

impl SizeLimit {
    pub fn subtitle(max_mb: u64) -> Self {
        SizeLimit {
            what: "subtitle file",
            max_mb,
            setting: "ingest.max_subtitle_mb",
        }
    }

    pub fn poster(max_mb: u64) -> Self {
        SizeLimit {
            what: "poster image",
            max_mb,
            setting: "ingest.max_image_mb",
        }
    }
}

/// Opens a sidecar for reading, or fails the asset when it is over its limit. The size is
/// taken from the open file, and reading stops at the limit even if the file grows.
pub fn open(path: &Path, limit: SizeLimit) -> Result<std::io::Take<File>, MediaError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = File::open(path)
        .map_err(|e| MediaError::input(format!("{} {name} cannot be read: {e}", limit.what)))?;
    let size = file.metadata()?.len();
    let max = limit.max_mb.saturating_mul(MB);
    if size > max {
        return Err(MediaError::input(format!(
            "{} {name} is {} MB; the limit is {} MB ({})",
            limit.what,
            megabytes(size),
            limit.max_mb,
            limit.setting
        )));
    }
    Ok(file.take(max))
}

/// Rounded up to a tenth, so a file just over the limit never reads as equal to it.
fn megabytes(bytes: u64) -> String {
    let tenths = bytes.div_ceil(MB / 10);
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_megabytes_rounded_up() {
        assert_eq!(megabytes(220_000_000), "220");
        assert_eq!(megabytes(10_000_001), "10.1");
        assert_eq!(megabytes(1_250_000), "1.3");
        assert_eq!(megabytes(0), "0");
    }

    #[test]
    fn an_oversize_sidecar_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.srt");
        File::create(&path).unwrap().set_len(220_000_000).unwrap();
        let err = open(&path, SizeLimit::subtitle(10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subtitle file x.srt is 220 MB; the limit is 10 MB (ingest.max_subtitle_mb)"
        );
        assert!(err.is_final());
        std::fs::write(&path, "small").unwrap();
        let mut text = String::new();
        open(&path, SizeLimit::subtitle(10))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "small");
    }
}
