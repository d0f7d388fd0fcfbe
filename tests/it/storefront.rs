//! The storefront in Chromium (tests/browser/storefront.mjs): an editor builds a series with
//! its cast, publishes it and a movie, and builds the home page (a hero, a reordered
//! hand-picked rail and a genre rail beside "New") from the dashboard only; a signed-out
//! visitor finds the series on the home page, by search as they type and by an actor's name,
//! and plays episode 2; axe-core finds no serious violation on the home, title and search
//! pages. Without `site.base_url`, the sitemap, robots.txt and title pages, whose links
//! name the request's Host, are `Cache-Control: private`.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{PASSWORD, created, data_with_ann};
use crate::support::{Options, Server, drop_into, make_clip};

/// The videos the walk builds from: two episodes and a movie (names as the library shows
/// them, and their lengths, which tell them apart).
pub const CLIPS: [(&str, f64); 3] = [("Fog take", 3.0), ("Keeper take", 3.5), ("Gull take", 2.5)];

/// The file a clip is dropped as (`Fog_take.mp4`, listed as "Fog take").
pub fn clip_file(name: &str) -> String {
    format!("{}.mp4", name.replace(' ', "_"))
}

#[test]
fn an_editor_builds_a_series_and_the_home_page_and_a_visitor_finds_and_plays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let server = Server::start_with(
        &data,
        Options {
            draft_titles: true,
            ..Options::default()
        },
    );
    for (name, secs) in CLIPS {
        let clip = tmp.path().join(clip_file(name));
        make_clip(&clip, "640x360", 25, secs, true);
        drop_into(&server.inbox(), &clip);
        let asset = server.wait_finished(name, Duration::from_secs(120));
        assert_eq!(asset["status"], "ready", "{asset}");
    }
    let report = crate::player::browser_check(&[
        "storefront.mjs",
        server.url(),
        "ed@example.com",
        PASSWORD,
        "Fog take",
        "Keeper take",
        "Gull take",
    ]);
    check_walk(&report);
}

/// What the walk must have seen, wherever it ran (a test server here, the installed
/// appliance in `install_systemd`).
pub fn check_walk(report: &serde_json::Value) {
    assert_eq!(
        crate::player::step_names(report),
        [
            "series created",
            "episodes added",
            "published",
            "movie published",
            "rails arranged",
            "home",
            "found by search",
            "found by cast",
            "title page",
            "played"
        ],
        "{report}"
    );
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        step("episodes added")["episodes"],
        json!(["Fog", "The Keeper"])
    );
    assert_eq!(step("published")["status"], "published", "{report}");
    assert_eq!(step("movie published")["status"], "published", "{report}");
    let arranged = step("rails arranged");
    assert_eq!(
        arranged["order"],
        json!(["Tonight", "Editors’ picks", "New", "Mysteries"]),
        "{report}"
    );
    // Added series first, then the movie, which was moved up.
    assert_eq!(
        arranged["picks"],
        json!(["Gull Island", "Night Harbour"]),
        "{report}"
    );
    let home = step("home");
    assert_eq!(home["hero"], "Night Harbour", "{report}");
    assert_eq!(
        home["rails"],
        json!(["Editors’ picks", "New", "Mysteries"]),
        "{report}"
    );
    assert_eq!(
        home["picksOnHome"],
        json!(["Gull Island", "Night Harbour"]),
        "{report}"
    );
    let series = step("series created")["id"].as_str().unwrap().to_owned();
    assert_eq!(
        step("found by cast")["byCast"],
        json!([format!("/title/{series}")]),
        "{report}"
    );
    let page = step("title page");
    assert_eq!(page["listed"], json!(["Fog", "The Keeper"]), "{report}");
    assert_eq!(
        page["credits"],
        json!([
            "Starring: Mara Quinn as The Keeper, Jo Park",
            "Director: Tomas Ek"
        ]),
        "{report}"
    );
    let played = step("played");
    assert_eq!(played["heading"], "The Keeper", "{report}");
    // Started by the episode link alone; the address bar keeps the plain watch URL.
    let url = played["url"].as_str().unwrap();
    assert!(url.contains("/watch/") && !url.contains('?'), "{report}");
    for page in ["home", "search", "title"] {
        assert_eq!(
            report["axe"][page],
            json!([]),
            "serious accessibility problems on the {page} page: {report}"
        );
    }
}

/// An answer's `Cache-Control` and body, asked for as if at `host`.
fn fetch_as(server: &Server, path: &str, host: &str) -> (String, String) {
    let mut resp = crate::support::agent()
        .get(&format!("{}{path}", server.url()))
        .header("Host", host)
        .call()
        .unwrap();
    let cache = resp
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (cache, resp.body_mut().read_to_string().unwrap())
}

#[test]
fn links_taken_from_the_host_header_are_never_for_a_shared_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, "");
    let clip = tmp.path().join("host_links_clip.mp4");
    make_clip(&clip, "320x180", 25, 1.0, false);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("host links clip", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // No site.base_url: the links name whatever host the request named, so no shared cache
    // may keep them for others.
    let title = format!("/title/{id}");
    for path in ["/sitemap.xml", "/robots.txt", title.as_str()] {
        let (cache, body) = fetch_as(&server, path, "attacker.example");
        // (The title page escapes the slashes of its links.)
        assert!(body.contains("http:"), "{path}: {body}");
        assert!(body.contains("attacker.example"), "{path}: {body}");
        assert!(
            cache.contains("private") && !cache.contains("public"),
            "{path}: Cache-Control {cache:?}"
        );
    }

    // With site.base_url set, the links are the configured ones and the sitemap is public.
    server.terminate();
    let config = std::fs::read_to_string(data.join("marquee.toml")).unwrap();
    std::fs::write(
        data.join("marquee.toml"),
        format!("{config}\n[site]\nbase_url = \"https://tv.example.com\"\n"),
    )
    .unwrap();
    server.restart();
    let (cache, body) = fetch_as(&server, "/sitemap.xml", "attacker.example");
    assert!(
        body.contains(&format!("https://tv.example.com/title/{id}")) && !body.contains("attacker"),
        "{body}"
    );
    assert_eq!(cache, "public, max-age=300");
    let (cache, body) = fetch_as(&server, &title, "attacker.example");
    assert!(
        !body.contains("attacker.example") && !cache.contains("private"),
        "{cache:?}"
    );
}
