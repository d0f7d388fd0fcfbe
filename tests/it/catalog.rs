//! The catalog against the real server: a series dropped as files with `name.json`
//! sidecars, the readiness gate, publishing and unpublishing everywhere at once (pages,
//! search, sitemap, API, origin), scheduled windows on an injected clock, hostile search
//! input, rails that go live without a restart, and markup in titles kept inert.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::support::{Options, Server, drop_into, has_test_hooks, make_clip};

const SCRIPT: &str = "<script>alert(1)</script>";

fn catalog_server(data: &Path, clock: &Path) -> Server {
    std::fs::write(clock, "0").unwrap();
    Server::start_with(
        data,
        Options {
            draft_titles: true,
            env: vec![(
                "MARQUEE_TEST_CLOCK_FILE".into(),
                clock.display().to_string(),
            )],
            ..Options::default()
        },
    )
}

/// Drops a clip with its `name.json` and waits for the asset. `stem` is a plain word (it is
/// the asset's name); `secs` tells clips apart (the same content would be a duplicate).
fn drop_with_sidecar(server: &Server, tmp: &Path, stem: &str, secs: f64, sidecar: Value) -> String {
    let clip = tmp.join(format!("{stem}.mp4"));
    make_clip(&clip, "320x180", 25, secs, true);
    let json = tmp.join(format!("{stem}.json"));
    std::fs::write(&json, sidecar.to_string()).unwrap();
    drop_into(&server.inbox(), &json);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished(stem, Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    asset["id"].as_str().unwrap().to_owned()
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
}

fn series_named(server: &Server, name: &str) -> Value {
    let (status, list) = server.call("GET", "/api/v1/titles?kind=series", None);
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no series {name}: {list}"))
}

/// Whether a viewer reaches the title anywhere: home, its page, search, sitemap, origin.
struct Seen {
    home: bool,
    page: bool,
    search: bool,
    sitemap: bool,
    origin: bool,
}

fn seen(server: &Server, title_id: &str, query: &str, asset_id: &str) -> Seen {
    let (_, home) = server.page("/");
    let (page, _) = server.page(&format!("/title/{title_id}"));
    let (_, search) = server.page(&format!("/search?q={query}"));
    let (_, sitemap) = server.page("/sitemap.xml");
    let (origin, _) = server.page(&format!("/p/public/{asset_id}/master.m3u8"));
    let link = format!("/title/{title_id}");
    Seen {
        home: unescape(&home).contains(&link),
        page: page == 200,
        search: unescape(&search).contains(&link),
        sitemap: sitemap.contains(&link),
        origin: origin == 200,
    }
}

#[test]
fn a_series_dropped_with_sidecars_is_published_behind_the_gate_and_unpublished_everywhere_at_once()
{
    let tmp = tempfile::tempdir().unwrap();
    let server = catalog_server(&tmp.path().join("data"), &tmp.path().join("clock"));
    // Episode 2 arrives first; both land in season 1 of one series, in order.
    let second = drop_with_sidecar(
        &server,
        tmp.path(),
        "stormy",
        2.5,
        json!({"title": "The Storm", "series": "Harbour Lights", "season": 1, "episode": 2,
               "genres": ["Drama"], "synopsis": "A storm comes."}),
    );
    let first = drop_with_sidecar(
        &server,
        tmp.path(),
        "arrival",
        2.0,
        json!({"title": "Arrival", "series": "Harbour Lights", "season": 1, "episode": 1}),
    );
    let series = series_named(&server, "Harbour Lights");
    let id = series["id"].as_str().unwrap().to_owned();
    let (_, detail) = server.call("GET", &format!("/api/v1/titles/{id}"), None);
    let episodes: Vec<(i64, i64, &str, &str)> = detail["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["season_number"].as_i64().unwrap(),
                c["episode_number"].as_i64().unwrap(),
                c["name"].as_str().unwrap(),
                c["asset_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        episodes,
        vec![
            (1, 1, "Arrival", first.as_str()),
            (1, 2, "The Storm", second.as_str())
        ]
    );
    assert_eq!(detail["status"], "draft");
    let episode_ids: Vec<String> = detail["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    // Drafts reach no viewer.
    let before = seen(&server, &id, "harb", &first);
    assert!(!before.home && !before.page && !before.search && !before.sitemap && !before.origin);

    // The gate names what is missing and changes nothing.
    let (status, refused) = server.call("POST", &format!("/api/v1/titles/{id}/publish"), None);
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a synopsis"),
        "{refused}"
    );
    let (_, still) = server.call("GET", &format!("/api/v1/titles/{id}"), None);
    assert_eq!(still["status"], "draft");
    assert_eq!(still["missing"], json!(["a synopsis"]));

    let synopsis = format!("Lights on the harbour {SCRIPT}");
    let (status, _) = server.call(
        "PATCH",
        &format!("/api/v1/titles/{id}"),
        Some(json!({"synopsis": synopsis, "name": format!("Harbour Lights {SCRIPT}")})),
    );
    assert_eq!(status, 200);
    let (status, published) = server.call("POST", &format!("/api/v1/titles/{id}/publish"), None);
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["live"], true);
    assert_eq!(published["episodes_published"].as_array().unwrap().len(), 2);

    let now = seen(&server, &id, "harb", &first);
    assert!(now.home && now.page && now.search && now.sitemap && now.origin);
    // Markup in the name and synopsis is text on every page and in the OpenGraph tags.
    for path in [
        "/".to_string(),
        format!("/title/{id}"),
        "/search?q=harbour".into(),
        format!("/watch/{}", episode_ids[0]),
    ] {
        let (status, html) = server.page(&path);
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(SCRIPT), "{path}: {html}");
    }
    let (_, page) = server.page(&format!("/title/{id}"));
    assert!(
        page.contains("<meta property=\"og:title\" content=\"Harbour Lights &lt;script&gt;"),
        "{page}"
    );
    for episode in &episode_ids {
        assert!(unescape(&page).contains(&format!("/watch/{episode}")));
    }
    let (_, watch) = server.page(&format!("/watch/{}", episode_ids[1]));
    assert!(watch.contains("The Storm"), "{watch}");
    // An asset's own id (links from before the catalog) leads to the title that plays it.
    let (status, _) = server.page(&format!("/watch/{second}"));
    assert_eq!(status, 301);

    // A trailer for the series plays episode 1's media. With episode 1 down the series is
    // live through episode 2, and so is the trailer; with episode 2 down too, nothing of
    // the series is, and the origin stops serving the trailer's media at once.
    let (status, trailer) = server.call(
        "POST",
        "/api/v1/titles",
        Some(
            json!({"kind": "extra", "parent_id": id, "extra_kind": "trailer",
                    "name": "Trailer", "asset_id": first}),
        ),
    );
    assert_eq!(status, 201, "{trailer}");
    let trailer = trailer["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call("POST", &format!("/api/v1/titles/{trailer}/publish"), None);
    assert_eq!(status, 200, "{body}");
    let master = format!("/p/public/{first}/master.m3u8");
    let episode = |n: usize, action: &str| {
        let path = format!("/api/v1/titles/{}/{action}", episode_ids[n]);
        assert_eq!(server.call("POST", &path, None).0, 200);
    };
    episode(0, "unpublish");
    assert_eq!(server.page(&master).0, 200, "the trailer is live");
    episode(1, "unpublish");
    assert_eq!(
        server.page(&master).0,
        404,
        "served after the series went dark"
    );
    episode(0, "publish");
    episode(1, "publish");

    // Unpublish: gone everywhere at once, including the origin's memory of the media.
    let (status, _) = server.call("POST", &format!("/api/v1/titles/{id}/unpublish"), None);
    assert_eq!(status, 200);
    let after = seen(&server, &id, "harb", &first);
    assert!(
        !after.home && !after.page && !after.search && !after.sitemap && !after.origin,
        "still seen after unpublishing"
    );
    let (status, _) = server.page(&format!("/watch/{}", episode_ids[1]));
    assert_eq!(status, 404);
}

#[test]
fn scheduled_titles_appear_and_expire_with_the_clock_and_deleted_media_hides_them() {
    if !has_test_hooks() {
        return; // the injected clock is a debug build's hook
    }
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    let server = catalog_server(&tmp.path().join("data"), &clock);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let asset = drop_with_sidecar(
        &server,
        tmp.path(),
        "premiere",
        2.0,
        json!({"title": "Premiere Night", "synopsis": "Opening.", "genres": ["Gala Premieres"],
               "publish_at": start + 3600}),
    );
    // The sidecar's publish time publishes it, scheduled: nobody sees it yet.
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{asset}"), None);
    assert_eq!(title["status"], "published", "{title}");
    assert_eq!(title["live"], false);
    let (status, _) = server.call(
        "PATCH",
        &format!("/api/v1/titles/{asset}"),
        Some(json!({"expire_at": start + 7200})),
    );
    assert_eq!(status, 200);
    let hidden = seen(&server, &asset, "premi", &asset);
    assert!(!hidden.home && !hidden.page && !hidden.search && !hidden.origin);
    // Its genre, which no live title has yet, is not announced either.
    assert_eq!(server.page("/genre/gala-premieres").0, 404);

    std::fs::write(&clock, "3700").unwrap();
    std::thread::sleep(Duration::from_millis(2100)); // the origin's "not ready" memory
    let open = seen(&server, &asset, "premi", &asset);
    assert!(open.home && open.page && open.search && open.sitemap && open.origin);
    assert_eq!(server.page("/genre/gala-premieres").0, 200);

    std::fs::write(&clock, "7300").unwrap();
    let closed = seen(&server, &asset, "premi", &asset);
    assert!(
        !closed.home && !closed.page && !closed.search && !closed.sitemap && !closed.origin,
        "seen after expiry"
    );

    // Back inside the window, then the media is deleted: hidden, and the editor is told.
    std::fs::write(&clock, "3700").unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    assert!(seen(&server, &asset, "premi", &asset).page);
    let (status, _) = server.call("DELETE", &format!("/api/v1/assets/{asset}"), None);
    assert_eq!(status, 200);
    assert!(!seen(&server, &asset, "premi", &asset).page);
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{asset}"), None);
    assert_eq!(title["media"], "missing", "{title}");
    assert!(
        title["missing"][0]
            .as_str()
            .unwrap()
            .contains("was deleted"),
        "{title}"
    );
}

#[test]
fn search_and_rails_take_hostile_input_and_go_live_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "vic@example.com", &["--role", "viewer"]);
    let server = Server::start(&data, "");
    // Published as soon as ready (the test servers' setting).
    let amelie = drop_with_sidecar(
        &server,
        tmp.path(),
        "amelie",
        2.0,
        json!({"title": "Amélie", "synopsis": "A waitress in Montmartre.", "genres": ["Comedy"]}),
    );
    let other = drop_with_sidecar(
        &server,
        tmp.path(),
        "other",
        2.5,
        json!({"title": format!("Other {SCRIPT}"), "synopsis": "Amelie's cousin.",
               "tags": ["paris"],
               "people": [{"name": "Zoë Laurent", "character": "Cousine"},
                          {"name": "Tomas Ek", "role": "director"}]}),
    );
    // Accents folded, prefixes match, the name outranks the synopsis.
    let (_, found) = server.page("/search?q=Amel&partial=1");
    let found = unescape(&found);
    let (a, o) = (
        found
            .find(&format!("/watch/{amelie}"))
            .or(found.find(&format!("/title/{amelie}"))),
        found.find(&format!("/title/{other}")),
    );
    assert!(a.is_some() && o.is_some() && a < o, "{found}");
    let (_, api) = server.call("GET", "/api/v1/titles?q=amelie", None);
    assert_eq!(api["items"][0]["id"], amelie.as_str(), "{api}");

    // Cast and crew: from the sidecar, found by search (accents folded), listed on the page
    // as text; edited through the API, with the index in step.
    let (_, detail) = server.call("GET", &format!("/api/v1/titles/{other}"), None);
    assert_eq!(
        detail["people"],
        json!([{"name": "Zoë Laurent", "role": "cast", "character": "Cousine"},
               {"name": "Tomas Ek", "role": "director", "character": ""}]),
        "{detail}"
    );
    let finds = |q: &str, id: &str| {
        unescape(&server.page(&format!("/search?q={q}")).1).contains(&format!("/title/{id}"))
    };
    assert!(finds("zoe", &other) && finds("tomas", &other) && !finds("zoe", &amelie));
    let credit = json!({"people": [{"name": format!("Kid {SCRIPT}"), "character": "Lucien"}]});
    let (status, _) = server.call("PATCH", &format!("/api/v1/titles/{other}"), Some(credit));
    assert_eq!(status, 200);
    let (_, page) = server.page(&format!("/title/{other}"));
    assert!(
        page.contains("Kid &lt;script&gt;") && !page.contains(SCRIPT),
        "{page}"
    );
    assert!(!finds("zoe", &other) && finds("kid", &other));
    let gaffer = json!({"people": [{"name": "Al", "role": "gaffer"}]});
    let (status, _) = server.call("PATCH", &format!("/api/v1/titles/{other}"), Some(gaffer));
    assert_eq!(status, 400);
    let (_, detail) = server.call("GET", &format!("/api/v1/titles/{other}"), None);
    assert_eq!(detail["people"][0]["character"], "Lucien", "{detail}");
    for hostile in [
        "%27%20OR%201%3D1%20--",
        "NEAR(",
        "%22",
        "%22%22%22",
        "a%22%20OR%20%22b",
        "*",
        "%00",
        "%E2%80%AE",
    ] {
        let (status, html) = server.page(&format!("/search?q={hostile}"));
        assert_eq!(status, 200, "{hostile}: {html}");
        let (status, body) = server.call("GET", &format!("/api/v1/titles?q={hostile}"), None);
        assert_eq!(status, 200, "{hostile}: {body}");
    }

    // A hand-picked rail before "New", named with markup: live on the next page view.
    let (status, rail) = server.call(
        "POST",
        "/api/v1/rails",
        Some(
            json!({"kind": "manual", "name": format!("Picks {SCRIPT}"), "titles": [other, amelie]}),
        ),
    );
    assert_eq!(status, 201, "{rail}");
    let (_, rails) = server.call("GET", "/api/v1/rails", None);
    let ids: Vec<i64> = rails
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let picks = rail["id"].as_i64().unwrap();
    let (status, _) = server.call(
        "POST",
        "/api/v1/rails/order",
        Some(json!({"ids": [picks, ids[0]]})),
    );
    assert_eq!(status, 200);
    let (_, home) = server.page("/");
    assert!(!home.contains(SCRIPT), "{home}");
    let picks_at = home
        .find("Picks &lt;script&gt;")
        .expect("the new rail is shown");
    let new_at = home.find(">New<").expect("the New rail is shown");
    assert!(picks_at < new_at, "{home}");
    let (status, _) = server.call(
        "POST",
        "/api/v1/rails/order",
        Some(json!({"ids": [ids[0], picks]})),
    );
    assert_eq!(status, 200);
    let (_, home) = server.page("/");
    assert!(home.find(">New<").unwrap() < home.find("Picks &lt;script&gt;").unwrap());
    // An id that cannot be one is a JSON 404, like any missing rail.
    let (status, body) = server.call(
        "PATCH",
        "/api/v1/rails/99999999999999999999",
        Some(json!({"name": "x"})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    // A wrong order is refused and changes nothing.
    let (status, _) = server.call("POST", "/api/v1/rails/order", Some(json!({"ids": [picks]})));
    assert_eq!(status, 400);
    // Absolute links name the address the request came to; forwarding headers, anyone's
    // to send, are not believed.
    let robots = ureq::get(&format!("{}/robots.txt", server.base))
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "javascript")
        .header("Forwarded", "host=evil2.example;proto=https")
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        robots.contains(&format!("Sitemap: {}/sitemap.xml", server.base))
            && !robots.contains("evil")
            && !robots.contains("javascript"),
        "{robots}"
    );

    // A collection ordered from the dashboard one step at a time (add, add, move up); a
    // step naming a title not in it, or no such step, changes nothing.
    let (status, col) = server.call(
        "POST",
        "/api/v1/collections",
        Some(json!({"name": "Paris"})),
    );
    assert_eq!(status, 201, "{col}");
    let col_id = col["id"].as_str().unwrap().to_owned();
    let mut ann = Browser::new(server.url());
    ann.sign_in("ann@example.com", PASSWORD);
    let items = format!("/admin/collections/{col_id}/items");
    let editing = ann.get(&format!("/admin/collections/{col_id}"));
    assert_eq!(
        editing.body.matches("data-add-pick").count(),
        1,
        "{}",
        editing.body
    );
    let csrf = editing.csrf();
    for (action, title) in [("add", &amelie), ("add", &other), ("up", &other)] {
        let form = [
            ("csrf", csrf.as_str()),
            ("action", action),
            ("title", title.as_str()),
        ];
        assert!(ann.post(&items, &form).status < 400);
    }
    for (action, title) in [("sideways", &other), ("remove", &"nosuchtitle".to_owned())] {
        let form = [
            ("csrf", csrf.as_str()),
            ("action", action),
            ("title", title.as_str()),
        ];
        assert_eq!(ann.post(&items, &form).status, 400);
    }
    let (_, col) = server.call("GET", &format!("/api/v1/collections/{col_id}"), None);
    assert_eq!(col["titles"], json!([other, amelie]), "{col}");
    let (_, page) = server.page(&format!("/collection/{}", col["slug"].as_str().unwrap()));
    let page = unescape(&page);
    let (o, a) = (
        page.find(&format!("/title/{other}")),
        page.find(&format!("/title/{amelie}")),
    );
    assert!(o.is_some() && a.is_some() && o < a, "{page}");
    // Named by its slug, the same collection: a step keeps what is in it.
    let by_slug = format!("/admin/collections/{}/items", col["slug"].as_str().unwrap());
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "down"),
        ("title", other.as_str()),
    ];
    assert!(ann.post(&by_slug, &form).status < 400);
    let (_, col) = server.call("GET", &format!("/api/v1/collections/{col_id}"), None);
    assert_eq!(col["titles"], json!([amelie, other]), "{col}");

    // The title with markup is JSON text in the API, never HTML.
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{other}"), None);
    assert_eq!(title["name"], format!("Other {SCRIPT}"));

    // "Continue watching": a signed-in viewer's position, saved by the player, shows in its
    // rail and resumes the watch page; signed out, the rail is not there.
    let (status, _) = server.call(
        "POST",
        "/api/v1/rails",
        Some(json!({"kind": "continue_watching", "name": "Continue watching"})),
    );
    assert_eq!(status, 201);
    let mut vic = Browser::new(server.url());
    vic.sign_in("vic@example.com", PASSWORD);
    let watch = vic.get(&format!("/watch/{amelie}"));
    let at = watch
        .body
        .find("<meta name=\"csrf\" content=\"")
        .expect("a csrf meta");
    let rest = &watch.body[at + "<meta name=\"csrf\" content=\"".len()..];
    let csrf = rest[..rest.find('"').unwrap()].to_owned();
    let body = r#"{"position": 30.5, "duration": 100}"#;
    let refused = vic.post_json(&format!("/watch/{amelie}/progress"), "forged", body);
    assert_eq!(refused.status, 403);
    assert!(!vic.get("/").body.contains("Continue watching"));
    let saved = vic.post_json(&format!("/watch/{amelie}/progress"), &csrf, body);
    assert_eq!(saved.status, 204, "{}", saved.body);
    let home = vic.get("/").body;
    let rail = home.find("Continue watching").expect("the rail shows");
    assert!(
        unescape(&home[rail..]).contains(&format!("/title/{amelie}")),
        "{home}"
    );
    assert!(
        vic.get(&format!("/watch/{amelie}"))
            .body
            .contains("data-resume=\"30.5\"")
    );
    // The title page offers to resume, to this viewer only (and no shared cache keeps it).
    let title_page = vic.get(&format!("/title/{amelie}"));
    assert_eq!(title_page.header("cache-control"), Some("no-store"));
    let page = unescape(&title_page.body);
    assert!(
        page.contains(&format!(
            "href=\"/watch/{amelie}?autoplay=1\">Resume from 0:30<"
        )),
        "{page}"
    );
    let (_, page) = server.page(&format!("/title/{amelie}"));
    assert!(
        !page.contains("Resume")
            && unescape(&page).contains(&format!("href=\"/watch/{amelie}?autoplay=1\">Play<")),
        "{page}"
    );
    let (_, signed_out) = server.page("/");
    assert!(!signed_out.contains("Continue watching"));
    // Watched to the end: out of the rail.
    let ended = vic.post_json(
        &format!("/watch/{amelie}/progress"),
        &csrf,
        r#"{"position": 100, "duration": 100}"#,
    );
    assert_eq!(ended.status, 204);
    assert!(!vic.get("/").body.contains("Continue watching"));
    // and the watch page starts from the beginning again.
    assert!(
        !vic.get(&format!("/watch/{amelie}"))
            .body
            .contains("data-resume")
    );
    // A title the viewer cannot watch answers as missing, and nothing is kept.
    let (_, draft) = server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "movie", "name": "Unannounced"})),
    );
    let draft = draft["id"].as_str().unwrap().to_owned();
    let hidden = vic.post_json(&format!("/watch/{draft}/progress"), &csrf, body);
    assert_eq!(hidden.status, 404);
    let nonsense = vic.post_json(
        &format!("/watch/{amelie}/progress"),
        &csrf,
        r#"{"position": -1, "duration": 1e300}"#,
    );
    assert_eq!(nonsense.status, 400);
}

