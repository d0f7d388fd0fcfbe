//! The client's `Upload-Metadata` header (`key base64,key base64`): hostile text, checked
//! before it is stored, and the title and file extension an upload's file gets from it.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::UploadError;
use crate::ingest::classify;

/// Longest `Upload-Metadata` header kept.
pub const MAX_HEADER: usize = 4096;
const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metadata {
    pub filename: Option<String>,
    pub filetype: Option<String>,
}

/// Parses the header as the tus creation extension defines it: comma-separated pairs of
/// a key (no spaces or commas, unique) and an optional base64 value. Keys other than
/// `filename` and `filetype` are allowed and ignored.
pub fn parse(header: &str) -> Result<Metadata, UploadError> {
    let invalid = |m: String| UploadError::Invalid(format!("Upload-Metadata: {m}"));
    if header.len() > MAX_HEADER {
        return Err(invalid(format!("longer than {MAX_HEADER} bytes")));
    }
    let mut seen = HashSet::new();
    let mut metadata = Metadata::default();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(format!("{key:?} is not a valid key")));
        }
        if !seen.insert(key) {
            return Err(invalid(format!("the key `{key}` appears twice")));
        }
        let decoded = STANDARD
            .decode(value.trim())
            .map_err(|_| invalid(format!("the value of `{key}` is not base64")))?;
        let text = || {
            String::from_utf8(decoded.clone())
                .map_err(|_| invalid(format!("the value of `{key}` is not UTF-8 text")))
        };
        match key {
            "filename" => metadata.filename = Some(text()?),
            "filetype" => metadata.filetype = Some(text()?),
            _ => {}
        }
    }
    Ok(metadata)
}

/// The last path component of a client's file name, without control characters: a name
/// like `../../etc/x` or one with a newline never reaches a path or a log line as sent.
fn base_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    last.chars().filter(|c| !c.is_control()).collect()
}

/// The asset's title, as an inbox file's is made from its name ("Opening_night.mp4" →
/// "Opening night"), at most 200 characters.
pub fn title_for(filename: Option<&str>) -> String {
    let name = base_name(filename.unwrap_or_default());
    if name.is_empty() || name == "." || name == ".." {
        return "Untitled upload".into();
    }
    classify::title_from(Path::new(&name))
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// The extension the finished file is stored with (it becomes the library's
/// `source.<ext>`): the client's, when it is 1–10 ASCII letters or digits, else `bin`.
pub fn extension_for(filename: Option<&str>) -> String {
    let name = base_name(filename.unwrap_or_default());
    Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| (1..=10).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "bin".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn filename_and_filetype_are_decoded_and_other_keys_ignored() {
        let header = format!(
            "filename {},filetype {}, is_confidential,relativePath {}",
            b64("Opening_night.MP4".as_bytes()),
            b64(b"video/mp4"),
            b64(b"x/y")
        );
        let m = parse(&header).unwrap();
        assert_eq!(m.filename.as_deref(), Some("Opening_night.MP4"));
        assert_eq!(m.filetype.as_deref(), Some("video/mp4"));
        assert_eq!(parse("").unwrap(), Metadata::default());
    }

    #[test]
    fn malformed_metadata_is_refused_with_the_reason() {
        let err = |h: &str| parse(h).unwrap_err().to_string();
        assert!(err("filename !!!").contains("`filename` is not base64"));
        assert!(err(&format!("filename {}", b64(b"\xff\xfe"))).contains("not UTF-8"));
        assert!(err("a YQ==,a YQ==").contains("appears twice"));
        assert!(err(&"x".repeat(MAX_HEADER + 1)).contains("longer than"));
    }

    #[test]
    fn titles_and_extensions_come_from_the_base_name_only() {
        assert_eq!(title_for(Some("Opening_night.mp4")), "Opening night");
        assert_eq!(title_for(Some("../../etc/passwd")), "passwd");
        assert_eq!(title_for(Some("C:\\clips\\beach day.mov")), "beach day");
        assert_eq!(title_for(Some("evil\nline.mp4")), "evilline");
        assert_eq!(title_for(None), "Untitled upload");
        assert_eq!(title_for(Some("..")), "Untitled upload");
        assert_eq!(title_for(Some(&"a".repeat(500))).chars().count(), 200);
        assert_eq!(extension_for(Some("Movie.MKV")), "mkv");
        assert_eq!(extension_for(Some("x.m3u8/../y")), "bin");
        assert_eq!(extension_for(Some("x.t s")), "bin");
        assert_eq!(extension_for(None), "bin");
    }
}
