//! Watching, on the real server and in Chromium: one resume rule for the title page and
//! the player.

use std::path::Path;
use std::time::Duration;

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::player::browser_check;
use crate::support::{Server, drop_into, make_clip};

const VIEWER: &str = "vic@example.com";

/// A `secs`-second clip named `name`, ingested and published; its title's id.
fn movie(server: &Server, dir: &Path, name: &str, secs: f64) -> String {
    let clip = dir.join(format!("{}.mp4", name.replace(' ', "_")));
    make_clip(&clip, "320x180", 25, secs, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished(name, Duration::from_secs(180));
    assert_eq!(asset["status"], "ready", "{asset}");
    asset["id"].as_str().unwrap().to_owned()
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
}

/// The viewer's position, as their player reports it.
fn report_position(viewer: &mut Browser, title: &str, position: f64, duration: f64) {
    let watch = viewer.get(&format!("/watch/{title}")).body;
    let marker = "<meta name=\"csrf\" content=\"";
    let at = watch.find(marker).expect("a csrf meta") + marker.len();
    let csrf = &watch[at..at + watch[at..].find('"').unwrap()];
    let saved = viewer.post_json(
        &format!("/watch/{title}/progress"),
        csrf,
        &format!(r#"{{"position": {position}, "duration": {duration}}}"#),
    );
    assert_eq!(saved.status, 204, "{}", saved.body);
}

/// 13 s into a 20 s film: the title page offers "Resume from 0:13", and the player that
/// button opens starts at 13 s, in the page and in Chromium (the player used to apply its
/// own rule, "not in the last 10 s", and started at 0). Watched to the end: "Play", and
/// the player starts at 0.
#[test]
fn the_title_page_and_the_player_resume_at_the_same_position() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, VIEWER, &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let film = movie(&server, tmp.path(), "Ferry Crossing", 20.0);
    let mut vic = Browser::new(server.url());
    vic.sign_in(VIEWER, PASSWORD);

    report_position(&mut vic, &film, 13.0, 20.0);
    let title_page = unescape(&vic.get(&format!("/title/{film}")).body);
    assert!(
        title_page.contains(&format!(
            "href=\"/watch/{film}?autoplay=1\">Resume from 0:13<"
        )),
        "{title_page}"
    );
    let watch = vic.get(&format!("/watch/{film}")).body;
    assert!(watch.contains("data-resume=\"13"), "{watch}");

    let report = browser_check(&[
        "watching.mjs",
        "resume",
        server.url(),
        &film,
        VIEWER,
        PASSWORD,
    ]);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["offered"], "Resume from 0:13", "{report}");
    assert_eq!(steps[1]["startAt"], 13.0, "{report}");
    let first = steps[1]["currentTime"].as_f64().unwrap();
    assert!((12.5..16.0).contains(&first), "{report}");

    // Watched to the end: both start from the beginning.
    report_position(&mut vic, &film, 19.5, 20.0);
    let title_page = unescape(&vic.get(&format!("/title/{film}")).body);
    assert!(
        !title_page.contains("Resume")
            && title_page.contains(&format!("href=\"/watch/{film}?autoplay=1\">Play<")),
        "{title_page}"
    );
    assert!(
        !vic.get(&format!("/watch/{film}"))
            .body
            .contains("data-resume=\"")
    );
}

