//! `marquee doctor`: checks the machine and the configuration a server would run with, and
//! says for each what to fix. Runs in its own process (never the server), so it may load
//! FFmpeg to see which encoders and filters the linked libraries have.

use std::net::{TcpListener, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, DataDir, Overrides};
use crate::db;
use crate::disk::DiskSpace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    /// What was found and, unless OK, what to do.
    pub message: String,
}

fn check(name: &'static str, level: Level, message: impl Into<String>) -> Check {
    Check {
        name,
        level,
        message: message.into(),
    }
}

/// Email: off, or a real conversation with the configured server (connect, TLS, sign-in).
fn smtp(config: &crate::config::SmtpConfig) -> Check {
    if !config.enabled() {
        return check(
            "smtp",
            Level::Ok,
            "not configured: sign-in links are not emailed (set [smtp] host and from)",
        );
    }
    let server =
        format!("{}:{} ({:?})", config.host, config.port(), config.security).to_lowercase();
    let tried = crate::mail::Mailer::from_config(config).and_then(|mailer| {
        // The doctor runs before any runtime: one of its own for this conversation.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::mail::MailError::Io(e.to_string()))?;
        runtime.block_on(mailer.check_connection())
    });
    match tried {
        Ok(()) => check("smtp", Level::Ok, format!("{server} answered")),
        Err(e) => check(
            "smtp",
            Level::Fail,
            format!("{server}: {e}; check [smtp] (no email can go out)"),
        ),
    }
}

/// A certificate expiring sooner than this is a warning.
const TLS_WARN_DAYS: i64 = 14;

/// Every check, in the order printed. `now` is the wall clock being checked; `config_file`
/// is the file the server reads (`--config`, as the installed service uses), else
/// `<data-dir>/marquee.toml`.
pub fn run(data: &DataDir, config_file: Option<&Path>, now: SystemTime) -> Vec<Check> {
    let overrides = Overrides {
        config_file: config_file.map(Path::to_path_buf),
        ..Overrides::default()
    };
    let file = data.settings_file(config_file);
    let (config, config_check) = match Config::load(&data.root, &overrides) {
        Ok(config) => {
            let message = if file.is_file() {
                format!("{} is valid", file.display())
            } else {
                format!("no {}: the built-in defaults apply", file.display())
            };
            (config, check("config", Level::Ok, message))
        }
        Err(e) => (
            Config::default(),
            check(
                "config",
                Level::Fail,
                format!(
                    "{e}; fix {} (the other checks use the defaults)",
                    file.display()
                ),
            ),
        ),
    };
    vec![
        config_check,
        permissions(data),
        disk(data, config.ingest.min_free_mb),
        database(data),
        port(data, &config.listen),
        clock(now),
        encoders(),
        tls(data, now),
        smtp(&config.smtp),
        check(
            "payments",
            Level::Ok,
            "not configured: this version of Marquee takes no payments",
        ),
    ]
}

fn permissions(data: &DataDir) -> Check {
    let meta = match std::fs::metadata(&data.root) {
        Ok(meta) => meta,
        Err(e) => {
            return check(
                "permissions",
                Level::Warn,
                format!(
                    "the data dir {} does not exist yet ({e}); `marquee serve` creates it",
                    data.root.display()
                ),
            );
        }
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let owner = std::os::unix::fs::MetadataExt::uid(&meta);
    let folders = [
        data.root.clone(),
        data.inbox(),
        data.library(),
        data.staging(),
        data.db_path(),
    ];
    let unwritable: Vec<String> = folders
        .iter()
        .filter(|p| p.exists())
        .filter(|p| rustix::fs::access(p.as_path(), rustix::fs::Access::WRITE_OK).is_err())
        .map(|p| p.display().to_string())
        .collect();
    if !unwritable.is_empty() {
        return check(
            "permissions",
            Level::Fail,
            format!(
                "not writable by this user (uid {uid}): {}; run `chown -R {uid} {}` or run Marquee as the data dir's owner",
                unwritable.join(", "),
                data.root.display()
            ),
        );
    }
    if owner != uid {
        return check(
            "permissions",
            Level::Warn,
            format!(
                "the data dir {} belongs to uid {owner}, not to this user (uid {uid}): run the server, and this check, as the data dir's owner (e.g. `sudo -u marquee marquee doctor`)",
                data.root.display()
            ),
        );
    }
    check(
        "permissions",
        Level::Ok,
        format!(
            "the data dir {} is owned and writable by uid {uid}",
            data.root.display()
        ),
    )
}

fn disk(data: &DataDir, min_free_mb: u64) -> Check {
    let folder = if data.root.exists() {
        data.root.as_path()
    } else {
        data.root.parent().unwrap_or(Path::new("/"))
    };
    match DiskSpace::of(folder, min_free_mb) {
        Ok(space) if space.is_low() => check(
            "disk",
            Level::Fail,
            format!("{}: ingest is paused; free some space", space.describe()),
        ),
        Ok(space) if space.free_bytes < space.min_free_bytes.saturating_mul(2) => check(
            "disk",
            Level::Warn,
            format!(
                "{}: ingest pauses below the floor; free some space soon",
                space.describe()
            ),
        ),
        Ok(space) => check("disk", Level::Ok, space.describe()),
        Err(e) => check(
            "disk",
            Level::Fail,
            format!("cannot measure free space: {e}"),
        ),
    }
}

fn database(data: &DataDir) -> Check {
    let path = data.db_path();
    if !path.exists() {
        return check(
            "database",
            Level::Ok,
            "no database yet: `marquee serve` creates it",
        );
    }
    let found = match db::open_read_only(&path).and_then(|c| db::schema_version_of(&c)) {
        Ok(v) => v,
        Err(e) => {
            return check(
                "database",
                Level::Fail,
                format!(
                    "{} cannot be read: {e}; restore a backup (`marquee restore`)",
                    path.display()
                ),
            );
        }
    };
    let supported = db::schema_version();
    if found > supported {
        check(
            "database",
            Level::Fail,
            format!(
                "schema version {found} is newer than this Marquee knows ({supported}): run the newer Marquee that wrote it, or restore a backup made with this version"
            ),
        )
    } else if found < supported {
        check(
            "database",
            Level::Warn,
            format!(
                "schema version {found}: the next start upgrades it to {supported}, taking a snapshot into backups/ first"
            ),
        )
    } else {
        check("database", Level::Ok, format!("schema version {found}"))
    }
}

fn port(data: &DataDir, listen: &str) -> Check {
    let addrs: Vec<_> = match listen.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            return check(
                "port",
                Level::Fail,
                format!("listen = {listen:?} is not an address: {e}; set it like 0.0.0.0:8080"),
            );
        }
    };
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                // Taken by this data dir's own server is fine.
                if data.root.exists() && super::lock::DataDirLock::acquire(&data.root).is_err() {
                    return check(
                        "port",
                        Level::Ok,
                        format!("{addr} is in use by the Marquee server running on this data dir"),
                    );
                }
                return check(
                    "port",
                    Level::Fail,
                    format!(
                        "{addr} is in use by another program; stop it (see `ss -ltnp`) or set another `listen`"
                    ),
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return check(
                    "port",
                    Level::Fail,
                    format!(
                        "{addr} needs privileges: give the binary CAP_NET_BIND_SERVICE (the systemd unit does) or listen on a port above 1023"
                    ),
                );
            }
            Err(e) => {
                return check("port", Level::Fail, format!("cannot listen on {addr}: {e}"));
            }
        }
    }
    check("port", Level::Ok, format!("{listen} can be listened on"))
}

