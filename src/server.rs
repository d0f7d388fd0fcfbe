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

/// `ui_dir`: development mode, the web UI is read from this folder on every request.
pub async fn serve(
    data: DataDir,
    config: Config,
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
    let watcher = InboxWatcher::new(db.clone(), data.clone(), &config.ingest, wake_jobs.clone());
    let watcher_shutdown = shutdown_rx.clone();
    let watchdog_shutdown = shutdown_rx.clone();
    let watcher_task = tokio::spawn(async move {
        if let Err(e) = watcher.run(watcher_shutdown).await {
            tracing::error!(error = %e, "the inbox watcher stopped; new files will not be picked up");
        }
    });
    let running_jobs = Arc::new(RunningJobs::default());
    let state = web::Data::new(
        AppState::new(env.clone(), running_jobs.clone(), wake_jobs.clone(), ui_dir)
            .with_context(|| format!("cannot open the library in {}", data.root.display()))?
            .with_metrics_token(config.metrics.token.clone()),
    );
    let jobs_task = tokio::spawn(supervisor::run(env, wake_jobs, running_jobs, shutdown_rx));

    let listeners = http::listener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addrs = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<Vec<_>, _>>()?;
    let server = http::listener::serve(
        listeners,
        state,
        config.sendfile,
        config.http.send_timeout(),
    )
    .with_context(|| format!("cannot listen on {}", config.listen))?;
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    for addr in &addrs {
        println!("Marquee is listening on http://{addr}/");
    }
    println!("Drop video files into {}", data.inbox().display());
    tracing::info!(data_dir = ?data.root, "started");
    let service_manager = ServiceManager::from_env();
    let mut watchdog_task = None;
    if let (Some(manager), Some(addr)) = (&service_manager, addrs.first()) {
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
    let _ = server_task.await;
    if let Some(task) = watchdog_task {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
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
