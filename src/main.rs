use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use marquee::cli::{ApikeyAction, Cli, Command, LogFormat};
use marquee::config::{self, Config, DataDir, Overrides};
use marquee::db::Db;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Worker = cli.command {
        // The worker speaks JSON on stdout; anything it logs goes to stderr.
        return ExitCode::from(marquee::jobs::worker::run() as u8);
    }
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(cli.data_dir.unwrap_or_else(config::default_data_dir));
    let overrides = match &cli.command {
        Command::Serve { listen, .. } => Overrides {
            listen: listen.clone(),
        },
        _ => Overrides::default(),
    };
    let config = Config::load(&data.root, &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve { ui_dir, .. } => {
            runtime.block_on(marquee::server::serve(data, config, ui_dir))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { files } => {
            let failed = runtime.block_on(marquee::ingest_cli::run(data, config, files))?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Apikey {
            action: ApikeyAction::Create { name },
        } => {
            data.create_all()?;
            let db = Db::open(&data.db_path())
                .with_context(|| format!("cannot open {}", data.db_path().display()))?;
            let key = db.write_blocking(|tx| {
                marquee::accounts::apikeys::create(tx, &name, marquee::jobs::runner::now())
            })?;
            eprintln!("API key {name:?} created. It is shown only once; store it now.");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker => unreachable!("handled before logging starts"),
    }
}

fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    // actix-web's HTTP/1 dispatcher logs each malformed request at ERROR, one line per
    // request anyone can send; `http::client_errors` logs them instead, rate-limited per
    // client. Left on only when asked for by name.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("actix_http")) {
        filter = filter.add_directive(
            format!("{}=off", marquee::http::client_errors::DISPATCHER_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