/// `PUT` of raw bytes with the test's key; status and JSON answer.
fn put_bytes(server: &Server, path: &str, bytes: Vec<u8>) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent
        .put(format!("{}{path}", server.url()))
        .header("Authorization", &format!("Bearer {}", server.key))
        .header("Content-Type", "image/png")
        .send(&bytes[..])
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

#[test]
fn artwork_is_cropped_resized_and_served_publicly_and_bad_files_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let movie = drop_with_sidecar(
        &server,
        tmp.path(),
        "lighthouse",
        2.0,
        json!({"title": "Lighthouse", "synopsis": "A keeper."}),
    );
    let art = tmp.path().join("wide.png");
    crate::support::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=3000x1200",
        "-frames:v",
        "1",
        art.to_str().unwrap(),
    ]);
    let path = format!("/api/v1/titles/{movie}/artwork/backdrop");
    let (status, title) = put_bytes(&server, &path, std::fs::read(&art).unwrap());
    assert_eq!(status, 200, "{title}");
    let url = title["artwork"]["backdrop"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/img/") && url.ends_with("/1920.jpg"),
        "{url}"
    );

    // Public, no key, cached for good, cropped to 16:9 from the middle.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent.get(format!("{}{url}", server.url())).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bytes = resp.body_mut().read_to_vec().unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1920, 1080));
    let (_, home) = server.page("/");
    let home = unescape(&home);
    assert!(home.contains(&url.replace("1920", "640")), "{home}");
    assert!(home.contains("1280.jpg 1280w"), "{home}");

    // Not an image, a truncated one, an unknown kind, an unknown title: refused, unchanged.
    for (target, bytes, want) in [
        (path.clone(), b"<svg onload=alert(1)></svg>".to_vec(), 400),
        (
            path.clone(),
            std::fs::read(&art).unwrap()[..200].to_vec(),
            400,
        ),
        (
            format!("/api/v1/titles/{movie}/artwork/banner"),
            std::fs::read(&art).unwrap(),
            400,
        ),
        (
            "/api/v1/titles/nosuchtitle/artwork/poster".to_string(),
            std::fs::read(&art).unwrap(),
            404,
        ),
    ] {
        let (status, body) = put_bytes(&server, &target, bytes);
        assert_eq!(status, want, "{target}: {body}");
    }
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{movie}"), None);
    assert_eq!(title["artwork"]["backdrop"], url.as_str());
    for probe in [
        "/img/..%2F..%2Fmarquee.db/1.jpg",
        "/img/0123456789abcdef0123/..%2F..%2F..%2Fmarquee.db",
    ] {
        assert_eq!(server.page(probe).0, 404, "{probe}");
    }
    // Removed: pages fall back to a frame of the video.
    let (status, _) = server.call("DELETE", &path, None);
    assert_eq!(status, 200);
    let (_, home) = server.page("/");
    assert!(!unescape(&home).contains("/img/"), "{home}");
}
