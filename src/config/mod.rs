//! Configuration: built-in defaults < `<data-dir>/marquee.toml` (or the `--config` file)
//! < `MARQUEE_*` env < CLI flags.
//!
//! Nested keys use a double underscore in the environment, e.g. `MARQUEE_TRANSCODE__JOBS=2`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod accounts;
mod analytics;
mod data_dir;
mod ip_range;
mod paywall;
mod site;
mod smtp;
mod stripe;
mod tls;

pub use accounts::{AccountsConfig, SignupMode};
pub use analytics::AnalyticsConfig;
pub use data_dir::{DataDir, default_data_dir};
pub use ip_range::IpRange;
pub use paywall::{MAX_TOKEN_TTL_SECS as PAYWALL_MAX_TOKEN_TTL_SECS, PaywallConfig};
pub use site::SiteConfig;
pub use smtp::{SmtpConfig, SmtpSecurity};
pub use stripe::StripeConfig;
pub use tls::{
    AcmeChallenge, AcmeConfig, LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING, TlsConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("could not read configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: unknown key `{key}`; {hint}")]
    UnknownKey {
        file: String,
        key: String,
        hint: String,
    },
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
    pub tls: TlsConfig,
    pub ingest: IngestConfig,
    pub transcode: TranscodeConfig,
    pub metrics: MetricsConfig,
    pub accounts: AccountsConfig,
    pub uploads: UploadsConfig,
    pub smtp: SmtpConfig,
    pub site: SiteConfig,
    pub catalog: CatalogConfig,
    pub webhooks: WebhooksConfig,
    pub paywall: PaywallConfig,
    pub stripe: StripeConfig,
    pub analytics: AnalyticsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// Seconds to wait before each retry of a failed delivery; after the last one the
    /// delivery is given up.
    pub retry_secs: Vec<u64>,
    /// Failed attempts in a row after which an endpoint is disabled (and its owners told).
    pub disable_after: u32,
    /// How long one delivery may take.
    pub timeout_secs: u64,
    /// Private, loopback and other internal ranges webhooks and alert webhooks may still be
    /// sent to (`["10.0.0.0/8", "127.0.0.1"]`). Empty (the default): only public addresses,
    /// so an endpoint cannot make the server call this machine or its network.
    pub allow_private: Vec<IpRange>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            retry_secs: vec![30, 120, 600, 3600, 10800, 21600, 43200],
            disable_after: 15,
            timeout_secs: 10,
            allow_private: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_secs.iter().any(|s| !(1..=86_400).contains(s)) || self.retry_secs.len() > 30 {
            return Err(ConfigError::Invalid(
                "webhooks.retry_secs: at most 30 waits of 1 to 86400 seconds".into(),
            ));
        }
        if self.disable_after == 0 || !(1..=60).contains(&self.timeout_secs) {
            return Err(ConfigError::Invalid(
                "webhooks.disable_after must be at least 1 and webhooks.timeout_secs 1 to 60"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    /// What a title made for new media starts as: `draft` (an editor publishes it) or
    /// `published` (viewers see it as soon as its media is ready).
    pub new_titles: NewTitles,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NewTitles {
    #[default]
    Draft,
    Published,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadsConfig {
    /// Largest file a resumable upload may announce, in bytes; larger ones are refused
    /// before anything is stored.
    pub max_bytes: u64,
    /// An unfinished upload that receives nothing for this long is removed with its bytes.
    pub expire_hours: u64,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            max_bytes: 20_000_000_000,
            expire_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>`. The metrics hold
    /// counts only (no titles, no viewer addresses), so they are open when unset.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// A client that accepts no response bytes for this long is disconnected (nginx's
    /// `send_timeout`, 60 s by default there), and so is one whose request body stalls
    /// this long (nginx's `client_body_timeout`).
    pub send_timeout_secs: u64,
    /// Reverse proxies (address blocks such as `127.0.0.1/32`) whose forwarding header
    /// names the client; empty: the TCP peer is the client (`crate::client_addr`).
    pub trusted_proxies: Vec<String>,
    /// The header those proxies set: `x-forwarded-for` or `forwarded` (RFC 7239). Only
    /// this one is read, so a client cannot pick its address with the other.
    pub forwarded_header: crate::client_addr::ForwardedHeader,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// A file counts as completely written once its size and mtime have not changed for this long.
    pub settle_secs: u64,
    /// Full rescan of the inbox as a safety net for missed filesystem events.
    pub rescan_secs: u64,
    /// Largest subtitle sidecar (`.srt`, `.vtt`) a transcode reads, in MB (10^6 bytes).
    pub max_subtitle_mb: u64,
    /// Largest poster image sidecar a transcode copies, in MB (10^6 bytes).
    pub max_image_mb: u64,
    /// Ingest pauses (no job starts) while the data dir's filesystem has less than this
    /// free, in MB (10^6 bytes), and resumes by itself when space returns.
    pub min_free_mb: u64,
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
    /// A job whose attempt fails for a reason worth retrying (the worker crashed, a folder
    /// could not be written) runs this many times in all before its asset fails.
    pub max_attempts: u32,
    /// Wait before the first retry; it doubles with each further attempt (at most 1 h).
    pub retry_delay_secs: u64,
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
            tls: TlsConfig::default(),
            ingest: IngestConfig::default(),
            transcode: TranscodeConfig::default(),
            metrics: MetricsConfig::default(),
            accounts: AccountsConfig::default(),
            uploads: UploadsConfig::default(),
            smtp: SmtpConfig::default(),
            site: SiteConfig::default(),
            catalog: CatalogConfig::default(),
            webhooks: WebhooksConfig::default(),
            paywall: PaywallConfig::default(),
            stripe: StripeConfig::default(),
            analytics: AnalyticsConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            send_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            forwarded_header: Default::default(),
        }
    }
}

impl HttpConfig {
    pub fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.send_timeout_secs)
    }

    /// `trusted_proxies` parsed (checked at load, so this cannot fail after `validate`).
    pub fn trusted_proxies(&self) -> Result<crate::client_addr::TrustedProxies, ConfigError> {
        let blocks = self
            .trusted_proxies
            .iter()
            .map(|b| {
                b.parse()
                    .map_err(|e| ConfigError::Invalid(format!("http.trusted_proxies: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(crate::client_addr::TrustedProxies::new(
            blocks,
            self.forwarded_header,
        ))
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            settle_secs: 3,
            rescan_secs: 60,
            max_subtitle_mb: 10,
            max_image_mb: 50,
            min_free_mb: 1024,
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
            retry_delay_secs: 30,
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
    /// `--config FILE`: read this file instead of `<data-dir>/marquee.toml`.
    pub config_file: Option<PathBuf>,
    /// `--tls`: serve HTTPS whatever the file says.
    pub tls: bool,
}

impl Config {
    pub fn load(data_dir: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config_file {
            // A file named on the command line must exist: a typo in the path would
            // otherwise run the server on defaults without a word.
            Some(file) if !file.is_file() => {
                return Err(ConfigError::Read {
                    path: file.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file (given with --config or MARQUEE_CONFIG)",
                    ),
                });
            }
            Some(file) => file.clone(),
            None => data_dir.join("marquee.toml"),
        };
        check_file_keys(&file)?;
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(
                Env::prefixed("MARQUEE_")
                    .split("__")
                    .ignore(&["data_dir", "config"]),
            );
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(("listen", listen));
        }
        if overrides.tls {
            figment = figment.merge(("tls.enabled", true));
        }
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.http.send_timeout_secs) {
            return Err(ConfigError::Invalid(format!(
                "http.send_timeout_secs must be between 1 and 3600, not {}",
                self.http.send_timeout_secs
            )));
        }
        self.http.trusted_proxies()?;
        let tls = &self.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert_file and tls.key_file go together: give both or neither".into(),
            ));
        }
        if tls.cert_file.is_some() && tls.acme.enabled() {
            return Err(ConfigError::Invalid(
                "tls.cert_file/tls.key_file and tls.acme.domains both choose the certificate: \
                 set one or the other"
                    .into(),
            ));
        }
        if !(1..=86400).contains(&tls.reload_secs) {
            return Err(ConfigError::Invalid(format!(
                "tls.reload_secs must be between 1 and 86400, not {}",
                tls.reload_secs
            )));
        }
        let i = &self.ingest;
        for (key, value) in [
            ("max_subtitle_mb", i.max_subtitle_mb),
            ("max_image_mb", i.max_image_mb),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "ingest.{key} must be at least 1"
                )));
            }
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
        if t.retry_delay_secs == 0 {
            return Err(ConfigError::Invalid(
                "transcode.retry_delay_secs must be at least 1".into(),
            ));
        }
        if t.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "transcode.max_attempts must be at least 1".into(),
            ));
        }
        self.accounts.validate()?;
        self.smtp.validate()?;
        self.site.validate()?;
        self.webhooks.validate()?;
        self.paywall.validate()?;
        self.stripe.validate()?;
        self.analytics.validate()?;
        if self.metrics.token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid(
                "metrics.token must be at least 16 characters".into(),
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
        if self.uploads.max_bytes == 0 {
            return Err(ConfigError::Invalid(
                "uploads.max_bytes must be at least 1".into(),
            ));
        }
        if !(1..=24 * 365).contains(&self.uploads.expire_hours) {
            return Err(ConfigError::Invalid(format!(
                "uploads.expire_hours must be between 1 and 8760, not {}",
                self.uploads.expire_hours
            )));
        }
        self.tls.acme.validate()?;
        Ok(())
    }
}

/// Refuses a key in `marquee.toml` that no setting has (a misspelling would otherwise be
/// ignored silently), naming the nearest valid key. Environment variables are not checked:
/// `MARQUEE_*` also carries the command line's own options.
fn check_file_keys(file: &Path) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: file.display().to_string(),
                source,
            });
        }
    };
    let mut unknown = Vec::new();
    let parsed: Result<Config, _> =
        serde_ignored::deserialize(toml::Deserializer::new(&text), |path| {
            unknown.push(path.to_string())
        });
    // A syntax or type error is figment's to report, with its position.
    if parsed.is_err() {
        return Ok(());
    }
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(key) => Err(ConfigError::UnknownKey {
            file: file.display().to_string(),
            hint: hint_for(&key),
            key,
        }),
    }
}

/// "did you mean `x`?" when a valid key at the same level is close, else the valid keys.
fn hint_for(key: &str) -> String {
    let (parent, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut table = &defaults;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        table = match part.parse::<usize>() {
            Ok(i) => table.get(i).or_else(|| table.get(0)),
            Err(_) => table.get(part),
        }
        .unwrap_or(&serde_json::Value::Null);
    }
    let valid: Vec<&String> = table
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}.")
    };
    let nearest = valid
        .iter()
        .map(|k| (strsim::damerau_levenshtein(leaf, k), *k))
        .min();
    match nearest {
        Some((distance, k)) if distance <= (leaf.len() / 3).max(2) => {
            format!("did you mean `{prefix}{k}`?")
        }
        _ if valid.is_empty() => "this setting takes no keys".into(),
        _ => format!(
            "valid keys here: {}",
            valid
                .iter()
                .map(|k| format!("`{prefix}{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marquee.toml"), toml).unwrap();
        Config::load(dir.path(), &Overrides::default())
    }

    #[test]
    fn trusted_proxies_are_checked_at_load() {
        let ok = load_with(
            "[http]\ntrusted_proxies = [\"127.0.0.1/32\", \"::1\", \"10.0.0.0/8\"]\nforwarded_header = \"forwarded\"\n",
        )
        .unwrap();
        let proxies = ok.http.trusted_proxies().unwrap();
        assert_eq!(proxies.header(), "forwarded");
        let peer = "10.1.2.3".parse().unwrap();
        let client = proxies.client(peer, [&b"for=203.0.113.9"[..]]);
        assert_eq!(client.to_string(), "203.0.113.9");
        let text = load_with("[http]\ntrusted_proxies = [\"nginx\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("http.trusted_proxies: \"nginx\" is not an address range"),
            "{text}"
        );
        let text = load_with("[http]\ntrusted_proxies = [\"10.0.0.0/40\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("prefix length after / must be 0 to 32"),
            "{text}"
        );
        assert!(load_with("[http]\nforwarded_header = \"x-real-ip\"\n").is_err());
    }

    #[test]
    fn a_misspelled_key_is_refused_with_the_nearest_valid_one() {
        let err = load_with("[transcode]\nsegmnt_secs = 4\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("unknown key `transcode.segmnt_secs`"),
            "{text}"
        );
        assert!(
            text.contains("did you mean `transcode.segment_secs`?"),
            "{text}"
        );

        let text = load_with("lisen = \"0.0.0.0:80\"\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("did you mean `listen`?"), "{text}");

        let text =
            load_with("[transcode]\nladder = [{ height = 720, video_kbps = 3000, bitrate = 1 }]\n")
                .unwrap_err()
                .to_string();
        assert!(text.contains("`transcode.ladder.0.bitrate`"), "{text}");
        assert!(text.contains("valid keys here"), "{text}");

        let text = load_with("[ingset]\nsettle_secs = 1\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("did you mean `ingest`?"), "{text}");
    }

    #[test]
    fn the_data_dir_owns_its_files_but_not_those_behind_links() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path().join("data"));
        data.create_all().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("show")).unwrap();
        std::fs::write(elsewhere.join("show/ep1.mp4"), b"x").unwrap();
        std::fs::write(elsewhere.join("film.mp4"), b"x").unwrap();
        std::fs::create_dir_all(data.inbox().join("sub")).unwrap();
        std::fs::write(data.inbox().join("sub/own.mp4"), b"x").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("show"), data.inbox().join("show")).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("film.mp4"), data.inbox().join("film.mp4"))
            .unwrap();

        assert!(data.owns(&data.inbox().join("sub/own.mp4")));
        assert!(!data.owns(&data.inbox().join("show/ep1.mp4")));
        assert!(!data.owns(&data.inbox().join("film.mp4")));
        assert!(!data.owns(&elsewhere.join("film.mp4")));
        assert!(!data.owns(&data.inbox().join("sub/../../elsewhere/film.mp4")));
        assert!(
            !data.owns(&data.inbox().join("sub")),
            "folders are not files"
        );

        // The inbox itself may be a link to another disk: what lies in it is still ours.
        let real_inbox = tmp.path().join("big-disk-inbox");
        std::fs::create_dir_all(&real_inbox).unwrap();
        std::fs::write(real_inbox.join("a.mp4"), b"x").unwrap();
        let linked = DataDir::new(tmp.path().join("data2"));
        std::fs::create_dir_all(&linked.root).unwrap();
        std::os::unix::fs::symlink(&real_inbox, linked.inbox()).unwrap();
        assert!(linked.owns(&linked.inbox().join("a.mp4")));
    }

    #[test]
    fn a_config_file_named_on_the_command_line_replaces_the_data_dirs_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("marquee.toml"),
            "listen = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let etc = dir.path().join("etc.toml");
        std::fs::write(&etc, "listen = \"127.0.0.1:2\"\n").unwrap();
        let named = |file: &Path| Overrides {
            config_file: Some(file.to_path_buf()),
            ..Overrides::default()
        };
        let config = Config::load(dir.path(), &named(&etc)).unwrap();
        assert_eq!(config.listen, "127.0.0.1:2");
        let text = Config::load(dir.path(), &named(&dir.path().join("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("missing.toml") && text.contains("--config"),
            "{text}"
        );
        std::fs::write(&etc, "lisen = \"127.0.0.1:2\"\n").unwrap();
        let text = Config::load(dir.path(), &named(&etc))
            .unwrap_err()
            .to_string();
        assert!(text.contains("etc.toml: unknown key `lisen`"), "{text}");
    }

    #[test]
    fn the_packaged_commented_defaults_are_the_real_defaults() {
        // packaging/marquee.toml is what install.sh and the .deb put in /etc/marquee: with
        // every setting uncommented it must load, and give exactly the built-in defaults
        // (except `listen` and `tls`, which the service opens to the network over HTTPS).
        let packaged = include_str!("../../packaging/marquee.toml");
        let uncommented: String = packaged
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let loaded = load_with(&uncommented).unwrap();
        assert_eq!(loaded.listen, "0.0.0.0:8080");
        assert!(loaded.tls.enabled);
        assert_eq!(loaded.tls.listen, "0.0.0.0:8443");
        let mut defaults = Config {
            listen: loaded.listen.clone(),
            ..Config::default()
        };
        defaults.tls.enabled = true;
        defaults.tls.listen = loaded.tls.listen.clone();
        assert_eq!(
            serde_json::to_value(&loaded).unwrap(),
            serde_json::to_value(&defaults).unwrap()
        );
        // Every setting is shown: uncommented with its default, or (one without a default
        // value, such as an optional token) as an example after `# `.
        fn leaves(value: &serde_json::Value, key: &str, out: &mut Vec<(String, bool)>) {
            match value.as_object() {
                Some(table) if !table.is_empty() => {
                    for (k, v) in table {
                        leaves(v, k, out)
                    }
                }
                _ => out.push((key.to_string(), value.is_null())),
            }
        }
        let mut every_key = Vec::new();
        leaves(
            &serde_json::to_value(Config::default()).unwrap(),
            "",
            &mut every_key,
        );
        for (key, unset) in every_key {
            let shown = if unset {
                packaged.contains(&format!("\n# {key} = "))
            } else {
                uncommented.contains(&format!("\n{key} = "))
            };
            assert!(shown, "packaging/marquee.toml does not show `{key}`");
        }
    }

    #[test]
    fn valid_files_and_missing_files_load() {
        let config = load_with("listen = \"127.0.0.1:9\"\n[transcode]\njobs = 2\n").unwrap();
        assert_eq!(config.listen, "127.0.0.1:9");
        assert_eq!(config.transcode.jobs, 2);
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(dir.path(), &Overrides::default()).unwrap();
        assert_eq!(config.transcode.segment_secs, 4);
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_reason() {
        for (toml, expected) in [
            (
                "[transcode]\nsegment_secs = 9\n",
                "segment_secs must be between 2 and 6",
            ),
            ("[transcode]\njobs = 0\n", "jobs must be at least 1"),
            (
                "[transcode]\nmax_attempts = 0\n",
                "max_attempts must be at least 1",
            ),
            (
                "[transcode]\nretry_delay_secs = 0\n",
                "retry_delay_secs must be at least 1",
            ),
            ("[transcode]\nladder = []\n", "at least one rung"),
            (
                "[transcode]\nladder = [{ height = 719, video_kbps = 3000 }]\n",
                "height must be even",
            ),
            (
                "[transcode]\naudio_kbps = 8\n",
                "audio_kbps must be at least 32",
            ),
            (
                "[tls]\ncert_file = \"/x.crt\"\n",
                "tls.cert_file and tls.key_file go together",
            ),
            (
                "[tls]\ncert_file = \"/x.crt\"\nkey_file = \"/x.key\"\n\
                 [tls.acme]\ndomains = [\"tv.example.com\"]\n",
                "tls.cert_file/tls.key_file and tls.acme.domains both choose the certificate",
            ),
            (
                "[tls]\nreload_secs = 0\n",
                "tls.reload_secs must be between",
            ),
            (
                "[tls.acme]\ndomains = [\"*.example.com\"]\n",
                "`*.example.com` is not a DNS name",
            ),
            (
                "[tls.acme]\ndomains = [\"203.0.113.7\"]\n",
                "`203.0.113.7` is not a DNS name",
            ),
            (
                "[tls.acme]\ndomains = [\"Example.com\"]\n",
                "`Example.com` is not a DNS name",
            ),
            (
                "[tls.acme]\nemail = \"ops at example.com\"\n",
                "not an e-mail address",
            ),
            (
                "[tls.acme]\ndirectory = \"http://acme.example/dir\"\n",
                "directory must be an https:// URL",
            ),
            ("[tls.acme]\nchallenge = \"dns-01\"\n", "challenge"),
            (
                "[tls.acme]\ndirectory_ca_file = \"/nonexistent/pebble.pem\"\n",
                "directory_ca_file: cannot read /nonexistent/pebble.pem",
            ),
            (
                "[tls.acme]\nrenew_before_days = 0\n",
                "renew_before_days must be between 1 and 60",
            ),
        ] {
            let text = load_with(toml).unwrap_err().to_string();
            assert!(text.contains(expected), "{toml}: {text}");
        }
    }

    #[test]
    fn acme_settings_load_from_the_tls_acme_table() {
        let config = load_with(
            "[tls.acme]\ndomains = [\"tv.example.com\", \"www.tv.example.com\"]\nemail = \"ops@example.com\"\nchallenge = \"tls-alpn-01\"\n",
        )
        .unwrap();
        let acme = &config.tls.acme;
        assert!(acme.enabled());
        assert_eq!(acme.domains, ["tv.example.com", "www.tv.example.com"]);
        assert_eq!(acme.challenge, AcmeChallenge::TlsAlpn01);
        assert_eq!(acme.directory, LETS_ENCRYPT_PRODUCTION);
        assert_eq!(acme.renew_before_days, 30);
        assert!(!Config::default().tls.acme.enabled());
    }

    #[test]
    fn a_type_error_is_reported_by_position() {
        let text = load_with("[transcode]\njobs = \"two\"\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("jobs"), "{text}");
    }

    #[test]
    fn sidecar_limits_default_and_must_be_positive() {
        let config = Config::default();
        assert_eq!(
            (config.ingest.max_subtitle_mb, config.ingest.max_image_mb),
            (10, 50)
        );
        assert!(config.validate().is_ok());
        let mut zero = config.clone();
        zero.ingest.max_image_mb = 0;
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "invalid configuration: ingest.max_image_mb must be at least 1"
        );
    }
}
