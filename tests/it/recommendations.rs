//! Personal rails on the real server: viewers finish titles through the player's progress
//! endpoint, the refresher works out co-watching on its own, and the home page shows
//! "Because you watched X" and "New in your genres" to the viewer they are about and to
//! nobody signed out; plays reported by beacons become "Trending this week" once the list
//! is due again (an injected clock).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::support::{Options, Server, drop_into, make_clip};

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

/// The titles a rail on a home page links to, in order (empty when it is not there).
fn rail(home: &str, heading: &str) -> Vec<String> {
    let home = home.replace("&#x2f;", "/");
    let Some(at) = home.find(&format!(">{heading}<")) else {
        return Vec::new();
    };
    let rest = &home[at..];
    let end = rest.find("</section>").unwrap_or(rest.len());
    rest[..end]
        .split("href=\"/title/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .fold(Vec::new(), |mut ids, id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
            ids
        })
}

/// Reloads `path` until `done` holds for it (the refresher runs every few seconds).
fn home_until(browser: &mut Browser, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let home = browser.get("/").body;
        if done(&home) || Instant::now() > deadline {
            return home;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn home_rails_follow_what_viewers_finish_and_what_is_played() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    for who in ["bob", "cat", "dan"] {
        created(&data, &format!("{who}@example.com"), &["--role", "viewer"]);
    }
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "0").unwrap();
    let server = Server::start_with(
        &data,
        Options {
            env: vec![(
                "MARQUEE_TEST_CLOCK_FILE".into(),
                clock.display().to_string(),
            )],
            ..Options::default()
        },
    );
    let clip = tmp.path().join("rails_clip.mp4");
    make_clip(&clip, "160x90", 25, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("rails clip", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Four movies on the one clip: Anchor and Delta are dramas, Bravo a comedy.
    let movie = |name: &str, genres: serde_json::Value| {
        let (status, body) = server.call(
            "POST",
            "/api/v1/titles",
            Some(
                json!({"kind": "movie", "name": name, "synopsis": "A story.",
                        "asset_id": asset, "genres": genres}),
            ),
        );
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (status, body) = server.call("POST", &format!("/api/v1/titles/{id}/publish"), None);
        assert_eq!(status, 200, "{body}");
        id
    };
    let anchor = movie("Anchor", json!(["Drama"]));
    let bravo = movie("Bravo", json!(["Comedy"]));
    let charlie = movie("Charlie", json!([]));
    let delta = movie("Delta", json!(["Drama"]));
    for (kind, name) in [
        ("because_you_watched", "Because you watched"),
        ("trending", "Trending this week"),
        ("new_in_your_genres", "New in your genres"),
    ] {
        let (status, body) = server.call(
            "POST",
            "/api/v1/rails",
            Some(json!({"kind": kind, "name": name})),
        );
        assert_eq!(status, 201, "{body}");
    }

    // Bob finished Anchor and Bravo; Cat finished Anchor and Charlie; Dan only Anchor.
    let mut bob = signed_in(&server, "bob@example.com");
    finish(&mut bob, &anchor);
    finish(&mut bob, &bravo);
    let mut cat = signed_in(&server, "cat@example.com");
    finish(&mut cat, &anchor);
    finish(&mut cat, &charlie);
    let mut dan = signed_in(&server, "dan@example.com");
    finish(&mut dan, &anchor);

    let heading = "Because you watched Anchor";
    let home = home_until(&mut dan, |h| rail(h, heading).len() == 2);
    let mut because = rail(&home, heading);
    because.sort();
    let mut expected = vec![bravo.clone(), charlie.clone()];
    expected.sort();
    assert_eq!(because, expected, "{home}");
    // Dan watched a drama: the drama he has not started is new in his genres.
    assert_eq!(rail(&home, "New in your genres"), vec![delta.clone()]);
    // Bob's rail leaves out Bravo, which he finished; Bravo's one neighbour is Anchor, which
    // he finished too, so the rail is about Anchor.
    let home = bob.get("/").body;
    assert_eq!(rail(&home, heading), vec![charlie.clone()], "{home}");

    // Signed out: neither personal rail, and nothing trending before any play.
    let mut anonymous = Browser::new(server.url());
    let home = anonymous.get("/").body;
    assert!(!home.contains("Because you watched"), "{home}");
    assert!(!home.contains("New in your genres"), "{home}");
    assert!(rail(&home, "Trending this week").is_empty(), "{home}");

    // Plays this week: Charlie three, Bravo one. The list is worked out again once it is
    // ten minutes old.
    for (n, (title, plays)) in [(&charlie, 3), (&bravo, 1)].into_iter().enumerate() {
        for play in 0..plays {
            let body = json!({"session": format!("trend-session-{n}-{play:04}"), "title": title,
                              "events": [{"kind": "play_intent", "n": 1}]})
            .to_string();
            let answer = anonymous.post_json("/beacon", "", &body);
            assert_eq!(answer.status, 204, "{}", answer.body);
        }
    }
    std::fs::write(&clock, "700").unwrap();
    let home = home_until(&mut anonymous, |h| {
        !rail(h, "Trending this week").is_empty()
    });
    assert_eq!(
        rail(&home, "Trending this week"),
        vec![charlie.clone(), bravo.clone()],
        "{home}"
    );
}
