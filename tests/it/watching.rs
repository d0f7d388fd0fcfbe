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
