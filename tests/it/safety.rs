//! Data safety under races and failures: a delete landing inside a publish, a library the
//! server cannot write, links in the inbox, hostile file names.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Options, Server, blake3_of, drop_into, make_clip};

fn delete(server: &Server, id: &str) -> (u16, serde_json::Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let mut resp = agent
        .delete(&format!("{}/api/v1/assets/{id}", server.base))
        .header("Authorization", &format!("Bearer {}", server.key))
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or_default())
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_delete_landing_inside_a_publish_keeps_the_source_in_the_trash() {
    if !crate::support::has_test_hooks() {
        eprintln!("skipped: the publish pause this race needs exists in debug builds only");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("race.mp4");
    make_clip(&clip, "320x240", 30, 2.0, true);
    let original = blake3_of(&clip);
    let server = Server::start_with(
        &tmp.path().join("data"),
        Options {
            // Debug builds hold the publish between moving the files and marking the
            // asset ready: the window in which a delete used to lose the source.
            env: vec![("MARQUEE_TEST_PUBLISH_PAUSE_MS".into(), "3000".into())],
            ..Options::default()
        },
    );
    drop_into(&server.inbox(), &clip);
    let mut id = String::new();
    wait_for(
        "the publish to move the source in",
        Duration::from_secs(60),
        || {
            if let Some(a) = server.asset_titled("race") {
                id = a["id"].as_str().unwrap().to_string();
                return server
                    .data
                    .join(format!("library/{id}/source.mp4"))
                    .is_file();
            }
            false
        },
    );
    let (_, asset) = server.get(&format!("/api/v1/assets/{id}"));
    assert_eq!(
        asset["status"], "processing",
        "the publish is still held: {asset}"
    );

    let (status, body) = delete(&server, &id);
    assert_eq!(status, 200, "{body}");
    let trash = server.data.join("trash").join(&id);
    assert_eq!(blake3_of(&trash.join("source.mp4")), original, "{body}");
    assert!(
        !server.data.join("library").join(&id).exists(),
        "no orphan folder"
    );
    assert_eq!(server.get(&format!("/api/v1/assets/{id}")).0, 404);
    // Nothing brings it back: no job runs again, no folder reappears.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!server.data.join("library").join(&id).exists());
    assert!(server.assets().is_empty(), "{:#?}", server.assets());
    assert!(server.healthy());
}

#[test]
fn an_unwritable_library_fails_the_asset_with_a_reason_after_its_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("stuck.mp4");
    make_clip(&clip, "320x240", 30, 1.0, false);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("library")).unwrap();
    std::fs::set_permissions(
        data.join("library"),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let server = Server::start_with(
        &data,
        Options {
            transcode: "max_attempts = 2\n".into(),
            unprivileged: true,
            ..Options::default()
        },
    );
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("stuck", Duration::from_secs(120));
    assert_eq!(asset["status"], "failed", "{asset}\n{}", server.log());
    let error = asset["error"].as_str().unwrap();
    assert!(
        error.starts_with("the library folder is not writable: "),
        "{error}"
    );
    assert!(error.contains("tried 2 times"), "{error}");
    // The source was never moved, and the job does not come back.
    assert_eq!(
        blake3_of(&server.inbox().join("stuck.mp4")),
        blake3_of(&clip)
    );
    std::thread::sleep(Duration::from_secs(3));
    let (_, again) = server.get(&format!("/api/v1/assets/{}", asset["id"].as_str().unwrap()));
    assert_eq!(again["status"], "failed", "{again}");
    assert_eq!(
        server.log().matches("will retry").count(),
        1,
        "{}",
        server.log()
    );
}

