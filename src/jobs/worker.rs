//! `marquee worker`: the child process that runs one transcode. FFmpeg lives only here.

use std::io::{BufRead, Write};

use super::protocol::{EXIT_INPUT_FAILED, WorkerEvent};
use crate::media::{self, MediaError, TranscodeRequest};

/// Runs one job and returns the process exit code.
pub fn run() -> i32 {
    die_with_parent();
    let request: TranscodeRequest = match read_request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("worker: bad request on stdin: {e}");
            return 2;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut emit = |event: &WorkerEvent| {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
    };
    let result = media::init().and_then(|()| {
        media::transcode(&request, &mut |percent| {
            emit(&WorkerEvent::Progress { percent })
        })
    });
    match result {
        Ok(manifest) => {
            emit(&WorkerEvent::Done { manifest });
            0
        }
        Err(MediaError::Input(reason)) => {
            emit(&WorkerEvent::Failed { reason });
            EXIT_INPUT_FAILED
        }
        Err(e) => {
            eprintln!("worker: {e}");
            1
        }
    }
}

fn read_request() -> Result<TranscodeRequest, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| e.to_string())
}

/// If the server dies (even by SIGKILL) the worker must not linger writing files nobody
/// will publish.
fn die_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and has no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}
