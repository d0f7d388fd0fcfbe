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
    Subtitle { language: Option<String> },
    Poster,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    pub playlist: String,
    pub language: Option<String>,
    pub name: String,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtitleTrack {
    pub playlist: String,
    pub file: String,
    pub language: Option<String>,
    pub name: String,
}
