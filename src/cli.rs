//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

// Macros, not consts: `concat!` takes literals only.
#[cfg(debug_assertions)]
macro_rules! build_kind {
    () => {
        "debug"
    };
}
#[cfg(not(debug_assertions))]
macro_rules! build_kind {
    () => {
        "release"
    };
}
#[cfg(feature = "static")]
macro_rules! ffmpeg_linking {
    () => {
        "linked in (static)"
    };
}
#[cfg(not(feature = "static"))]
macro_rules! ffmpeg_linking {
    () => {
        "shared libraries"
    };
}
/// `marquee --version`: also says how the binary was built, which the test suite reads
/// (only a debug build has its test hooks) and an operator may want to know.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nbuild: ",
    build_kind!(),
    "\nffmpeg: ",
    ffmpeg_linking!()
);

#[derive(Parser)]
#[command(
    name = "marquee",
    version,
    long_version = LONG_VERSION,
    about = "Self-hosted streaming service: ingest, HLS origin, storefront, paywall"
)]
pub struct Cli {
    /// Where Marquee keeps its database, inbox and library.
    #[arg(long, global = true, env = "MARQUEE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file to read instead of `<data-dir>/marquee.toml` (the installed
    /// service uses /etc/marquee/marquee.toml); it must exist.
    #[arg(long, global = true, env = "MARQUEE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log output format (logs go to standard error).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "MARQUEE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the appliance: inbox watcher, transcoder, HTTP server.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long, env = "MARQUEE_LISTEN")]
        listen: Option<String>,
        /// Serve HTTPS on `tls.listen` (HTTP/1.1 and HTTP/2) and redirect plain HTTP on
        /// `--listen` to it; without certificate files, a self-signed certificate is made
        /// in the data dir on first start.
        #[arg(long)]
        tls: bool,
        /// Development: serve the web UI from this folder (e.g. web-ui) so edits show
        /// without rebuilding.
        #[arg(long, env = "MARQUEE_UI_DIR")]
        ui_dir: Option<PathBuf>,
    },
    /// Ingest files now, showing progress; the files themselves are left where they are.
    Ingest {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        action: ApikeyAction,
    },
    /// Manage accounts.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Write a backup archive (database snapshot, the settings file the server reads:
    /// --config or the data dir's, keys; media with --media). Safe while the server runs.
    Backup {
        /// The archive to write (`.tar.zst`); written under a temporary name, then renamed.
        #[arg(long)]
        to: PathBuf,
        /// Also include the library (packages and sources).
        #[arg(long)]
        media: bool,
    },
    /// Restore a backup archive into the data dir, its settings to --config or the data
    /// dir's marquee.toml (the server must be stopped).
    Restore {
        #[arg(long)]
        from: PathBuf,
        /// Restore into a data dir that is not empty, or over a different settings file,
        /// moving (copying) what is replaced into `backups/pre-restore-<time>/`.
        #[arg(long)]
        force: bool,
    },
    /// Check the machine and the configuration; each line says OK, WARN or FAIL and what to
    /// do. Exits non-zero on any FAIL.
    Doctor,
    /// Print the addresses the server answers at and, for a self-signed certificate, its
    /// SHA-256 fingerprint (what install.sh and the .deb print after starting it).
    Urls,
    /// Internal: run one transcode job (request on stdin, events on stdout).
    #[command(hide = true)]
    Worker,
}

#[derive(Subcommand)]
pub enum ApikeyAction {
    /// Create a key; it is printed once, alone on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// What the key may do (repeat for more): assets:read, assets:write, status:read,
        /// catalog:read, catalog:write, members:read, members:write, settings:read,
        /// settings:write, apikeys:write, webhooks:write, audit:read. Without it the key may
        /// do everything.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The key stops working after this long: `30d`, `12h`, `90m`.
        #[arg(long)]
        expires_in: Option<String>,
        /// The account the key belongs to (its email); it never reaches further than
        /// that account's role, and stops working if the account is disabled or deleted.
        #[arg(long)]
        owner: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AdminAction {
    /// While no owner exists: issue a fresh one-time setup link (an earlier one, such as
    /// the one the server printed, stops working) and print it on the last line, for the
    /// first address `marquee urls` shows. With an owner: say where to sign in.
    SetupLink,
    /// Create an account; the password is read from standard input (one line, 12 to 1024
    /// characters). The first account is the owner.
    Create {
        #[arg(long)]
        email: String,
        /// owner, admin, editor, support or viewer; admin when not given (owner for the
        /// first account, whatever is given).
        #[arg(long)]
        role: Option<String>,
        /// The name shown in the dashboard.
        #[arg(long, default_value = "")]
        name: String,
    },
}
