//! `marquee ingest FILE...`: the same path as the inbox, run in the foreground with a
//! progress bar.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::config::{Config, DataDir};
use crate::disk::DiskSpace;
use crate::ingest::enqueue::{self, CliIngest};
use crate::jobs::runner::{JobEnd, JobEnv, now, run_claimed};

/// Returns how many files did not end ready. `settings_file`: the file `config` was read
/// from; the settings changed in the dashboard apply here as in `marquee serve`, unless
/// that file or the environment pins them.
pub async fn run(
    data: DataDir,
    config: Config,
    settings_file: std::path::PathBuf,
    files: Vec<std::path::PathBuf>,
) -> anyhow::Result<usize> {
    let env = JobEnv::open(&data, &config)
        .with_context(|| format!("cannot open the data dir {}", data.root.display()))?;
    let db = env.db.clone();
    let pins = crate::settings::Pins::detect(&settings_file, std::env::vars());
    let settings = db
        .write(move |tx| crate::settings::Settings::load(tx, config, pins, now()))
        .await
        .context("cannot read the settings stored in the database")?;
    let config = settings.current();
    env.transcode
        .store(std::sync::Arc::new(config.transcode.clone()));
    env.new_titles
        .set(config.catalog.new_titles == crate::config::NewTitles::Published);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: the job goes back to the queue for `marquee serve`");
            let _ = cancel_tx.send(true);
        }
    });
    let mut not_ready = 0;
    for file in files {
        // The server pauses its queue below the floor; here nothing is started instead.
        if let Ok(space) = DiskSpace::of(&data.root, config.ingest.min_free_mb)
            && space.is_low()
        {
            eprintln!(
                "{}: not started: {}; free some space or lower ingest.min_free_mb",
                file.display(),
                space.describe()
            );
            not_ready += 1;
            continue;
        }
        let (db2, data2, f) = (db.clone(), data.clone(), file.clone());
        let policy = env.new_titles.clone();
        let started = tokio::task::spawn_blocking(move || {
            enqueue::ingest_cli_file(&db2, &data2, &f, &policy, now())
        })
        .await?;
        let (asset_id, title, job) = match started {
            Ok(CliIngest::Started {
                asset_id,
                title,
                job,
            }) => (asset_id, title, job),
            Ok(CliIngest::Duplicate { of, title }) => {
                println!(
                    "{}: same content as asset {of} ({title}); not transcoded again",
                    file.display()
                );
                continue;
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                not_ready += 1;
                continue;
            }
        };
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{msg:30!} [{bar:30}] {pos:>3}% ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(title.clone());
        bar.enable_steady_tick(Duration::from_millis(250));
        // Without a terminal the bar is hidden: print a plain line every 10% instead.
        let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        let mut last_step = -1;
        let mut observer = |percent: f64, _eta: Option<i64>| {
            bar.set_position(percent as u64);
            let step = (percent / 10.0).floor() as i64;
            if plain && step > last_step {
                last_step = step;
                eprintln!("{title}: {:.0}%", percent.floor());
            }
        };
        let end = run_claimed(&env, job, &mut observer, cancel_rx.clone()).await;
        bar.finish_and_clear();
        match end {
            Ok(JobEnd::Ready) => println!("ready: {asset_id} {title}"),
            Ok(JobEnd::Failed(reason)) => {
                println!("failed: {asset_id} {title}: {reason}");
                not_ready += 1;
            }
            Ok(JobEnd::Deleted) => {
                println!("deleted: {asset_id} {title} (deleted while it was transcoding)");
                not_ready += 1;
            }
            Ok(JobEnd::Requeued) => {
                println!("queued: {asset_id} {title} (will be finished by `marquee serve`)");
                not_ready += 1;
            }
            Err(e) => {
                println!("error: {asset_id} {title}: {e}");
                not_ready += 1;
            }
        }
        if *cancel_rx.borrow() {
            break;
        }
    }
    Ok(not_ready)
}
