//! `marquee serve`: the appliance. Opens storage, recovers from any crash, then runs the
//! inbox watcher, the job supervisor and the HTTP server until SIGTERM or Ctrl-C.

use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use tokio::sync::{Notify, watch};

use crate::config::{Config, DataDir};
use crate::http::{self, AppState};
use crate::ingest::watcher::InboxWatcher;
use crate::jobs::control::RunningJobs;
use crate::jobs::runner::JobEnv;
use crate::jobs::supervisor;
use crate::service_manager::ServiceManager;
use crate::{acme, tls};

/// `ui_dir`: development mode, the web UI is read from this folder on every request.
/// `settings_file`: the file `config` was read from (settings given there are pinned).
pub async fn serve(
    data: DataDir,
    config: Config,
    settings_file: std::path::PathBuf,
    ui_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    raise_open_file_limit();
    std::fs::create_dir_all(&data.root)
        .with_context(|| format!("cannot create the data dir {}", data.root.display()))?;
    let _lock = crate::ops::lock::DataDirLock::acquire(&data.root)?;
    let env = JobEnv::open(&data, &config)
        .with_context(|| format!("cannot open the data dir {}", data.root.display()))?;
    let db = env.db.clone();
    supervisor::recover(&env)
        .await
        .context("crash recovery failed")?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let wake_jobs = Arc::new(Notify::new());
    let watcher = InboxWatcher::new(
        db.clone(),
        data.clone(),
        &config.ingest,
        env.new_titles.clone(),
        wake_jobs.clone(),
    );
    let watcher_shutdown = shutdown_rx.clone();
    let watchdog_shutdown = shutdown_rx.clone();
    let watcher_task = tokio::spawn(async move {
        if let Err(e) = watcher.run(watcher_shutdown).await {
            tracing::error!(error = %e, "the inbox watcher stopped; new files will not be picked up");
        }
    });
    let running_jobs = Arc::new(RunningJobs::default());
    let pins = crate::settings::Pins::detect(&settings_file, std::env::vars());
    let base = config.clone();
    let settings = db
        .write(move |tx| {
            crate::settings::Settings::load(tx, base, pins, crate::jobs::runner::now())
        })
        .await
        .context("cannot read the settings stored in the database")?;
    let transcode = env.transcode.clone();
    let state = web::Data::new(
        AppState::new(env.clone(), running_jobs.clone(), wake_jobs.clone(), ui_dir)
            .with_context(|| format!("cannot open the library in {}", data.root.display()))?
            .with_metrics_token(config.metrics.token.clone())
            .with_uploads(&config)
            .with_analytics(&config)
            .with_accounts(account_policies(&config.accounts))
            .with_proxies(config.http.trusted_proxies()?)
            .with_mail(crate::mail::Mailer::from_config(&config.smtp).context("[smtp]")?)
            .with_settings(settings, transcode, env.new_titles.clone())
            .context("the stored settings")?,
    );
    let uploads = state.uploads.clone();
    let mail = state.mail.clone();
    let beacons = state.beacons.clone();
    match uploads.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            uploads = n,
            "handed uploads finished before a crash to ingest"
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot hand finished uploads to ingest; retried when their client asks")
        }
    }
    let sweeper_task = tokio::spawn(uploads.run_sweeper(shutdown_rx.clone()));
    let accounts_task = tokio::spawn(accounts_upkeep(
        db.clone(),
        state.accounts,
        shutdown_rx.clone(),
    ));
    let artwork_task = tokio::spawn(crate::services::titles::sweep_artwork(
        db.clone(),
        data.images(),
        shutdown_rx.clone(),
    ));
    let webhooks = crate::services::webhooks::WebhookSender::new(
        db.clone(),
        mail.clone(),
        config.webhooks.clone(),
        state.webhook_wake.clone(),
    );
    let webhooks_task = tokio::spawn(webhooks.run(shutdown_rx.clone()));
    let encryption_task = tokio::spawn(
        crate::services::encryption::EncryptionSweeper::new(
            db.clone(),
            data.clone(),
            state.origin.clone(),
            state.encryption_wake.clone(),
        )
        .run(shutdown_rx.clone()),
    );
    let reconcile_task = tokio::spawn(crate::services::billing::reconcile_loop(
        state.billing.clone(),
        state.settings.clone(),
        shutdown_rx.clone(),
    ));
    let analytics_settings = state.settings.clone();
    let analytics_task = tokio::spawn(crate::analytics::intake::upkeep_loop(
        beacons.clone(),
        move || {
            analytics_settings
                .settings
                .current()
                .analytics
                .raw_retention_days
        },
        shutdown_rx.clone(),
    ));
    let campaigns_task = tokio::spawn(
        crate::services::campaigns::CampaignSender::new(
            db.clone(),
            state.events.clone(),
            beacons.clone(),
            mail.clone(),
            state.campaign_wake.clone(),
        )
        .run(shutdown_rx.clone()),
    );
    let alerts_task = tokio::spawn(
        crate::services::alerts::AlertChecker::new(
            db.clone(),
            state.events.clone(),
            beacons.clone(),
            mail.clone(),
            state.settings.clone(),
            state.alerts_wake.clone(),
        )
        .run(shutdown_rx.clone()),
    );
    let recommendations_task = tokio::spawn(
        crate::services::recommendations::RecommendationRefresher::new(
            db.clone(),
            state.events.clone(),
            beacons.clone(),
        )
        .run(shutdown_rx.clone()),
    );
    let jobs_task = tokio::spawn(supervisor::run(
        env,
        wake_jobs,
        running_jobs,
        shutdown_rx.clone(),
    ));

    let listeners = http::listener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let plain_addrs = addrs_of(&listeners)?;
    let mut secure_addrs = None;
    let server = if config.tls.enabled {
        let secure = http::listener::bind(&config.tls.listen)
            .with_context(|| format!("cannot listen on {}", config.tls.listen))?;
        let secure_addrs = secure_addrs.insert(addrs_of(&secure)?);
        let setup = tls_setup(&data, &config, &plain_addrs, shutdown_rx.clone())?;
        let server =
            http::tls_listener::serve(listeners, secure, state, setup, config.http.send_timeout())
                .with_context(|| format!("cannot listen on {}", config.tls.listen))?;
        for addr in secure_addrs.iter() {
            println!("Marquee is listening on https://{addr}/");
        }
        for addr in &plain_addrs {
            println!("Plain HTTP redirects to HTTPS on http://{addr}/");
        }
        server
    } else {
        let server = http::listener::serve(
            listeners,
            state,
            config.sendfile,
            config.http.send_timeout(),
        )
        .with_context(|| format!("cannot listen on {}", config.listen))?;
        for addr in &plain_addrs {
            println!("Marquee is listening on http://{addr}/");
        }
        server
    };
    // Before the server answers anything (connections wait in the listen backlog), so
    // whoever sees /healthz answer also finds the link in the log.
    let link_addr = match &secure_addrs {
        Some(addrs) => addrs.first().map(|a| ("https", *a)),
        None => plain_addrs.first().map(|a| ("http", *a)),
    };
    if let Some((scheme, addr)) = link_addr {
        mail.set_link_base(browser_base(scheme, addr));
        announce_setup_link(&db, scheme, addr).await?;
    }
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    println!("Drop video files into {}", data.inbox().display());
    tracing::info!(data_dir = ?data.root, "started");
    let service_manager = ServiceManager::from_env();
    let mut watchdog_task = None;
    if let (Some(manager), Some(addr)) = (&service_manager, plain_addrs.first()) {
        manager.ready(*addr).await?;
        watchdog_task = manager.spawn_watchdog(db.clone(), watchdog_shutdown);
    }

    wait_for_signal().await;
    tracing::info!("shutting down");
    crate::ops::health::begin_shutdown();
    if let Some(manager) = &service_manager {
        manager.stopping();
    }
    let _ = shutdown_tx.send(true);
    handle.stop(true).await;
    let _ = jobs_task.await;
    let _ = watcher_task.await;
    let _ = sweeper_task.await;
    let _ = accounts_task.await;
    let _ = artwork_task.await;
    let _ = webhooks_task.await;
    let _ = reconcile_task.await;
    let _ = analytics_task.await;
    let _ = campaigns_task.await;
    let _ = alerts_task.await;
    let _ = recommendations_task.await;
    let _ = encryption_task.await;
    let _ = server_task.await;
    // Playback events still queued are written before the process ends.
    let _ = tokio::task::spawn_blocking(move || beacons.close()).await;
    if let Some(task) = watchdog_task {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn account_policies(config: &crate::config::AccountsConfig) -> crate::accounts::Policies {
    crate::accounts::Policies {
        sessions: crate::accounts::sessions::SessionPolicy {
            idle_secs: config.session_idle_secs,
            absolute_secs: config.session_max_secs,
        },
        throttle: crate::accounts::throttle::ThrottlePolicy {
            max_lockout_secs: config.lockout_max_secs,
            ..Default::default()
        },
        magic_link: crate::accounts::magic_link::MagicLinkPolicy {
            ttl_secs: config.magic_link_secs,
        },
    }
}

/// With no owner yet, a fresh one-time setup link (the earlier one stops working), printed
/// and logged: the one secret the log carries, as the operator must be able to find it.
async fn announce_setup_link(
    db: &crate::db::Db,
    scheme: &str,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let secret = crate::accounts::secret::Secret::generate();
    let now = crate::jobs::runner::now();
    let Some(secret) = crate::accounts::setup::setup_link_if_needed(db, secret, now)
        .await
        .context("cannot issue the setup link")?
    else {
        return Ok(());
    };
    let link = format!("{}/setup/{}", browser_base(scheme, addr), secret.encode());
    println!("No owner account yet. Create it (link valid 24 h, usable once): {link}");
    tracing::info!(%link, "no owner account yet: the setup link creates it");
    Ok(())
}

/// Where a browser reaches the server listening on `addr`: `scheme://host:port`, the
/// machine's name when it listens everywhere.
fn browser_base(scheme: &str, addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        // Listening everywhere: name the machine rather than 0.0.0.0.
        let uname = rustix::system::uname();
        let name = uname.nodename().to_string_lossy().trim().to_owned();
        if name.is_empty() || name == "(none)" {
            "localhost".to_owned()
        } else {
            name
        }
    } else {
        addr.ip().to_string()
    };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{}", addr.port())
    } else {
        format!("{scheme}://{host}:{}", addr.port())
    }
}