fn tree_hashes(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                blake3_of(&e.path()),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn links_in_the_inbox_are_not_followed_and_never_move_the_operators_files() {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("operator-videos");
    std::fs::create_dir_all(&theirs).unwrap();
    make_clip(&theirs.join("holiday.mp4"), "320x240", 30, 1.0, false);
    make_clip(&theirs.join("wedding.mp4"), "320x240", 25, 1.0, false);
    std::fs::write(
        theirs.join("secrets.txt"),
        "root:x:0:0:the operator's secret",
    )
    .unwrap();
    let before = tree_hashes(&theirs);
    let server = Server::start(&tmp.path().join("data"), "");
    // A link posing as the poster sidecar of a real video.
    std::os::unix::fs::symlink(theirs.join("secrets.txt"), server.inbox().join("own.jpg")).unwrap();
    // A link to a folder and a link to a file.
    std::os::unix::fs::symlink(&theirs, server.inbox().join("linked-folder")).unwrap();
    std::os::unix::fs::symlink(
        theirs.join("wedding.mp4"),
        server.inbox().join("wedding.mp4"),
    )
    .unwrap();
    // A real file dropped beside them is taken as usual.
    let own = tmp.path().join("own.mp4");
    make_clip(&own, "320x240", 30, 1.0, false);
    drop_into(&server.inbox(), &own);

    let deadline = Instant::now() + Duration::from_secs(60);
    let video = loop {
        let found = server
            .assets()
            .into_iter()
            .find(|a| a["title"] == "own" && a["status"] == "ready");
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "{:#?}", server.assets());
        std::thread::sleep(Duration::from_millis(200));
    };
    // Its poster was made from a frame; the linked file was never read or served.
    let package = server.package_dir(&video);
    let poster = std::fs::read(package.join("poster.jpg")).unwrap();
    assert!(!String::from_utf8_lossy(&poster).contains("root:x"));
    assert!(!package.join("sidecars").exists());
    let poster_url = format!("{}{}", server.base, video["poster_url"].as_str().unwrap());
    let served = ureq::get(&poster_url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(served, poster);
    let linked = server.wait_finished("wedding", Duration::from_secs(30));
    assert_eq!(linked["status"], "failed");
    assert!(
        linked["error"].as_str().unwrap().contains("symbolic link"),
        "{linked}"
    );
    // Two rescans later, nothing from the linked folder was taken.
    std::thread::sleep(Duration::from_secs(11));
    let titles: Vec<_> = server.assets().iter().map(|a| a["title"].clone()).collect();
    // own (ready), own.jpg and wedding.mp4 (links, failed with the reason).
    assert_eq!(titles.len(), 3, "{titles:?}");
    let linked_poster = server
        .assets()
        .into_iter()
        .find(|a| a["title"] == "own" && a["status"] == "failed")
        .unwrap();
    assert!(
        linked_poster["error"]
            .as_str()
            .unwrap()
            .contains("symbolic link")
    );
    assert!(server.asset_titled("holiday").is_none());
    assert_eq!(
        tree_hashes(&theirs),
        before,
        "the operator's folder is untouched"
    );
    assert!(server.inbox().join("wedding.mp4").is_symlink());
}

#[test]
fn a_file_name_cannot_forge_a_log_line() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let name = "evil\nERROR marquee: forged admin login.mp4";
    let clip = tmp.path().join(name);
    make_clip(&tmp.path().join("plain.mp4"), "320x240", 30, 1.0, false);
    std::fs::rename(tmp.path().join("plain.mp4"), &clip).unwrap();
    drop_into(&server.inbox(), &clip);
    // A name that is not UTF-8 is refused with the reason (a lossy copy could name another file).
    let raw_name = std::ffi::OsStr::from_bytes(b"caf\xe9.mp4");
    make_clip(&tmp.path().join("latin1.mp4"), "320x240", 30, 1.0, false);
    std::fs::rename(tmp.path().join("latin1.mp4"), server.inbox().join(raw_name)).unwrap();
    let asset = server.wait_finished(
        "evil ERROR marquee: forged admin login",
        Duration::from_secs(60),
    );
    assert_eq!(asset["status"], "ready", "{asset}");
    let latin1 = server.wait_finished("caf\u{fffd}", Duration::from_secs(30));
    assert_eq!(latin1["status"], "failed");
    assert!(
        latin1["error"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"),
        "{latin1}"
    );
    let log = server.log();
    assert!(
        log.contains("forged admin login"),
        "the name is logged: {log}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR marquee: forged")),
        "a file name started a log line of its own:\n{log}"
    );
}