fn clock(now: SystemTime) -> Check {
    // The binary cannot have been built after the real now: its file time is a lower bound.
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok();
    if let Some(built) = built
        && now + Duration::from_secs(3600) < built
    {
        return check(
            "clock",
            Level::Fail,
            format!(
                "the clock says {} s since 1970, before this binary was installed ({} s): set the time (enable NTP: `timedatectl set-ntp true`); tokens, certificates and retries depend on it",
                unix(now),
                unix(built)
            ),
        );
    }
    match ntp_synchronized() {
        Some(true) => check("clock", Level::Ok, "synchronised by NTP"),
        Some(false) => check(
            "clock",
            Level::Warn,
            "not synchronised by NTP: run `timedatectl set-ntp true` (or install chrony)",
        ),
        None => check(
            "clock",
            Level::Ok,
            "plausible (not before this binary was installed); NTP state unknown: timedatectl is not available here",
        ),
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ntp_synchronized() -> Option<bool> {
    let out = std::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn encoders() -> Check {
    let found = crate::media::capabilities();
    let missing: Vec<&str> = found
        .required
        .iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return check(
            "encoders",
            Level::Fail,
            format!(
                "the linked FFmpeg lacks {}: install an FFmpeg built with them (Debian: libavcodec59 with libx264)",
                missing.join(", ")
            ),
        );
    }
    if !found.zscale {
        return check(
            "encoders",
            Level::Warn,
            "libx264 and aac present; no zscale filter, so HDR sources are not tone-mapped (they play with washed-out colours)",
        );
    }
    check(
        "encoders",
        Level::Ok,
        "libx264, aac and zscale (HDR tone-mapping) present",
    )
}

fn tls(data: &DataDir, now: SystemTime) -> Check {
    let path = data.tls().join("cert.pem");
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(
                "tls",
                Level::Warn,
                format!("no certificate at {}: HTTPS is not set up", path.display()),
            );
        }
        Err(e) => {
            return check(
                "tls",
                Level::Fail,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    let not_after = match certificate_expiry(&pem) {
        Ok(t) => t,
        Err(reason) => {
            return check(
                "tls",
                Level::Fail,
                format!("{} is not a usable certificate: {reason}", path.display()),
            );
        }
    };
    let days = (not_after - unix(now) as i64).div_euclid(86_400);
    if days < 0 {
        check(
            "tls",
            Level::Fail,
            format!(
                "the certificate in {} has expired: replace it",
                path.display()
            ),
        )
    } else if days < TLS_WARN_DAYS {
        check(
            "tls",
            Level::Warn,
            format!("the certificate expires in {days} days: renew it"),
        )
    } else {
        check(
            "tls",
            Level::Ok,
            format!("the certificate is valid for {days} more days"),
        )
    }
}

/// `notAfter` of the first certificate in a PEM file, in Unix seconds.
fn certificate_expiry(pem: &[u8]) -> Result<i64, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| e.to_string())?;
    let cert = block.parse_x509().map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}

/// Every line, `LEVEL name: message`, and whether any failed.
pub fn report(checks: &[Check]) -> (String, bool) {
    let mut text = String::new();
    for c in checks {
        text.push_str(&format!(
            "{:<4} {}: {}\n",
            c.level.label(),
            c.name,
            c.message
        ));
    }
    (text, checks.iter().any(|c| c.level == Level::Fail))
}
