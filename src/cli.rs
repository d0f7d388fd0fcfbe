//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "marquee",
    version,
    about = "Self-hosted streaming service: ingest, HLS origin, storefront, paywall"
)]
pub struct Cli {
    /// Where Marquee keeps its database, inbox and library.
    #[arg(long, global = true, env = "MARQUEE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
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
    },
}