fn addrs_of(listeners: &[std::net::TcpListener]) -> std::io::Result<Vec<std::net::SocketAddr>> {
    listeners.iter().map(|l| l.local_addr()).collect()
}

/// The certificate and the TLS configuration built on it. The certificate is the
/// operator's files (watched for changes), else ACME's when `tls.acme.domains` is set (the
/// self-signed one until the first is issued), else the self-signed one in the data dir.
/// Config validation refuses files and ACME together.
fn tls_setup(
    data: &DataDir,
    config: &Config,
    plain_addrs: &[std::net::SocketAddr],
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<http::tls_listener::TlsSetup> {
    let resolver = match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => {
            let certified = tls::files::load(cert, key)?;
            let resolver = Arc::new(tls::CertResolver::new(certified));
            let watched = tls::reload::WatchedFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            let interval = std::time::Duration::from_secs(config.tls.reload_secs);
            tokio::spawn(watched.run(resolver.clone(), interval, shutdown));
            resolver
        }
        _ => {
            let stored = tls::self_signed::SelfSigned::in_data_dir(&data.root);
            let certified = stored
                .load_or_create(&tls::self_signed::local_names())
                .context("cannot set up the self-signed certificate")?;
            let resolver = Arc::new(tls::CertResolver::new(certified));
            if config.tls.acme.enabled() {
                // The CA fetches HTTP-01 answers from port 80 only.
                let serves_http_on_port_80 = plain_addrs.iter().any(|a| a.port() == 80);
                start_acme(
                    data,
                    config,
                    serves_http_on_port_80,
                    resolver.clone(),
                    shutdown,
                );
            } else {
                tracing::info!(cert = %stored.cert.display(), "HTTPS uses the self-signed certificate");
            }
            resolver
        }
    };
    Ok(http::tls_listener::TlsSetup {
        tokens: resolver.challenges().clone(),
        config: tls::server_config(resolver)?,
    })
}

