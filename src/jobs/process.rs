//! Runs one `marquee worker` child and turns what it says and how it ends into a
//! [`WorkerOutcome`].

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use super::protocol::{EXIT_INPUT_FAILED, WorkerEvent};
use crate::media::{PackageManifest, TranscodeRequest};

#[derive(Debug)]
pub enum WorkerOutcome {
    Done(PackageManifest),
    /// The source cannot be packaged: final.
    Failed(String),
    /// The worker died (signal, panic, codec crash): worth another attempt.
    Crashed(String),
    TimedOut,
    /// The server is shutting down.
    Cancelled,
}

const STDERR_TAIL_LINES: usize = 20;

pub async fn run_worker(
    exe: &Path,
    request: &TranscodeRequest,
    timeout: Duration,
    progress: &mut (dyn FnMut(f64) + Send),
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<WorkerOutcome> {
    let mut child = Command::new(exe)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(line.as_bytes()).await?;
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr"))?;
    let stderr_task = tokio::spawn(async move {
        let mut tail = std::collections::VecDeque::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            tracing::debug!(target: "marquee::worker", line = ?l);
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(l);
        }
        tail.into_iter().collect::<Vec<_>>()
    });

    let mut lines = BufReader::new(stdout).lines();
    let mut last_event: Option<WorkerEvent> = None;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = lines.next_line() => match next {
                Ok(Some(l)) => match serde_json::from_str::<WorkerEvent>(&l) {
                    Ok(WorkerEvent::Progress { percent }) => progress(percent),
                    Ok(event) => last_event = Some(event),
                    Err(_) => tracing::debug!(target: "marquee::worker", stray = ?l),
                },
                _ => break,
            },
            _ = &mut deadline => {
                let _ = child.kill().await;
                return Ok(WorkerOutcome::TimedOut);
            }
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() {
                    let _ = child.kill().await;
                    return Ok(WorkerOutcome::Cancelled);
                }
            }
        }
    }
    let status = child.wait().await?;
    let tail = stderr_task.await.unwrap_or_default();
    Ok(match (status.code(), last_event) {
        (Some(0), Some(WorkerEvent::Done { manifest })) => WorkerOutcome::Done(manifest),
        (Some(EXIT_INPUT_FAILED), Some(WorkerEvent::Failed { reason })) => {
            WorkerOutcome::Failed(reason)
        }
        _ => WorkerOutcome::Crashed(describe_exit(status, &tail)),
    })
}

fn describe_exit(status: std::process::ExitStatus, stderr_tail: &[String]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (_, Some(sig)) => format!("killed by signal {sig}"),
        (Some(code), _) => format!("exited with status {code}"),
        _ => "ended abnormally".to_string(),
    };
    match stderr_tail.last() {
        Some(last) => format!("{how}: {last}"),
        None => how,
    }
}
