//! Player beacons: a real Chromium playback produces its session in `events.db` (the
//! page load, the play intent, the time to first frame, the rendition); hostile batches
//! (wrong types, too many events, too large, a replay, another viewer's session id)
//! change nothing; a flood from many sessions and browsers is stored only up to the budget
//! across all senders, and nothing is stored while the disk is below its floor (the players
//! are answered as usual either way).

use std::time::{Duration, Instant};

use crate::support::{Options, Server, agent, drop_into, make_clip};

fn events_of(data: &std::path::Path, session: &str) -> Vec<(String, Option<f64>, Option<i64>)> {
    let db = rusqlite::Connection::open_with_flags(
        data.join("events.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT kind, value, height FROM raw_events WHERE session = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn post(server: &Server, body: &str, ua: &str) -> u16 {
    match agent()
        .post(&format!("{}/beacon", server.url()))
        .header("User-Agent", ua)
        .header("Content-Type", "text/plain")
        .send(body)
    {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_chromium_playback_reports_itself_and_bad_beacons_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let server = Server::start(&data, "segment_secs = 2\n");
    let clip = tmp.path().join("beacon_clip.mp4");
    make_clip(&clip, "640x360", 25, 10.0, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("beacon clip", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = crate::player::browser_check(&["beacons.mjs", server.url(), &id]);
    let session = report["session"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = events_of(&data, &session);
        if events.iter().any(|(k, _, _)| k == "complete") || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let kinds: Vec<&str> = events.iter().map(|(k, _, _)| k.as_str()).collect();
    for kind in ["page_load", "play_intent", "first_frame", "complete"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let ttff = events
        .iter()
        .find(|(k, _, _)| k == "first_frame")
        .unwrap()
        .1
        .unwrap();
    assert!(
        ttff > 0.0 && ttff < 30_000.0,
        "time to first frame {ttff} ms"
    );
    assert!(
        events
            .iter()
            .any(|(k, _, h)| k == "switch" && h.is_some_and(|h| h > 0)),
        "the rendition played: {events:?}"
    );

    // The held-back segment made the player stall for seconds, and it said so.
    let stall = events
        .iter()
        .filter(|(k, _, _)| k == "rebuffer")
        .filter_map(|(_, ms, _)| *ms)
        .fold(0.0, f64::max);
    assert!(stall > 1000.0, "a rebuffer of over a second: {events:?}");

    // Hostile batches for a session of our own.
    let ua = "beacon-test/1";
    let good = format!(
        r#"{{"session": "hostile-session-0001", "title": "{id}", "events": [{{"kind": "play_intent", "n": 1}}]}}"#
    );
    let good = good.as_str();
    assert_eq!(post(&server, good, ua), 204);
    for bad in [
        r#"{"session": "hostile-session-0001", "title": "t1", "events": [{"kind": "first_frame", "n": 2, "ms": "soon"}]}"#.to_owned(),
        r#"{"session": "hostile-session-0001", "title": "t1", "events": [{"kind": "first_frame", "n": 2, "ms": 5, "admin": true}]}"#.to_owned(),
        format!(
            r#"{{"session": "hostile-session-0001", "title": "t1", "events": [{}]}}"#,
            vec![r#"{"kind": "complete", "n": 3}"#; 101].join(",")
        ),
        "x".repeat(40_000),
    ] {
        assert!(matches!(post(&server, &bad, ua), 400 | 413), "{}", &bad[..60.min(bad.len())]);
    }
    // A title the catalog does not have; another site's page; a flood from one sender.
    let unknown = r#"{"session": "hostile-session-0002", "title": "BuyPillsHere", "events": [{"kind": "play_intent", "n": 1}]}"#;
    assert_eq!(post(&server, unknown, ua), 400);
    // A title the catalog has but viewers cannot see yet (a draft): no figures for it.
    let (status, draft) = server.call(
        "POST",
        "/api/v1/titles",
        Some(serde_json::json!({"kind": "movie", "name": "Not out yet"})),
    );
    assert_eq!(status, 201, "{draft}");
    let draft = format!(
        r#"{{"session": "hostile-session-0003", "title": "{}", "events": [{{"kind": "play_intent", "n": 1}}]}}"#,
        draft["id"].as_str().unwrap()
    );
    assert_eq!(post(&server, &draft, ua), 400);
    let from_elsewhere = match agent()
        .post(&format!("{}/beacon", server.url()))
        .header("Origin", "https://elsewhere.example")
        .send(good)
    {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(from_elsewhere, 403);
    let flood: Vec<u16> = (0..30).map(|_| post(&server, good, "flood/1")).collect();
    assert!(flood.contains(&429), "a flood is slowed: {flood:?}");
    // A replay, and the same session id from another browser: nothing new.
    assert_eq!(post(&server, good, ua), 204);
    let stolen = format!(
        r#"{{"session": "hostile-session-0001", "title": "{id}", "events": [{{"kind": "complete", "n": 9}}]}}"#
    );
    let stolen = stolen.as_str();
    assert_eq!(post(&server, stolen, "another-browser/2"), 204);
    // The Chromium session's id, from elsewhere: nothing added to it.
    let theirs = format!(
        r#"{{"session": "{session}", "title": "{id}", "events": [{{"kind": "rebuffer", "n": 999, "ms": 123456}}]}}"#
    );
    assert_eq!(post(&server, &theirs, ua), 204);
    std::thread::sleep(Duration::from_millis(500));
    let hostile: Vec<String> = events_of(&data, "hostile-session-0001")
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(hostile, ["play_intent"], "only the first good event");
    assert!(
        !events_of(&data, &session)
            .iter()
            .any(|(k, ms, _)| k == "rebuffer" && *ms == Some(123_456.0)),
        "another browser added to Chromium's session"
    );

    // CMCD: hls.js sent it with Chromium's media requests, under the beacon session and
    // the title; the origin read it on the sendfile path.
    let cmcd: Vec<_> = events_of(&data, &session)
        .into_iter()
        .filter(|(k, _, _)| k == "cmcd")
        .collect();
    assert!(
        !cmcd.is_empty(),
        "CMCD from Chromium's requests: {}",
        report["media"]
    );
    // Both origin paths read it; a made-up session id is dropped; the answer is the same
    // file either way (CMCD is not part of the request's identity).
    let segment = format!("{}/p/public/{id}/video_360p/seg_00000.m4s", server.url());
    let cmcd_query =
        |sid: &str| format!("?CMCD=br%3D800%2Cbs%2Ccid%3D%22{id}%22%2Cot%3Dv%2Csid%3D%22{sid}%22");
    let fetch = |agent: &ureq::Agent, url: &str| {
        let mut r = agent.get(url).call().unwrap();
        let path = r
            .headers()
            .get("x-marquee-path")
            .map(|v| v.to_str().unwrap().to_owned());
        (path, r.body_mut().read_to_vec().unwrap())
    };
    let plain = fetch(&agent(), &segment);
    let fast = fetch(
        &agent(),
        &format!("{segment}{}", cmcd_query("fast-path-session-01")),
    );
    assert_eq!(fast, plain);
    assert_eq!(fast.0.as_deref(), Some("sendfile"));
    let warm = ureq::Agent::new_with_defaults();
    // Once the connection has asked for something else, actix-web owns it.
    warm.get(&format!("{}/healthz", server.url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let slow = fetch(
        &warm,
        &format!("{segment}{}", cmcd_query("actix-path-session-1")),
    );
    assert_eq!(slow.0.as_deref(), Some("actix"));
    assert_eq!(slow.1, plain.1);
    fetch(
        &agent(),
        &format!("{segment}{}", cmcd_query("not%20a%20session")),
    );
    std::thread::sleep(Duration::from_millis(500));
    for sid in ["fast-path-session-01", "actix-path-session-1"] {
        let db = rusqlite::Connection::open(data.join("events.db")).unwrap();
        let row: (String, String, i64, f64) = db
            .query_row(
                "SELECT kind, title_id, bitrate, value FROM raw_events WHERE session = ?1",
                [sid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, ("cmcd".into(), id.clone(), 800_000, 1.0), "{sid}");
    }
    let db = rusqlite::Connection::open(data.join("events.db")).unwrap();
    let odd: i64 = db
        .query_row(
            "SELECT count(*) FROM raw_events WHERE session LIKE 'not%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(odd, 0);
}

/// Rows in `events.db`, read while the server runs.
fn stored_events(data: &std::path::Path) -> i64 {
    rusqlite::Connection::open(data.join("events.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM raw_events", [], |r| r.get(0))
        .unwrap()
}

/// A visit from a new player session and browser, as a flood sends them (a session counts
/// its visit once, so each batch holds one).
fn post_visit(server: &Server, i: usize) -> u16 {
    let body = format!(
        r#"{{"session": "flood-session-{i:06}", "title": "site", "events": [{{"kind": "visit", "n": 1}}]}}"#
    );
    match agent()
        .post(&format!("{}/beacon", server.url()))
        .header("User-Agent", &format!("flood/{i}"))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Content-Type", "text/plain")
        .send(&body)
    {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_flood_from_many_sessions_is_stored_only_up_to_the_budget_across_senders() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let started = Instant::now();
    let server = Server::start_with(
        &data,
        Options {
            ingest: "min_free_mb = 0\n".into(),
            tables: "[analytics]\nevents_per_second = 1\nevents_burst = 100\n".into(),
            ..Options::default()
        },
    );
    // From loopback no address's budget applies: only the one across senders does.
    for i in 0..400 {
        assert_eq!(post_visit(&server, i), 204, "beacon {i}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored_events(&data) < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let stored = stored_events(&data);
    // The burst, plus one a second since the server started; never the 400 sent.
    let bound = 100 + started.elapsed().as_secs() as i64 + 1;
    assert!(
        (100..=bound).contains(&stored),
        "{stored} of 400 events stored; the budget allows {bound}"
    );
    assert!(
        server.log().contains("analytics.events_per_second"),
        "the drop is logged: {}",
        server.log()
    );
}

#[test]
fn below_the_disk_floor_beacons_are_answered_but_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with(
        &data,
        Options {
            // More than any disk has free.
            ingest: "min_free_mb = 1000000000000\n".into(),
            ..Options::default()
        },
    );
    for i in 0..3 {
        assert_eq!(post_visit(&server, i), 204, "beacon {i}");
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(stored_events(&data), 0);
    assert!(
        server.log().contains("below ingest.min_free_mb"),
        "the drop is logged: {}",
        server.log()
    );
}
