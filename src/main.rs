use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use marquee::cli::{AdminAction, ApikeyAction, Cli, Command};
use marquee::config::{self, Config, DataDir, Overrides};
use marquee::db::Db;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Worker = cli.command {
        // The worker speaks JSON on stdout; anything it logs goes to stderr.
        return ExitCode::from(marquee::jobs::worker::run() as u8);
    }
    marquee::logging::init(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Absolute, so every path the data dir hands out (and stores) means the same thing
    // whatever the working directory of a later process.
    let root = cli.data_dir.unwrap_or_else(config::default_data_dir);
    let data = DataDir::new(std::path::absolute(&root).unwrap_or(root));
    // These must work whatever state the config is in (a restore replaces it).
    match &cli.command {
        Command::Backup { to, media } => {
            return marquee::ops::cli::backup(&data, cli.config.as_deref(), to, *media);
        }
        Command::Restore { from, force } => {
            return marquee::ops::cli::restore(&data, cli.config.as_deref(), from, *force);
        }
        Command::Doctor => {
            return Ok(marquee::ops::cli::doctor(&data, cli.config.as_deref()));
        }
        _ => {}
    }
    let mut overrides = match &cli.command {
        Command::Serve { listen, tls, .. } => Overrides {
            listen: listen.clone(),
            tls: *tls,
            ..Overrides::default()
        },
        _ => Overrides::default(),
    };
    overrides.config_file = cli.config.clone();
    let config = Config::load(&data.root, &overrides)?;
    if let Command::Urls = cli.command {
        let settings = data.settings_file(cli.config.as_deref());
        marquee::ops::cli::urls(&config, &data, &settings);
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve { ui_dir, .. } => {
            let settings_file = data.settings_file(cli.config.as_deref());
            runtime.block_on(marquee::server::serve(data, config, settings_file, ui_dir))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { files } => {
            let settings_file = data.settings_file(cli.config.as_deref());
            let failed =
                runtime.block_on(marquee::ingest_cli::run(data, config, settings_file, files))?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Apikey {
            action:
                ApikeyAction::Create {
                    name,
                    scopes,
                    expires_in,
                    owner,
                },
        } => {
            data.create_all()?;
            let db = Db::open(&data.db_path())
                .with_context(|| format!("cannot open {}", data.db_path().display()))?;
            let key = db.write_blocking(|tx| {
                marquee::accounts::apikeys::create_from_shell(
                    tx,
                    &name,
                    &scopes,
                    expires_in.as_deref(),
                    owner.as_deref(),
                    marquee::jobs::runner::now(),
                )
            })?;
            eprintln!("API key {name:?} created. It is shown only once; store it now.");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            action: AdminAction::SetupLink,
        } => runtime.block_on(marquee::ops::cli::setup_link(&config, &data)),
        Command::Admin {
            action: AdminAction::Create { email, role, name },
        } => {
            let role = role
                .as_deref()
                .map(str::parse::<marquee::accounts::roles::Role>)
                .transpose()?;
            let password = marquee::accounts::setup::password_from(std::io::stdin().lock())?;
            data.create_all()?;
            let db = Db::open(&data.db_path())
                .with_context(|| format!("cannot open {}", data.db_path().display()))?;
            let new = marquee::accounts::setup::NewAccount {
                email,
                display_name: name,
                password,
            };
            let user = runtime.block_on(marquee::accounts::setup::create_from_shell(
                &db,
                new,
                role,
                marquee::jobs::runner::now(),
            ))?;
            println!("Created the {} account {}.", user.role, user.email);
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker => unreachable!("handled before logging starts"),
        Command::Urls => unreachable!("handled before the runtime starts"),
        Command::Backup { .. } | Command::Restore { .. } | Command::Doctor => {
            unreachable!("handled before the config is loaded")
        }
    }
}
