//! The player's end screen, on the real server and in Chromium: an episode that ends offers
//! the next live one (a draft between them is skipped, the next season's first counts) with
//! a countdown that opens its watch page, even when that page is a paywall, and nothing of
//! its media is fetched before; Cancel stops it. A movie that ends offers more like it from
//! the co-watching data, live titles only.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::player::browser_check;
use crate::support::{Server, drop_into, make_clip};

/// A `secs`-second clip named `name`, ingested; its asset's id (also the id of the movie
/// title ingest made for it).
fn clip(server: &Server, dir: &Path, name: &str, secs: f64) -> String {
    let path = dir.join(format!("{}.mp4", name.replace(' ', "_")));
    make_clip(&path, "320x180", 25, secs, false);
    drop_into(&server.inbox(), &path);
    let asset = server.wait_finished(name, Duration::from_secs(180));
    assert_eq!(asset["status"], "ready", "{asset}");
    asset["id"].as_str().unwrap().to_owned()
}

fn call(server: &Server, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, answer) = server.call(method, path, Some(body));
    assert!((200..300).contains(&status), "{method} {path}: {answer}");
    answer
}

fn new_title(server: &Server, fields: serde_json::Value) -> String {
    call(server, "POST", "/api/v1/titles", fields)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
}

/// A series, "Harbour Watch": S1 E1 "Low Tide" (free), a draft S1 E2, and S2 E1 "High
/// Water" for signed-in viewers only. A visitor plays S1 E1 to its end in Chromium.
#[test]
fn an_episode_that_ends_counts_down_to_the_next_one_and_cancel_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let first_media = clip(&server, tmp.path(), "Tide One", 3.0);
    // Another length: the same bytes twice would be one asset.
    let second_media = clip(&server, tmp.path(), "Tide Two", 3.5);
    // The movies ingest made of the clips are not the point here.
    for movie in [&first_media, &second_media] {
        call(
            &server,
            "POST",
            &format!("/api/v1/titles/{movie}/unpublish"),
            json!({}),
        );
    }
    let series = new_title(
        &server,
        json!({"kind": "series", "name": "Harbour Watch", "synopsis": "Boats."}),
    );
    let episode = |season: i64, number: i64, name: &str, media: &str| {
        new_title(
            &server,
            json!({"kind": "episode", "series_id": series, "season": season,
                   "episode": number, "name": name, "asset_id": media}),
        )
    };
    let first = episode(1, 1, "Low Tide", &first_media);
    let second = episode(2, 1, "High Water", &second_media);
    call(
        &server,
        "PUT",
        &format!("/api/v1/titles/{second}/access"),
        json!({"level": {"kind": "registered"}}),
    );
    call(
        &server,
        "POST",
        &format!("/api/v1/titles/{series}/publish"),
        json!({}),
    );
    // Made after the series was published: a draft, between the two.
    let draft = episode(1, 2, "Unfinished Cut", &first_media);

    let (status, page) = server.page(&format!("/watch/{first}"));
    assert_eq!(status, 200);
    let page = unescape(&page);
    assert!(
        page.contains("id=\"endscreen\"")
            && page.contains(">Next episode<")
            && page.contains(&format!("href=\"/watch/{second}?autoplay=1\""))
            && page.contains("High Water")
            && !page.contains("Unfinished Cut")
            && !page.contains(&format!("/watch/{draft}")),
        "{page}"
    );
    // The last episode has no next one, and no co-watching yet: no end screen.
    let (_, last) = server.page(&format!("/watch/{second}"));
    assert!(!last.contains("id=\"endscreen\""), "{last}");

    let report = browser_check(&[
        "endscreen.mjs",
        "next",
        server.url(),
        &first,
        &second,
        &second_media,
    ]);
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"))
            .clone()
    };
    let shown = step("shown");
    assert_eq!(shown["heading"], "Next episode", "{report}");
    assert_eq!(shown["episode"], "High Water", "{report}");
    assert_eq!(shown["countdownVisible"], true, "{report}");
    assert_eq!(shown["secs"], "10", "{report}");
    assert_eq!(shown["focused"], "Play now", "{report}");
    assert!(
        shown["announced"]
            .as_str()
            .unwrap()
            .contains("Next episode: High Water."),
        "{report}"
    );
    assert_eq!(report["axe"]["next episode"], json!([]), "{report}");
    // By keyboard: moving to Cancel stops the countdown, Enter closes the screen, and the
    // page stays after the countdown would have run out.
    let cancelled = step("cancelled");
    assert_eq!(cancelled["focusedAfterTab"], "Cancel", "{report}");
    assert_eq!(cancelled["countingAfterTab"], false, "{report}");
    assert_eq!(cancelled["countdownVisibleAfterTab"], false, "{report}");
    assert_eq!(cancelled["open"], false, "{report}");
    assert!(
        cancelled["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/watch/{first}")),
        "{report}"
    );
    // Left alone, it counts down and opens the next episode's page, where the paywall
    // explains; nothing of its media or pass was fetched before.
    let counted = step("counted");
    assert!(counted["ticked"].as_i64().unwrap() < 10, "{report}");
    assert!(
        counted["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/watch/{second}")),
        "{report}"
    );
    assert_eq!(counted["paywall"], true, "{report}");
    assert_eq!(counted["player"], false, "{report}");
    assert_eq!(counted["nextMediaFetched"], json!([]), "{report}");
}

