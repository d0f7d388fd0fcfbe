//! The viewer's side: the pages, and real playback in headless Chromium.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Options, Server, drop_into, make_clip};

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

/// A 20 s clip with sound and English subtitles, ingested by `server`; its asset id.
fn harbour_tour(server: &Server, tmp: &Path) -> String {
    let clip = tmp.join("Harbour_Tour.mp4");
    make_clip(&clip, "640x360", 30, 20.0, true);
    std::fs::write(
        tmp.join("Harbour_Tour.en.srt"),
        "1\n00:00:00,000 --> 00:00:19,000\nWelcome aboard\n",
    )
    .unwrap();
    drop_into(&server.inbox(), &tmp.join("Harbour_Tour.en.srt"));
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("Harbour Tour", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready");
    asset["id"].as_str().unwrap().to_owned()
}

/// The checks watch.mjs runs in Chromium, in order.
const CHROMIUM_STEPS: [&str; 6] = [
    "manifest",
    "played",
    "switched",
    "subtitles",
    "keyboard",
    "resumed",
];

#[test]
fn pages_render_and_chromium_and_firefox_play_switch_and_show_subtitles() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let id = harbour_tour(&server, tmp.path());
    let id = id.as_str();

    let (status, info, home) = fetch(&server, "/");
    assert_eq!(status, 200);
    assert!(info.starts_with("text/html"), "{info}");
    // The video's title (same id as the asset) is on the home page, and its page plays it.
    let home = home.replace("&#x2f;", "/");
    assert!(
        home.contains("Harbour Tour") && home.contains(&format!("/title/{id}")),
        "{home}"
    );
    assert!(home.contains(&format!("/p/public/{id}/poster.jpg")));
    let (status, _, title_page) = fetch(&server, &format!("/title/{id}"));
    assert_eq!(status, 200);
    assert!(
        title_page
            .replace("&#x2f;", "/")
            .contains(&format!("/watch/{id}")),
        "{title_page}"
    );
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
    let shot = tmp.path().join("watch.png");
    let page = format!("{}/watch/{id}", server.base);
    let chromium = browser_check(&["watch.mjs", &page, shot.to_str().unwrap()]);
    assert_eq!(step_names(&chromium), CHROMIUM_STEPS);
    assert!(shot.is_file());
    // The same checks in Firefox ESR, over WebDriver BiDi.
    let firefox = browser_check(&["--experimental-websocket", "watch-firefox.mjs", &page]);
    assert_eq!(
        step_names(&firefox),
        ["manifest", "played", "switched", "subtitles"]
    );
    if let Ok(keep) = std::env::var("MARQUEE_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}

/// Chromium pointed at the plain port of `serve --tls`: the 301 takes it to HTTPS, where
/// it trusts the server's self-signed certificate (pinned by its public key, so no other
/// certificate error is overlooked), and the page and the whole stream come over HTTP/2.
#[test]
fn chromium_follows_the_redirect_to_https_and_plays_over_http2() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        Options {
            tls: true,
            ..Options::default()
        },
    );
    let id = harbour_tour(&server, tmp.path());
    let https = server.https.as_deref().expect("a --tls server");
    let plain_page = format!("{}/watch/{id}", server.base);
    let cert = server.data.join("tls/cert.pem");

    let report = browser_check(&[
        "watch.mjs",
        &plain_page,
        "--trust-cert",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(step_names(&report), CHROMIUM_STEPS, "{report}");
    let page = &report["page"];
    assert_eq!(page["url"], format!("{https}/watch/{id}"), "{report}");
    assert_eq!(page["redirectedFrom"]["url"], plain_page, "{report}");
    assert_eq!(page["redirectedFrom"]["status"], 301, "{report}");
    let protocols = &report["protocols"];
    assert_eq!(protocols["page"], "h2", "{report}");
    assert_eq!(protocols["stream"], serde_json::json!(["h2"]), "{report}");
    // The master and media playlists, init segments and media segments of two renditions.
    assert!(
        protocols["streamRequests"].as_u64().unwrap() > 6,
        "{report}"
    );
}

/// Runs one of the browser scripts in tests/browser and returns its report.
pub(crate) fn browser_check(args: &[&str]) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (packaging/deps.sh test does)"
    );
    let out = Command::new("node")
        .current_dir(&dir)
        .args(args)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The names of the steps a browser script passed.
pub(crate) fn step_names(report: &serde_json::Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}
