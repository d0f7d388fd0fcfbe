//! What `marquee backup`, `restore` and `doctor` print: the domain work is in
//! `backup` and `doctor`.

use std::path::Path;
use std::process::ExitCode;

use super::backup::SettingsRestored;
use crate::config::DataDir;

fn now() -> i64 {
    crate::jobs::runner::now()
}

pub fn backup(
    data: &DataDir,
    config_file: Option<&Path>,
    to: &Path,
    media: bool,
) -> anyhow::Result<ExitCode> {
    let manifest = super::backup::create(data, config_file, to, media, now())?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "Backed up {} files ({} MB, schema version {}{}) to {}",
        manifest.files.len(),
        bytes / 1_000_000,
        manifest.schema_version,
        if media {
            ", with media"
        } else {
            ", without media"
        },
        to.display()
    );
    match &manifest.settings_path {
        Some(path) => println!("The settings file in it is {path}"),
        None => println!(
            "There was no settings file at {}: the backup holds none",
            data.settings_file(config_file).display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restore(
    data: &DataDir,
    config_file: Option<&Path>,
    from: &Path,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let restored = super::backup::restore(data, config_file, from, force, now())?;
    if let Some(aside) = &restored.moved_aside {
        println!("Moved the replaced files to {}", aside.display());
    }
    println!(
        "Restored {} files (made by Marquee {}, schema version {}{}) into {}",
        restored.manifest.files.len(),
        restored.manifest.marquee_version,
        restored.manifest.schema_version,
        if restored.manifest.media {
            ", with media"
        } else {
            "; the backup holds no media, so the library was left as it was"
        },
        data.root.display()
    );
    match &restored.settings {
        SettingsRestored::Written(path) => {
            let from = restored.manifest.settings_path.as_deref();
            println!(
                "Wrote the settings{} to {}",
                from.map_or_else(String::new, |from| format!(" (backed up from {from})")),
                path.display()
            );
            // An installed service reads /etc/marquee/marquee.toml: restoring without
            // `--config` would leave it on the settings it had.
            if let Some(from) = from.filter(|from| Path::new(from) != path.as_path()) {
                println!(
                    "Note: if the server reads its settings from {from}, restore again with --config {from} --force"
                );
            }
        }
        SettingsRestored::Unchanged(path) => {
            println!("{} already held the backup's settings", path.display())
        }
        SettingsRestored::NotInBackup => {
            println!("The backup holds no settings file; the settings were left as they were")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn local_addresses() -> Vec<std::net::IpAddr> {
    if_addrs::get_if_addrs()
        .map(|interfaces| interfaces.iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

pub fn urls(config: &crate::config::Config, data: &DataDir, settings: &Path) {
    print!(
        "{}",
        super::urls::describe(config, data, settings, &local_addresses())
    );
}

/// `marquee admin setup-link`: a fresh setup link while no owner exists (printed alone on
/// the last line, for scripts), else where to sign in.
pub async fn setup_link(
    config: &crate::config::Config,
    data: &DataDir,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    data.create_all()?;
    let db = crate::db::Db::open(&data.db_path())
        .with_context(|| format!("cannot open {}", data.db_path().display()))?;
    let base = super::urls::base_url(config, &local_addresses());
    let secret = crate::accounts::secret::Secret::generate();
    match crate::accounts::setup::setup_link_if_needed(&db, secret, now()).await? {
        Some(secret) => {
            println!(
                "No owner account yet. Create it (link valid 24 h, usable once; any earlier link no longer works):"
            );
            println!("{base}/setup/{}", secret.encode());
        }
        None => println!("The owner account exists: sign in at {base}/login"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn doctor(data: &DataDir, config_file: Option<&Path>) -> ExitCode {
    let checks = super::doctor::run(data, config_file, std::time::SystemTime::now());
    let (text, failed) = super::doctor::report(&checks);
    print!("{text}");
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
