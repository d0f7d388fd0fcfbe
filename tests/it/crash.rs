//! `kill -9` of the server or of a worker mid-transcode loses nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::hls_check::check_package;
use crate::support::{
    Server, blake3_of, children_of, drop_into, make_clip, process_exists, try_get,
};

/// Long enough at 720p with a slower preset to be caught mid-way.
const SLOW: &str = "preset = \"veryfast\"\n";

fn wait_progress(server: &Server, title: &str, at_least: f64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(a) = server.asset_titled(title)
            && a["status"] == "processing"
            && a["progress"].as_f64().unwrap_or(0.0) >= at_least
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{title} never got to {at_least}%: {:?}",
            server.asset_titled(title)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Watches the API from another thread: any asset it ever sees `ready` must have a
/// complete package on disk at that moment.
struct ReadyWatch {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<usize>>,
}

impl ReadyWatch {
    fn start(base: String, key: String, library: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut checks = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some((200, body)) = try_get(&format!("{base}/api/v1/assets"), Some(&key)) {
                    for a in body["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|a| a["status"] == "ready")
                    {
                        let dir = library.join(a["id"].as_str().unwrap());
                        assert!(
                            dir.join("package.json").is_file(),
                            "{a} listed ready without a complete package"
                        );
                        assert!(
                            std::fs::read_to_string(dir.join("master.m3u8"))
                                .is_ok_and(|m| m.contains("#EXT-X-STREAM-INF"))
                        );
                        checks += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            checks
        });
        ReadyWatch {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("ready watcher saw a half-written asset")
    }
}

#[test]
fn server_killed_mid_transcode_finishes_the_job_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("feature.mp4");
    make_clip(&clip, "1280x720", 30, 20.0, true);
    let original = blake3_of(&clip);
    let mut server = Server::start(&tmp.path().join("data"), SLOW);
    let watch = ReadyWatch::start(
        server.base.clone(),
        server.key.clone(),
        server.data.join("library"),
    );
    drop_into(&server.inbox(), &clip);
    wait_progress(&server, "feature", 10.0);
    let workers = children_of(server.pid());
    assert!(!workers.is_empty(), "no worker process while processing");

    server.kill9();
    // The worker dies with its server rather than writing on unsupervised.
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.iter().any(|w| process_exists(*w)) {
        assert!(Instant::now() < deadline, "worker outlived the server");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        blake3_of(&server.inbox().join("feature.mp4")),
        original,
        "source touched by the crash"
    );

    server.restart();
    let watch2 = ReadyWatch::start(
        server.base.clone(),
        server.key.clone(),
        server.data.join("library"),
    );
    let asset = server.wait_finished("feature", Duration::from_secs(300));
    assert_eq!(asset["status"], "ready", "{asset:#}\n{}", server.log());
    let dir = server.package_dir(&asset);
    check_package(&dir);
    assert_eq!(blake3_of(&dir.join("source.mp4")), original);
    assert_eq!(server.assets().len(), 1);
    assert!(
        std::fs::read_dir(server.data.join("staging"))
            .unwrap()
            .next()
            .is_none(),
        "staging left behind"
    );
    watch.finish();
    assert!(watch2.finish() > 0, "the watcher never saw the asset ready");
}

#[test]
fn worker_killed_mid_transcode_is_retried_and_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("episode.mp4");
    make_clip(&clip, "1280x720", 30, 20.0, true);
    let server = Server::start(&tmp.path().join("data"), SLOW);
    drop_into(&server.inbox(), &clip);
    wait_progress(&server, "episode", 10.0);
    let workers = children_of(server.pid());
    assert_eq!(workers.len(), 1, "expected one worker, found {workers:?}");
    unsafe { libc::kill(workers[0] as i32, libc::SIGKILL) };

    let asset = server.wait_finished("episode", Duration::from_secs(300));
    assert_eq!(asset["status"], "ready", "{asset:#}\n{}", server.log());
    assert!(
        server.log().contains("killed by signal 9"),
        "the crash was not noticed:\n{}",
        server.log()
    );
    check_package(&server.package_dir(&asset));
    assert!(server.healthy());
}
