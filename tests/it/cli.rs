//! `marquee ingest` and `marquee apikey`, and the API's authentication and errors.

use std::process::Command;
use std::time::Duration;

use crate::hls_check::check_package;
use crate::support::{Options, Server, bin, get_with, make_clip};

#[test]
fn cli_ingest_shows_progress_and_ends_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let clip = tmp.path().join("lecture_one.mp4");
    make_clip(&clip, "640x360", 30, 6.0, true);
    std::fs::write(
        tmp.path().join("lecture_one.en.srt"),
        "1\n00:00:00,500 --> 00:00:02,000\nWelcome\n",
    )
    .unwrap();

    // Below the free-space floor nothing is started and nothing is written.
    let refused = Command::new(bin())
        .arg("ingest")
        .arg(&clip)
        .arg("--data-dir")
        .arg(&data)
        .env("MARQUEE_INGEST__MIN_FREE_MB", "1000000000000")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("not started") && stderr.contains("ingest.min_free_mb"),
        "{stderr}"
    );
    let library = data.join("library");
    assert!(!library.exists() || std::fs::read_dir(&library).unwrap().next().is_none());

    let out = Command::new(bin())
        .arg("ingest")
        .arg(&clip)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("lecture one: 0%") && stderr.contains("lecture one: 100%"),
        "no progress shown:\n{stderr}"
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ready: "))
        .expect("no ready line")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // The operator's files are left where they were.
    assert!(clip.is_file() && tmp.path().join("lecture_one.en.srt").is_file());
    let report = check_package(&data.join("library").join(&id));
    assert!(
        report
            .master
            .media
            .iter()
            .any(|m| m["TYPE"] == "SUBTITLES" && m["LANGUAGE"] == "en")
    );

    // The same file again is recognised, not transcoded.
    let again = Command::new(bin())
        .arg("ingest")
        .arg(&clip)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("same content as asset {id}"))
    );

    // A server on the same data dir lists it as ready.
    let server = Server::start(&data, "");
    let asset = server.wait_finished("lecture one", Duration::from_secs(10));
    assert_eq!(asset["id"], id.as_str());
    assert_eq!(asset["status"], "ready");
}

/// The dashboard's "new titles" setting (stored in the database) holds for `marquee ingest`
/// too, not only for the server's inbox.
#[test]
fn cli_ingest_follows_the_new_titles_setting_stored_by_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let options = || Options {
        draft_titles: true,
        ..Options::default()
    };
    let server = Server::start_with(&data, options());
    let (status, body) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(serde_json::json!({"catalog.new_titles": "published"})),
    );
    assert_eq!(status, 200, "{body}");
    drop(server);
    let clip = tmp.path().join("harbour_walk.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    let out = Command::new(bin())
        .arg("ingest")
        .arg(&clip)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ready: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("no ready line")
        .to_owned();
    let server = Server::start_with(&data, options());
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{id}"), None);
    assert_eq!(title["status"], "published", "{title}");
}

#[test]
fn api_requires_a_valid_key_and_answers_errors_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let url = |p: &str| format!("{}{p}", server.base);

    let (status, body) = get_with(&url("/api/v1/assets"), None);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = get_with(&url("/api/v1/assets"), Some("mq_nope_nope"));
    assert_eq!(status, 401);
    let mut wrong = server.key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(get_with(&url("/api/v1/assets"), Some(&wrong)).0, 401);

    let (status, body) = server.get("/api/v1/assets");
    assert_eq!(status, 200);
    assert_eq!(body["total"], 0);
    // The scheme is case-insensitive; a key with another scheme is not a key.
    for (scheme, expected) in [("bearer", 200), ("BEARER", 200), ("Basic", 401)] {
        let status = ureq::get(&url("/api/v1/assets"))
            .header("Authorization", &format!("{scheme} {}", server.key))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, expected, "{scheme}");
    }
    let (status, body) = server.get("/api/v1/assets?status=bogus");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown status")
    );
    let (status, body) = server.get("/api/v1/assets?limit=abc");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, body) = server.get("/api/v1/assets/doesnotexist");
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), "");
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(server.log().contains("stopped"));
}

#[test]
fn bad_configuration_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("marquee.toml"), "[transcode]\nsegment_secs = 9\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("segment_secs must be between 2 and 6"));
    // The environment overrides the file.
    let out = Command::new(bin())
        .args(["apikey", "create", "--name", "x", "--data-dir"])
        .arg(&data)
        .env("MARQUEE_TRANSCODE__SEGMENT_SECS", "4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A misspelled key is refused, naming the key and the one that was meant; nothing
    // starts and the data dir is not touched.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("marquee.toml"), "[transcode]\nsegmnt_secs = 4\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "unknown key `transcode.segmnt_secs`; did you mean `transcode.segment_secs`?"
        ),
        "{stderr}"
    );
    assert!(!fresh.join("marquee.db").exists());
}
