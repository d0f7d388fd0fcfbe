//! What the server asks a worker to do, and what the worker reports back.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Rung;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeRequest {
    pub source: PathBuf,
    /// Empty directory the package is written into.
    pub output_dir: PathBuf,
    pub sidecars: Vec<Sidecar>,
    pub settings: TranscodeSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeSettings {
    pub segment_secs: u32,
    pub ladder: Vec<Rung>,
    pub audio_kbps: u32,
    pub preset: String,
    pub threads: u32,
    /// Sidecar size limits in MB (10^6 bytes), named after their `ingest.*` settings.
    pub max_subtitle_mb: u64,
    pub max_image_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub path: PathBuf,
    pub kind: SidecarKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SidecarKind {
    Subtitle {
        language: Option<String>,
    },
    Poster,
    /// `name.json`: read at ingest for the title; kept with the package, never transcoded.
    Metadata,
}

/// The package's manifest file, written last: a folder with one is a complete package.
pub const MANIFEST_NAME: &str = "package.json";

/// How media segments are named in a rendition's folder: `seg_00000.m4s`, `seg_00001.m4s`...
/// The HLS muxer is given [`segment_template`]; [`PackageManifest::serves`] reads names back
/// with [`segment_index`].
const SEGMENT_PREFIX: &str = "seg_";
const SEGMENT_DIGITS: usize = 5;
const SEGMENT_SUFFIX: &str = ".m4s";

/// The muxer's `hls_segment_filename` pattern (printf style).
pub fn segment_template() -> String {
    format!("{SEGMENT_PREFIX}%0{SEGMENT_DIGITS}d{SEGMENT_SUFFIX}")
}

pub fn segment_name(index: u32) -> String {
    format!("{SEGMENT_PREFIX}{index:0SEGMENT_DIGITS$}{SEGMENT_SUFFIX}")
}

/// The number in a segment name, only for names exactly as [`segment_name`] spells them.
pub fn segment_index(name: &str) -> Option<u32> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = digits.parse().ok()?;
    (segment_name(index) == name).then_some(index)
}

/// Written as `package.json` in the package, last, once everything else is in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageManifest {
    pub duration_secs: f64,
    pub master: String,
    pub video: Vec<VideoRendition>,
    pub audio: Vec<AudioRendition>,
    pub subtitles: Vec<SubtitleTrack>,
    pub poster: Option<String>,
    pub thumbnails: Option<String>,
    /// What the package shows differently from the source, for the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every file the package writer made other than media segments (playlists, init
    /// segments, subtitles, images), relative to the package folder. Media segments
    /// are counted per rendition instead. Empty in packages made before it was recorded.
    #[serde(default)]
    pub files: Vec<String>,
    /// Segments are AES-128 encrypted (`media::encrypt`); the key is `key.bin`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
}

impl PackageManifest {
    /// Whether `relative` (a path inside the package folder) is a file the package writer
    /// made: the origin serves these and nothing else.
    pub fn serves(&self, relative: &str) -> bool {
        if self.files.iter().any(|f| f == relative) {
            return true;
        }
        let Some((folder, name)) = relative.split_once('/') else {
            return false;
        };
        let Some(index) = segment_index(name) else {
            return false;
        };
        self.segmented().any(|(playlist, segments)| {
            rendition_folder(playlist) == Some(folder) && index < segments
        })
    }

    /// Each segmented rendition's playlist with its segment count.
    pub fn segmented(&self) -> impl Iterator<Item = (&str, u32)> {
        let video = self.video.iter().map(|v| (v.playlist.as_str(), v.segments));
        let audio = self.audio.iter().map(|a| (a.playlist.as_str(), a.segments));
        video.chain(audio)
    }

    /// Whether [`files`](Self::files) and the segment counts were recorded.
    pub fn lists_files(&self) -> bool {
        !self.files.is_empty()
    }
}

/// The folder a rendition's playlist and segments are in.
pub fn rendition_folder(playlist: &str) -> Option<&str> {
    playlist.rsplit_once('/').map(|(folder, _)| folder)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRendition {
    pub playlist: String,
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: String,
    /// Media segments in the playlist's folder, named by [`segment_name`] from 0.
    #[serde(default)]
    pub segments: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    pub playlist: String,
    pub language: Option<String>,
    pub name: String,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: String,
    /// Media segments in the playlist's folder, named by [`segment_name`] from 0.
    #[serde(default)]
    pub segments: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtitleTrack {
    pub playlist: String,
    pub file: String,
    pub language: Option<String>,
    pub name: String,
}