/// Plays `title` to its end in `viewer`'s account, as the player reports it.
fn finish(viewer: &mut Browser, title: &str) {
    let watch = viewer.get(&format!("/watch/{title}"));
    let marker = "<meta name=\"csrf\" content=\"";
    let at = watch.body.find(marker).expect("a csrf meta");
    let rest = &watch.body[at + marker.len()..];
    let csrf = rest[..rest.find('"').unwrap()].to_owned();
    let saved = viewer.post_json(
        &format!("/watch/{title}/progress"),
        &csrf,
        r#"{"position": 2.0, "duration": 2.0}"#,
    );
    assert_eq!(saved.status, 204, "{}", saved.body);
}

/// Four movies on one clip. Viewers who finished "Anchor" also finished "Bravo", "Charlie"
/// and "Delta"; Delta is then taken back to a draft. Anchor's end screen offers more like
/// it: Bravo and Charlie, never the draft.
#[test]
fn a_movie_that_ends_offers_more_like_it_from_co_watching_live_titles_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    for who in ["bob", "cat", "dan"] {
        created(&data, &format!("{who}@example.com"), &["--role", "viewer"]);
    }
    let server = Server::start(&data, "");
    let media = clip(&server, tmp.path(), "Shared Reel", 2.0);
    call(
        &server,
        "POST",
        &format!("/api/v1/titles/{media}/unpublish"),
        json!({}),
    );
    let movie = |name: &str| {
        let id = new_title(
            &server,
            json!({"kind": "movie", "name": name, "synopsis": "A story.", "asset_id": media}),
        );
        call(
            &server,
            "POST",
            &format!("/api/v1/titles/{id}/publish"),
            json!({}),
        );
        id
    };
    let anchor = movie("Anchor");
    let bravo = movie("Bravo");
    let charlie = movie("Charlie");
    let delta = movie("Delta");
    for (who, other) in [("bob", &bravo), ("cat", &charlie), ("dan", &delta)] {
        let mut viewer = signed_in(&server, &format!("{who}@example.com"));
        finish(&mut viewer, &anchor);
        finish(&mut viewer, other);
    }
    call(
        &server,
        "POST",
        &format!("/api/v1/titles/{delta}/unpublish"),
        json!({}),
    );

    // The refresher works co-watching out every few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = unescape(&server.page(&format!("/watch/{anchor}")).1);
        if page.contains(">More like this<") && page.contains(&format!("/title/{charlie}")) {
            break page;
        }
        assert!(Instant::now() < deadline, "no more like this: {page}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        page.contains(&format!("href=\"/title/{bravo}\""))
            && !page.contains(&format!("/title/{delta}"))
            && !page.contains("Delta")
            && !page.contains(">Next episode<"),
        "{page}"
    );

    let report = browser_check(&["endscreen.mjs", "more", server.url(), &anchor]);
    let shown = &report["steps"][0];
    assert_eq!(shown["heading"], "More like this", "{report}");
    let mut names: Vec<&str> = shown["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Bravo", "Charlie"], "{report}");
    assert_eq!(shown["countdown"], false, "{report}");
    assert_eq!(report["axe"]["more like this"], json!([]), "{report}");
}
