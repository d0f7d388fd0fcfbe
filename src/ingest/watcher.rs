//! The watched inbox. Filesystem events (and a periodic rescan, for anything the events
//! missed) only nominate files; a file is taken once its size and mtime have stood still
//! for `settle_secs`, so a copy that trickles in over minutes is never taken half-way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc, watch};

use super::IngestError;
use super::enqueue::{self, Enqueued, FileFacts};
use crate::catalog::title_sidecar::NewTitlePolicy;
use crate::config::{DataDir, IngestConfig};
use crate::db::Db;
use crate::jobs::runner::now;

struct Candidate {
    facts: Option<(u64, i64)>,
    stable_since: Instant,
}

pub struct InboxWatcher {
    db: Db,
    data: DataDir,
    settle: Duration,
    rescan: Duration,
    new_titles: NewTitlePolicy,
    wake_jobs: Arc<Notify>,
}

impl InboxWatcher {
    pub fn new(
        db: Db,
        data: DataDir,
        config: &IngestConfig,
        new_titles: NewTitlePolicy,
        wake_jobs: Arc<Notify>,
    ) -> Self {
        InboxWatcher {
            db,
            data,
            new_titles,
            settle: Duration::from_secs(config.settle_secs),
            rescan: Duration::from_secs(config.rescan_secs.max(1)),
            wake_jobs,
        }
    }

    /// Watches until `shutdown` turns true. Files already in the inbox are taken too.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), IngestError> {
        let inbox = self.data.inbox();
        let (tx, mut events) = mpsc::unbounded_channel::<PathBuf>();
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            // Reads (our own scans and hashing among them) raise access events: ignore them,
            // or every scan would trigger the next one.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                let _ = tx.send(path);
            }
        };
        // Links to other folders are not followed: their files are the operator's.
        let mut watcher = notify::RecommendedWatcher::new(
            handler,
            notify::Config::default().with_follow_symlinks(false),
        )?;
        watcher.watch(&inbox, RecursiveMode::Recursive)?;

        tracing::debug!(inbox = ?inbox, "watching");
        let mut candidates: HashMap<PathBuf, Candidate> = HashMap::new();
        for path in scan(&inbox) {
            candidates.entry(path).or_insert_with(Candidate::new);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut rescan = tokio::time::interval(self.rescan);
        loop {
            tokio::select! {
                Some(path) = events.recv() => {
                    tracing::trace!(path = ?path, "inbox event");
                    // A folder moved in brings files that raise no events of their own.
                    // A link to a folder is not entered: its files are the operator's.
                    let found = match std::fs::symlink_metadata(&path) {
                        Ok(m) if m.is_dir() => scan(&path),
                        Ok(m) if m.file_type().is_symlink() && path.is_dir() => {
                            tracing::warn!(link = ?path, "not following a link to a folder in the inbox; move or copy the files themselves in");
                            Vec::new()
                        }
                        _ => vec![path],
                    };
                    for p in found {
                        // Any event restarts the settle clock.
                        candidates.insert(p, Candidate::new());
                    }
                }
                _ = tick.tick() => self.take_settled(&mut candidates).await,
                _ = rescan.tick() => {
                    for path in scan(&inbox) {
                        candidates.entry(path).or_insert_with(Candidate::new);
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        drop(watcher);
        Ok(())
    }

    async fn take_settled(&self, candidates: &mut HashMap<PathBuf, Candidate>) {
        let mut settled = Vec::new();
        candidates.retain(|path, c| {
            let Ok(FileFacts { size, mtime }) = enqueue::facts(path) else {
                return false;
            };
            if !path.is_file() {
                return false;
            }
            if c.facts != Some((size, mtime)) {
                c.facts = Some((size, mtime));
                c.stable_since = Instant::now();
                return true;
            }
            if c.stable_since.elapsed() >= self.settle {
                settled.push(path.clone());
                return false;
            }
            true
        });
        for path in settled {
            let (db, data) = (self.db.clone(), self.data.clone());
            let policy = self.new_titles.clone();
            let p = path.clone();
            tracing::debug!(file = ?path, "settled");
            let result = tokio::task::spawn_blocking(move || {
                enqueue::ingest_inbox_file(&db, &data, &p, &policy, now())
            })
            .await;
            tracing::debug!(file = ?path, ?result, "ingest result");
            match result {
                Ok(Ok(Enqueued::Queued { .. })) => self.wake_jobs.notify_one(),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(file = ?path, error = %e, "cannot ingest"),
                Err(e) => tracing::error!(file = ?path, error = %e, "ingest task failed"),
            }
        }
    }
}

impl Candidate {
    fn new() -> Self {
        Candidate {
            facts: None,
            stable_since: Instant::now(),
        }
    }
}

/// Every regular file under `dir`, recursively.
fn scan(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}