/// The part of a home page in the rail headed `heading` (empty when it is not there).
fn rail<'a>(home: &'a str, heading: &str) -> &'a str {
    let Some(at) = home.find(&format!(">{heading}</h2>")) else {
        return "";
    };
    let rest = &home[at..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The home page a fresh install comes with shows a signed-in viewer "Continue watching"
/// first, each tile with a bar of how much they watched (a bar screen readers skip, and
/// the words "Watched 40 %" they read); signed out, no such rail. Once an editor arranges
/// the home page, the rail is theirs to add, and it has the bars too.
#[test]
fn continue_watching_tiles_show_progress_and_the_default_home_has_the_rail() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, VIEWER, &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let film = movie(&server, tmp.path(), "Lighthouse Keeper", 20.0);
    let mut vic = Browser::new(server.url());
    vic.sign_in(VIEWER, PASSWORD);
    // 12 s of what the player measured as 30 s: 40 %.
    report_position(&mut vic, &film, 12.0, 30.0);

    let home = unescape(&vic.get("/").body);
    let tiles = rail(&home, "Continue watching");
    assert!(tiles.contains(&format!("href=\"/title/{film}\"")), "{home}");
    assert!(
        tiles
            .contains("<progress class=\"watched\" max=\"100\" value=\"40\" aria-hidden=\"true\">")
            && tiles.contains("Watched 40 %"),
        "{tiles}"
    );
    // The rail comes first, before the installed "New".
    assert!(
        home.find(">Continue watching<") < home.find(">New<"),
        "{home}"
    );
    let (_, signed_out) = server.page("/");
    assert!(!signed_out.contains("Continue watching"), "{signed_out}");

    let report = browser_check(&[
        "watching.mjs",
        "home",
        server.url(),
        &film,
        VIEWER,
        PASSWORD,
    ]);
    let tile = &report["steps"][0];
    assert_eq!(tile["value"], 40.0, "{report}");
    assert_eq!(tile["heard"], 1, "{report}");
    assert_eq!(report["axe"]["home"], serde_json::json!([]), "{report}");
    let (bar, card) = (&tile["bar"], &tile["tile"]);
    assert!(bar["height"].as_f64().unwrap() >= 3.0, "{report}");
    assert!(
        bar["width"].as_f64().unwrap() >= card["width"].as_f64().unwrap() - 1.0,
        "the bar spans the tile: {report}"
    );

    // An editor arranges the home page: "Continue watching" is theirs to place.
    let (status, body) = server.call(
        "POST",
        "/api/v1/rails",
        Some(serde_json::json!({"kind": "trending", "name": "Popular"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(rail(&vic.get("/").body, "Continue watching"), "");
    let (status, body) = server.call(
        "POST",
        "/api/v1/rails",
        Some(serde_json::json!({"kind": "continue_watching", "name": "Pick up again"})),
    );
    assert_eq!(status, 201, "{body}");
    let home = unescape(&vic.get("/").body);
    assert!(
        rail(&home, "Pick up again").contains("value=\"40\""),
        "{home}"
    );
}

/// Whether every control of a `controlBoxes` report shares one line (each overlaps the
/// first one's height) and stays inside the row.
fn on_one_line(layout: &serde_json::Value) -> bool {
    let controls = layout["controls"].as_array().unwrap();
    let f = |c: &serde_json::Value, k: &str| c[k].as_f64().unwrap();
    let first = &controls[0];
    controls.iter().all(|c| {
        f(c, "top") < f(first, "bottom")
            && f(c, "bottom") > f(first, "top")
            && f(c, "left") >= f(&layout["row"], "left") - 0.5
            && f(c, "right") <= f(&layout["row"], "right") + 0.5
    })
}

/// The player on a 390 px touch phone in Chromium: its controls on one line, the big play
/// button over the picture's centre that starts it, a speed menu that sets the playback
/// rate, picture in picture (Chromium has it), no AirPlay button (Chromium has no AirPlay)
/// and no keyboard hints; with a mouse on a desktop, the hints.
#[test]
fn the_player_fits_a_phone_with_speed_picture_in_picture_and_hints_only_for_keyboards() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let film = movie(&server, tmp.path(), "Night Ferry", 20.0);
    let shot = tmp.path().join("phone.png");
    let report = browser_check(&[
        "watching.mjs",
        "phone",
        server.url(),
        &film,
        shot.to_str().unwrap(),
    ]);
    if let Ok(keep) = std::env::var("MARQUEE_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"))
            .clone()
    };
    let layout = step("layout");
    assert_eq!(layout["width"], 390, "{report}");
    assert!(
        layout["controls"].as_array().unwrap().len() >= 6,
        "{report}"
    );
    assert!(
        on_one_line(&layout),
        "the controls wrap on a phone: {report}"
    );
    for page in ["watch", "watch settings open"] {
        assert_eq!(
            report["axe"][page],
            serde_json::json!([]),
            "{page}: {report}"
        );
    }

    let big = step("bigplay");
    let centre = |b: &serde_json::Value, at: &str, size: &str| {
        b[at].as_f64().unwrap() + b[size].as_f64().unwrap() / 2.0
    };
    for (at, size) in [("x", "width"), ("y", "height")] {
        let off = centre(&big["big"], at, size) - centre(&big["video"], at, size);
        assert!(
            off.abs() < 2.0,
            "the big play button is off centre: {report}"
        );
    }
    assert_eq!(big["hiddenWhilePlaying"], true, "{report}");

    let speed = step("speed");
    assert_eq!(speed["speedShownFolded"], false, "{report}");
    assert_eq!(speed["speedShownOpen"], true, "{report}");
    assert_eq!(speed["speedOnTop"], true, "{report}");
    assert_eq!(speed["rate"], 1.5, "{report}");

    let pip = step("pip");
    assert_eq!(
        pip["pipEnabled"], true,
        "Chromium has picture in picture: {report}"
    );
    assert_eq!(pip["pipShown"], true, "{report}");
    assert_eq!(pip["floated"], true, "{report}");
    let airplay = step("airplay");
    assert_eq!(airplay["event"], false, "{report}");
    assert_eq!(airplay["shown"], false, "{report}");

    let phone = step("phone hints");
    assert_eq!(phone["keysShown"], false, "{report}");
    assert_eq!(phone["playTitle"], "Play", "{report}");
    let desktop = step("desktop hints");
    assert_eq!(desktop["keysShown"], true, "{report}");
    assert_eq!(desktop["playTitle"], "Play (k)", "{report}");
    assert!(on_one_line(&desktop), "{report}");
}
