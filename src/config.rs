//! Configuration: built-in defaults < `<data-dir>/marquee.toml` < `MARQUEE_*` env < CLI flags.
//!
//! Nested keys use a double underscore in the environment, e.g. `MARQUEE_TRANSCODE__JOBS=2`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("could not read configuration: {0}")]
    Load(#[from] Box<figment::Error>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server binds to.
    pub listen: String,
    /// Origin-only connections get segments with `sendfile(2)`; off sends every
    /// connection through actix-web (for filesystems where sendfile misbehaves).
    pub sendfile: bool,
    pub http: HttpConfig,
    pub ingest: IngestConfig,
    pub transcode: TranscodeConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// A client that accepts no response bytes for this long is disconnected (nginx's
    /// `send_timeout`, 60 s by default there).
    pub send_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// A file counts as completely written once its size and mtime have not changed for this long.
    pub settle_secs: u64,
    /// Full rescan of the inbox as a safety net for missed filesystem events.
    pub rescan_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscodeConfig {
    /// Transcode jobs that run at the same time.
    pub jobs: usize,
    /// Encoder threads per job; 0 lets x264 choose.
    pub threads: u32,
    /// Target segment duration in seconds (2–6).
    pub segment_secs: u32,
    /// x264 preset.
    pub preset: String,
    pub audio_kbps: u32,
    /// A job running longer than this is killed and failed.
    pub timeout_secs: u64,
    /// A worker that crashes is restarted this many times in all before the job fails.
    pub max_attempts: u32,
    pub ladder: Vec<Rung>,
}

/// One rung of the ABR ladder. `height` is the short side of the picture, so portrait
/// videos get the same quality steps as landscape ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    pub height: u32,
    pub video_kbps: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            sendfile: true,
            http: HttpConfig::default(),
            ingest: IngestConfig::default(),
            transcode: TranscodeConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            send_timeout_secs: 30,
        }
    }
}

impl HttpConfig {
    pub fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.send_timeout_secs)
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            settle_secs: 3,
            rescan_secs: 60,
        }
    }
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        TranscodeConfig {
            jobs: 1,
            threads: 0,
            segment_secs: 4,
            preset: "veryfast".into(),
            audio_kbps: 128,
            timeout_secs: 6 * 3600,
            max_attempts: 3,
            // Adjacent rungs are 33–42% apart in bitrate.
            ladder: vec![
                Rung {
                    height: 1080,
                    video_kbps: 5000,
                },
                Rung {
                    height: 720,
                    video_kbps: 3000,
                },
                Rung {
                    height: 540,
                    video_kbps: 2000,
                },
                Rung {
                    height: 360,
                    video_kbps: 1200,
                },
                Rung {
                    height: 240,
                    video_kbps: 700,
                },
            ],
        }
    }
}

/// Flags given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
}

impl Config {
    pub fn load(data_dir: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(data_dir.join("marquee.toml")))
            .merge(Env::prefixed("MARQUEE_").split("__").ignore(&["data_dir"]));
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(("listen", listen));
        }
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.http.send_timeout_secs) {
            return Err(ConfigError::Invalid(format!(
                "http.send_timeout_secs must be between 1 and 3600, not {}",
                self.http.send_timeout_secs
            )));
        }
        let t = &self.transcode;
        if !(2..=6).contains(&t.segment_secs) {
            return Err(ConfigError::Invalid(format!(
                "transcode.segment_secs must be between 2 and 6, not {}",
                t.segment_secs
            )));
        }
        if t.jobs == 0 {
            return Err(ConfigError::Invalid(
                "transcode.jobs must be at least 1".into(),
            ));
        }
        if t.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "transcode.max_attempts must be at least 1".into(),
            ));
        }
        if t.ladder.is_empty() {
            return Err(ConfigError::Invalid(
                "transcode.ladder needs at least one rung".into(),
            ));
        }
        for rung in &t.ladder {
            if rung.height < 32 || rung.height % 2 != 0 || rung.video_kbps < 50 {
                return Err(ConfigError::Invalid(format!(
                    "ladder rung {}p at {} kbps: height must be even and at least 32, bitrate at least 50 kbps",
                    rung.height, rung.video_kbps
                )));
            }
        }
        if t.audio_kbps < 32 {
            return Err(ConfigError::Invalid(
                "transcode.audio_kbps must be at least 32".into(),
            ));
        }
        Ok(())
    }
}

/// Where Marquee keeps everything when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    let is_root = unsafe { libc::geteuid() } == 0;
    match std::env::var_os("HOME") {
        Some(home) if !is_root => PathBuf::from(home).join(".local/share/marquee"),
        _ => PathBuf::from("/var/lib/marquee"),
    }
}

/// The fixed layout under the data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: PathBuf) -> Self {
        DataDir { root }
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("marquee.db")
    }
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn library(&self) -> PathBuf {
        self.root.join("library")
    }
    pub fn asset_dir(&self, asset_id: &str) -> PathBuf {
        self.library().join(asset_id)
    }
    /// Work in progress lives here, on the same filesystem as the library, so publishing is a rename.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }
    pub fn duplicates(&self) -> PathBuf {
        self.root.join("duplicates")
    }

    pub fn create_all(&self) -> std::io::Result<()> {
        for dir in [
            self.root.clone(),
            self.inbox(),
            self.library(),
            self.staging(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Ok(())
    }
}
