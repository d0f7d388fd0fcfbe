//! Everything that touches FFmpeg. This code runs only inside `marquee worker`, never in the
//! server process, so a crash in a codec takes down one job and nothing else. Every FFmpeg
//! object is created, used and dropped on the worker's one thread. The server uses only the
//! plain data of `spec` and the file listing of `contents`.

mod audio;
pub mod contents;
pub mod encrypt;
pub mod filters;
pub mod hls;
pub mod images;
pub mod ladder;
pub mod package;
pub mod probe;
pub mod sidecar;
pub mod spec;
pub mod subtitles;
mod video;

pub use package::transcode;
pub use spec::{PackageManifest, Sidecar, SidecarKind, TranscodeRequest, TranscodeSettings};

/// Why a transcode failed. `Input` errors are the source's fault and are final; `Internal`
/// ones are ours or the machine's and may succeed on retry.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Input(String),
    #[error("internal transcoder error: {0}")]
    Internal(String),
}

impl MediaError {
    pub fn input(msg: impl Into<String>) -> Self {
        MediaError::Input(msg.into())
    }
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        MediaError::Internal(format!("{context}: {err}"))
    }
    /// Input errors are not worth retrying.
    pub fn is_final(&self) -> bool {
        matches!(self, MediaError::Input(_))
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Internal(format!("I/O error: {e}"))
    }
}

/// Initialise FFmpeg once per worker and keep its own logging quiet unless asked.
pub fn init() -> Result<(), MediaError> {
    ffmpeg_next::init().map_err(|e| MediaError::internal("ffmpeg init", e))?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    Ok(())
}

/// What the linked FFmpeg can do that Marquee needs, for `marquee doctor` (which runs in its
/// own process, like a worker).
pub struct Capabilities {
    /// The encoders every transcode needs, and whether each is present.
    pub required: Vec<(&'static str, bool)>,
    /// The filter HDR tone-mapping needs.
    pub zscale: bool,
}

pub fn capabilities() -> Capabilities {
    let _ = init();
    Capabilities {
        required: ["libx264", "aac", "mjpeg"]
            .into_iter()
            .map(|name| (name, ffmpeg_next::encoder::find_by_name(name).is_some()))
            .collect(),
        zscale: ffmpeg_next::filter::find("zscale").is_some(),
    }
}
