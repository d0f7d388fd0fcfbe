//! The viewer's side: the pages, and real playback in headless Chromium.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Server, drop_into, make_clip};

fn fetch(server: &Server, path: &str) -> (u16, String, String) {
    let mut resp = ureq::get(&format!("{}{path}", server.base))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let info = format!("{}|{}", header("content-type"), header("cache-control"));
    // Templates escape `/` in attributes; a browser reads it back as `/`.
    (
        status,
        info,
        resp.body_mut()
            .read_to_string()
            .unwrap_or_default()
            .replace("&#x2f;", "/"),
    )
}

#[test]
fn pages_render_and_chromium_and_firefox_play_switch_and_show_subtitles() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("Harbour_Tour.mp4");
    make_clip(&clip, "640x360", 30, 20.0, true);
    std::fs::write(
        tmp.path().join("Harbour_Tour.en.srt"),
        "1\n00:00:00,000 --> 00:00:19,000\nWelcome aboard\n",
    )
    .unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    drop_into(&server.inbox(), &tmp.path().join("Harbour_Tour.en.srt"));
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("Harbour Tour", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready");
    let id = asset["id"].as_str().unwrap();

    let (status, info, home) = fetch(&server, "/");
    assert_eq!(status, 200);
    assert!(info.starts_with("text/html"), "{info}");
    assert!(
        home.contains("Harbour Tour") && home.contains(&format!("/watch/{id}")),
        "{home}"
    );
    assert!(home.contains(&format!("/p/public/{id}/poster.jpg")));
    // One stylesheet in the head; scripts are deferred.
    let (status, _, watch) = fetch(&server, &format!("/watch/{id}"));
    assert_eq!(status, 200);
    assert_eq!(watch.matches("rel=\"stylesheet\"").count(), 1);
    assert!(
        watch.matches("<script").count() == watch.matches("<script defer").count(),
        "render-blocking script"
    );
    assert!(watch.contains(&format!("data-src=\"/p/public/{id}/master.m3u8\"")));
    assert_eq!(fetch(&server, "/watch/nosuchasset").0, 404);
    let css = watch
        .split("href=\"")
        .find_map(|s| {
            s.split('"')
                .next()
                .filter(|u| u.starts_with("/static/app.css"))
        })
        .unwrap()
        .to_string();
    let (status, info, _) = fetch(&server, &css);
    assert_eq!(status, 200);
    assert!(
        info.starts_with("text/css") && info.contains("immutable"),
        "{info}"
    );
    let (status, info, js) = fetch(&server, "/static/vendor/hls.min.js");
    assert_eq!(status, 200);
    assert!(
        info.starts_with("text/javascript") && js.len() > 100_000,
        "hls.js is vendored"
    );
    assert_eq!(fetch(&server, "/static/../marquee.toml").0, 404);

    // A real browser.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (packaging/deps.sh test does)"
    );
    let shot = tmp.path().join("watch.png");
    let page = format!("{}/watch/{id}", server.base);
    let chromium = browser_check(&dir, &["watch.mjs", &page, shot.to_str().unwrap()]);
    assert_eq!(
        chromium,
        [
            "manifest",
            "played",
            "switched",
            "subtitles",
            "keyboard",
            "resumed"
        ]
    );
    assert!(shot.is_file());
    // The same checks in Firefox ESR, over WebDriver BiDi.
    let firefox = browser_check(
        &dir,
        &["--experimental-websocket", "watch-firefox.mjs", &page],
    );
    assert_eq!(firefox, ["manifest", "played", "switched", "subtitles"]);
    if let Ok(keep) = std::env::var("MARQUEE_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}

/// Runs one of the browser scripts in `dir` and returns the names of the steps it passed.
pub(crate) fn browser_check(dir: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("node")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}