/// Runs ACME issuance and renewal until shutdown; every certificate it hands over (the
/// stored one first) replaces the served one for new handshakes, open connections keep
/// theirs. The challenge answers go into the resolver's map, which both listeners read.
fn start_acme(
    data: &DataDir,
    config: &Config,
    serves_http_on_port_80: bool,
    resolver: Arc<tls::CertResolver>,
    shutdown: watch::Receiver<bool>,
) {
    let kind = acme::ChallengeKind::choose(&config.tls.acme, serves_http_on_port_80);
    let challenges = resolver.challenges().clone();
    let label = acme::CertStore::new(&data.root)
        .certificate_path()
        .display()
        .to_string();
    let swap_in = move |chain_pem: &str, key_pem: &str| match tls::files::parse(
        chain_pem.as_bytes(),
        key_pem.as_bytes(),
        &label,
        &label,
    ) {
        Ok(certified) => resolver.replace(certified),
        Err(e) => tracing::error!(error = %e, "the ACME certificate cannot be served"),
    };
    let service = acme::AcmeService::new(
        config.tls.acme.clone(),
        kind,
        &data.root,
        challenges,
        Arc::new(acme::SystemClock),
        Box::new(swap_in),
    );
    tracing::info!(
        domains = %config.tls.acme.domains.join(","),
        challenge = kind.name(),
        "HTTPS uses the self-signed certificate until ACME delivers one"
    );
    tokio::spawn(service.run(shutdown));
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Every viewer connection is a file descriptor, and the usual soft limit (1024) lets about
/// a thousand idle connections stop the server from accepting at all. Raise it to the hard
/// limit, as nginx's `worker_rlimit_nofile` does.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                tracing::warn!(soft = limit.rlim_cur, "cannot raise the open-file limit");
            }
        }
    }
}

/// Every ten minutes until shutdown: `accounts::upkeep` (spent links, expired sessions,
/// past mail budgets), so tables that every request can add to do not grow for good.
async fn accounts_upkeep(
    db: crate::db::Db,
    policies: crate::accounts::Policies,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = crate::jobs::runner::now();
        match db
            .write(move |tx| crate::accounts::upkeep(tx, &policies, now))
            .await
        {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "account upkeep"),
            Err(e) => tracing::warn!(error = %e, "account upkeep failed; it runs again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
