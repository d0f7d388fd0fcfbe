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
    let file = open_regular(path)
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

/// Opens `path` for reading only if it is a regular file reached without following a
/// final symbolic link: a link swapped in for a sidecar must not read another file (the
/// database, `/etc/passwd`), and a FIFO must not hang the worker. `O_NONBLOCK` makes the
/// open of a FIFO return at once; it is cleared again for the read.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => std::io::Error::other("it is a symbolic link"),
            _ => e,
        })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(file)
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
    fn links_and_fifos_are_not_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, b"root:x:0:0").unwrap();
        let link = tmp.path().join("film.jpg");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let err = open(&link, SizeLimit::poster(50)).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let fifo = tmp.path().join("film.srt");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = open(&fifo, SizeLimit::subtitle(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let mut ok = open(&secret, SizeLimit::poster(50)).unwrap();
        let mut text = String::new();
        ok.read_to_string(&mut text).unwrap();
        assert_eq!(text, "root:x:0:0");
    }

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
