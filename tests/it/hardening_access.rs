//! Who may watch paid media, against the real server (issue 22, items 4, 14 and 15d):
//! editors without `billing:write` cannot move a title in or out of a priced collection,
//! and what the origin serves on the public path follows every level change at once; a
//! title an editor links to a paid title's media plays it only for those the paid title
//! lets in; progress is kept only for titles the viewer may play; the assets API says why
//! it gives no playback URL.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::accounts::{created, data_with_ann, signed_in};
use crate::paywall::{csrf_meta, first_code};
use crate::stripe::member_id;
use crate::support::{Options, Server, drop_into, key_with, make_clip};

/// The status of a GET of `path` without a cookie (the origin's public path).
fn public_status(server: &Server, path: &str) -> u16 {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("{}{path}", server.url()))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

/// Sets `title`'s access level (`{"level": …}`) as the owner.
fn set_title_level(server: &Server, title: &str, level: serde_json::Value) {
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/titles/{title}/access"),
        Some(level),
    );
    assert_eq!(status, 200, "{body}");
}

/// A new series named `name`, made by the owner; its id.
fn new_series(server: &Server, name: &str) -> String {
    let (status, series) = server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "series", "name": name, "synopsis": "s"})),
    );
    assert_eq!(status, 201, "{series}");
    series["id"].as_str().unwrap().to_owned()
}

/// A refusal (403) that names `billing:write` as what is missing.
fn refused_for_billing((status, refused): (u16, serde_json::Value)) {
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("billing:write"),
        "{refused}"
    );
}

/// An editor (`key`, and signed in as `ed`) cannot add `title` to the empty `collection`,
/// through the API or the dashboard: it stays empty.
fn editor_cannot_add(
    server: &Server,
    key: &str,
    ed: &mut crate::accounts::Browser,
    collection: &str,
    title: &str,
) {
    refused_for_billing(server.call_as(
        key,
        "PATCH",
        &format!("/api/v1/collections/{collection}"),
        json!({"titles": [title]}),
    ));
    let csrf = ed.get(&format!("/admin/collections/{collection}")).csrf();
    let page = ed.post(
        &format!("/admin/collections/{collection}/items"),
        &[("csrf", &csrf), ("action", "add"), ("title", title)],
    );
    assert_eq!(page.status, 403, "{}", page.body);
    let (_, view) = server.get(&format!("/api/v1/collections/{collection}"));
    assert_eq!(view["titles"], json!([]), "{view}");
}

/// `key` (an editor's, without `billing:write`) can neither unlink `movie`'s media nor
/// delete it through the API: both refused, the first saying what it needs.
fn editor_cannot_unlink_or_delete(server: &Server, key: &str, movie: &str) {
    refused_for_billing(server.call_as(
        key,
        "PATCH",
        &format!("/api/v1/titles/{movie}"),
        json!({"asset_id": ""}),
    ));
    let (status, refused) =
        server.call_as(key, "DELETE", &format!("/api/v1/titles/{movie}"), json!({}));
    assert_eq!(status, 403, "{refused}");
}

/// Drops a short clip named `name` and waits for its asset (a published movie of the same
/// id plays it).
fn ingest(server: &Server, dir: &Path, name: &str) -> (String, std::path::PathBuf) {
    let clip = dir.join(format!("{name}.mp4"));
    make_clip(&clip, "320x180", 25, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished(name, Duration::from_secs(120));
    let id = asset["id"].as_str().unwrap().to_owned();
    (id, server.package_dir(&asset))
}

/// The first line of a playlist that names a file.
fn first_uri(playlist: &str) -> String {
    playlist
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap()
        .to_owned()
}

/// Waits until the background encryption has swapped the package (AES-128, `key.bin`);
/// then the public paths of its master playlist, key and first video segment.
fn encrypted_paths(server: &Server, id: &str, dir: &Path) -> [String; 3] {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap_or_default();
        if master.contains("evideo_") && dir.join("key.bin").exists() {
            let rendition = master
                .lines()
                .find(|l| l.starts_with("evideo_") && l.ends_with(".m3u8"))
                .unwrap()
                .to_owned();
            let playlist = std::fs::read_to_string(dir.join(&rendition)).unwrap();
            let folder = rendition.rsplit_once('/').unwrap().0;
            let segment = format!("{folder}/{}", first_uri(&playlist));
            return [
                format!("/p/public/{id}/master.m3u8"),
                format!("/p/public/{id}/key.bin"),
                format!("/p/public/{id}/{segment}"),
            ];
        }
        assert!(Instant::now() < deadline, "not encrypted: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subscribers_plan(server: &Server) {
    let (status, plan) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": 7990, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{plan}");
}

#[test]
fn a_priced_collections_titles_change_only_with_billing_write_and_the_origin_follows_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let editor_key = key_with(&data, "catalog:write");
    let server = Server::start_with(&data, Options::default());
    let (id, dir) = ingest(&server, tmp.path(), "festival");
    let master = format!("/p/public/{id}/master.m3u8");
    subscribers_plan(&server);

    // A collection for subscribers, empty; the movie free, and the origin knows it.
    let (status, gold) = server.call("POST", "/api/v1/collections", Some(json!({"name": "Gold"})));
    assert_eq!(status, 201, "{gold}");
    let gold = gold["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/collections/{gold}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": []}})),
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(public_status(&server, &master), 200, "free before");

    // An editor cannot put a title in it (API or dashboard); nothing changes.
    let mut ed = signed_in(&server, "ed@example.com");
    editor_cannot_add(&server, &editor_key, &mut ed, &gold, &id);
    assert_eq!(public_status(&server, &master), 200);

    // The owner adds it: its media is gated at once, then encrypted.
    let (status, view) = server.call(
        "PATCH",
        &format!("/api/v1/collections/{gold}"),
        Some(json!({"titles": [id]})),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        public_status(&server, &master),
        403,
        "gated the moment it joined"
    );
    let paths = encrypted_paths(&server, &id, &dir);
    for path in &paths {
        assert_eq!(public_status(&server, path), 403, "{path}");
    }

    // An editor cannot take it out, nor delete the collection, by either way in.
    let (status, refused) = server.call_as(
        &editor_key,
        "PATCH",
        &format!("/api/v1/collections/{gold}"),
        json!({"titles": []}),
    );
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = server.call_as(
        &editor_key,
        "DELETE",
        &format!("/api/v1/collections/{gold}"),
        json!({}),
    );
    assert_eq!(status, 403, "{refused}");
    // Its dashboard page says so and offers the editor no add, remove or delete.
    let page = ed.get(&format!("/admin/collections/{gold}"));
    assert!(
        page.body.contains("needs the billing permission"),
        "{}",
        page.body
    );
    for control in ["value=\"remove\"", "value=\"add\"", "/delete\""] {
        assert!(!page.body.contains(control), "{control}: {}", page.body);
    }
    let csrf = page.csrf();
    let page = ed.post(
        &format!("/admin/collections/{gold}/items"),
        &[("csrf", &csrf), ("action", "remove"), ("title", &id)],
    );
    assert_eq!(page.status, 403, "{}", page.body);
    let page = ed.post(
        &format!("/admin/collections/{gold}/delete"),
        &[("csrf", &csrf)],
    );
    assert_eq!(page.status, 403, "{}", page.body);
    // Renaming is still an editor's.
    let (status, renamed) = server.call_as(
        &editor_key,
        "PATCH",
        &format!("/api/v1/collections/{gold}"),
        json!({"name": "Gold titles"}),
    );
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["titles"], json!([id]), "{renamed}");
    for path in &paths {
        assert_eq!(public_status(&server, path), 403, "{path}");
    }

    // The owner takes it out: free only now, and at once.
    let (status, view) = server.call(
        "PATCH",
        &format!("/api/v1/collections/{gold}"),
        Some(json!({"titles": []})),
    );
    assert_eq!(status, 200, "{view}");
    for path in &paths {
        assert_eq!(public_status(&server, path), 200, "{path}");
    }
    let (_, audit) = server.get("/api/v1/audit?action=collection.update");
    assert!(audit.to_string().contains(&id), "{audit}");
}

#[test]
fn an_episode_an_editor_links_to_a_paid_movies_media_plays_it_only_for_the_movies_viewers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "reg@example.com", &["--role", "viewer"]);
    created(&data, "sub@example.com", &["--role", "viewer"]);
    let editor_key = key_with(&data, "catalog:write");
    let server = Server::start_with(&data, Options::default());
    let (movie, dir) = ingest(&server, tmp.path(), "premiere");
    subscribers_plan(&server);
    set_title_level(
        &server,
        &movie,
        json!({"level": {"kind": "subscribers", "plans": []}}),
    );
    // A series for any signed-in viewer, as the operator set it.
    let series = new_series(&server, "Open Show");
    set_title_level(&server, &series, json!({"level": {"kind": "registered"}}));

    // The editor makes an episode of it that plays the movie's media, and publishes.
    let (status, episode) = server.call_as(
        &editor_key,
        "POST",
        "/api/v1/titles",
        json!({"kind": "episode", "series_id": series, "season": 1, "episode": 1,
               "name": "Pilot", "asset_id": movie}),
    );
    assert_eq!(status, 201, "{episode}");
    let episode = episode["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call_as(
        &editor_key,
        "POST",
        &format!("/api/v1/titles/{series}/publish"),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["episodes_published"], json!([episode]), "{body}");
    let paths = encrypted_paths(&server, &movie, &dir);

    // A signed-in viewer without a plan: the paywall, no pass, and the origin refuses.
    let mut reg = signed_in(&server, "reg@example.com");
    let page = reg.get(&format!("/watch/{episode}"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("data-src=\""), "{}", page.body);
    assert!(
        page.body.contains("This title is for subscribers."),
        "{}",
        page.body
    );
    let csrf = csrf_meta(&page.body);
    let pass = reg.post_json(&format!("/watch/{episode}/pass"), &csrf, "");
    assert_eq!(pass.status, 403, "{}", pass.body);
    for path in &paths {
        assert_eq!(public_status(&server, path), 403, "{path}");
    }
    let reg_id = member_id(&server, "reg@example.com");
    let (_, why) = server.get(&format!("/api/v1/members/{reg_id}/access/{episode}"));
    assert_eq!(why["decision"]["reason"]["code"], "no_plan", "{why}");

    // A subscriber plays it, under a token.
    let sub_id = member_id(&server, "sub@example.com");
    let (status, body) = server.call(
        "POST",
        &format!("/api/v1/members/{sub_id}/grants"),
        Some(json!({"plan": "club", "note": "press"})),
    );
    assert_eq!(status, 201, "{body}");
    let mut sub = signed_in(&server, "sub@example.com");
    let page = sub.get(&format!("/watch/{episode}"));
    let at = page.body.find("data-src=\"").expect("the player") + "data-src=\"".len();
    let src = page.body[at..at + page.body[at..].find('"').unwrap()].replace("&#x2f;", "/");
    assert!(
        src.starts_with("/p/") && !src.starts_with("/p/public/"),
        "{src}"
    );
    let cookie = sub
        .cookies
        .iter()
        .find(|(k, _)| k.ends_with("marquee_session"))
        .map(|(k, v)| format!("{k}={v}"))
        .unwrap();
    let played = ureq::get(format!("{}{src}", server.url()))
        .header("Cookie", &cookie)
        .call()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(played, 200);

    // Progress: refused, with the reason, for what the viewer may not play; nothing kept.
    for title in [&movie, &episode] {
        for body in [
            r#"{"position": 30, "duration": 60}"#,
            r#"{"position": 60, "duration": 60}"#,
        ] {
            let refused = reg.post_json(&format!("/watch/{title}/progress"), &csrf, body);
            assert_eq!(refused.status, 403, "{}", refused.body);
            assert!(
                refused.body.contains("This title is for subscribers."),
                "{}",
                refused.body
            );
        }
    }
    let kept = |user: i64| -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            data.join("marquee.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row(
            "SELECT count(*) FROM watch_progress WHERE user_id = ?1",
            [user],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(kept(reg_id), 0);
    // The subscriber's is kept.
    let csrf = csrf_meta(&page.body);
    let saved = sub.post_json(
        &format!("/watch/{episode}/progress"),
        &csrf,
        r#"{"position": 30, "duration": 60}"#,
    );
    assert_eq!(saved.status, 204, "{}", saved.body);
    assert_eq!(kept(sub_id), 1);

    // Nor can the editor take the media away from the movie, by unlinking or deleting it.
    editor_cannot_unlink_or_delete(&server, &editor_key, &movie);
    let (_, still) = server.get(&format!("/api/v1/titles/{movie}"));
    assert_eq!(still["asset_id"], movie.as_str(), "{still}");
    let csrf = csrf_meta(&reg.get(&format!("/watch/{episode}")).body);
    let pass = reg.post_json(&format!("/watch/{episode}/pass"), &csrf, "");
    assert_eq!(pass.status, 403, "{}", pass.body);

    // The owner may: then the episode is the media's only title, and plays for Reg.
    let (status, body) = server.call(
        "PATCH",
        &format!("/api/v1/titles/{movie}"),
        Some(json!({"asset_id": ""})),
    );
    assert_eq!(status, 200, "{body}");
    let page = reg.get(&format!("/watch/{episode}"));
    assert!(page.body.contains("data-src=\""), "{}", page.body);
}

#[test]
fn the_assets_api_gives_no_playback_url_where_the_public_path_would_not_play_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let (id, _) = ingest(&server, tmp.path(), "docs");
    let master = format!("/p/public/{id}/master.m3u8");
    let (_, asset) = server.get(&format!("/api/v1/assets/{id}"));
    assert_eq!(asset["playback_url"], master, "{asset}");
    assert!(asset["playback_unavailable"].is_null(), "{asset}");
    // Every URL given answers on the public path.
    let thumbs = asset["thumbnails_url"].as_str().unwrap().to_owned();
    let poster = asset["poster_url"].as_str().unwrap().to_owned();
    for url in [&master, &thumbs, &poster] {
        assert_eq!(public_status(&server, url), 200, "{url}");
    }

    // For subscribers: the public URL would answer 403.
    subscribers_plan(&server);
    set_title_level(
        &server,
        &id,
        json!({"level": {"kind": "subscribers", "plans": []}}),
    );
    assert_eq!(public_status(&server, &master), 403);
    let (_, asset) = server.get(&format!("/api/v1/assets/{id}"));
    assert!(asset["playback_url"].is_null(), "{asset}");
    assert!(
        asset["playback_unavailable"]
            .as_str()
            .unwrap()
            .contains("a paid title plays this media"),
        "{asset}"
    );
    // The trick-play frames are the media's: no URL that would answer 403. The poster is
    // storefront artwork and still answers.
    assert_eq!(public_status(&server, &thumbs), 403);
    assert!(asset["thumbnails_url"].is_null(), "{asset}");
    assert_eq!(asset["poster_url"], poster.as_str(), "{asset}");
    assert_eq!(public_status(&server, &poster), 200);

    // Its title back to a draft: no URL (it would answer 404), and the reason.
    let (status, body) = server.call("POST", &format!("/api/v1/titles/{id}/unpublish"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(public_status(&server, &master), 404);
    assert_eq!(public_status(&server, &poster), 404);
    let (_, asset) = server.get(&format!("/api/v1/assets/{id}"));
    assert!(asset["playback_url"].is_null(), "{asset}");
    assert!(asset["thumbnails_url"].is_null(), "{asset}");
    assert!(asset["poster_url"].is_null(), "{asset}");
    let why = asset["playback_unavailable"].as_str().unwrap();
    assert!(
        why.contains("docs") && why.ends_with("is a draft"),
        "{asset}"
    );
    let (_, list) = server.get("/api/v1/assets");
    assert!(list["items"][0]["playback_url"].is_null(), "{list}");
    assert!(
        list["items"][0]["playback_unavailable"]
            .as_str()
            .unwrap()
            .contains("draft"),
        "{list}"
    );

    // Documented in the OpenAPI description.
    let (_, doc) = crate::support::get_with(&format!("{}/api/v1/openapi.json", server.url()), None);
    let props = &doc["components"]["schemas"]["AssetView"]["properties"];
    assert!(props["playback_unavailable"].is_object(), "{props}");
    let said = props["thumbnails_url"].to_string();
    assert!(said.contains("playback_unavailable"), "{props}");
}

/// The hidden fields of the first form on `body` whose button says `button`, unescaped as a
/// browser sends them.
fn hidden_fields(body: &str, button: &str) -> Vec<(String, String)> {
    let at = body
        .find(button)
        .unwrap_or_else(|| panic!("no {button:?} in {body}"));
    let form = &body[body[..at].rfind("<form").unwrap()..at];
    let unescape = |v: &str| {
        v.replace("&#x2f;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let from = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                unescape(&input[from..from + input[from..].find('"').unwrap()])
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// Sends a watch page's checkout form (its hidden fields and `extra`), pays at the Stripe
/// stand-in and comes back the way Checkout sends the viewer back.
fn buy_from(
    b: &mut crate::accounts::Browser,
    stripe: &crate::stripe_standin::Standin,
    fields: Vec<(String, String)>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.extend_from_slice(extra);
    let sent = b.post("/checkout", &form);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let session = crate::stripe::session_of(&sent.location.unwrap());
    let asked = stripe.requests_to("/v1/checkout/sessions").pop().unwrap().1;
    stripe.complete(&session);
    let back = fields.iter().find(|(k, _)| k == "back").unwrap().1.clone();
    let returned = b.get(&format!(
        "/checkout/return?session_id={session}&back={back}"
    ));
    assert_eq!(returned.status, 303, "{}", returned.body);
    assert_eq!(returned.location.as_deref(), Some(back.as_str()));
    asked
}

#[test]
fn a_free_episode_on_a_paid_movies_media_sells_the_movie_and_plays_once_the_viewer_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = crate::stripe_standin::Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    for who in ["cat", "dan", "eve"] {
        created(&data, &format!("{who}@example.com"), &["--role", "viewer"]);
    }
    let server = stripe.server(&data);
    let (movie, _) = ingest(&server, tmp.path(), "kelp");
    let (_, title) = server.get(&format!("/api/v1/titles/{movie}"));
    let name = title["name"].as_str().unwrap().to_owned();
    set_title_level(
        &server,
        &movie,
        json!({"level": {"kind": "purchase",
            "rent": {"amount": 250, "currency": "eur"}, "buy": null}}),
    );
    // A free series whose episode plays the movie's media.
    let series = new_series(&server, "Ocean Diaries");
    let (status, episode) = server.call(
        "POST",
        "/api/v1/titles",
        Some(
            json!({"kind": "episode", "series_id": series, "season": 1, "episode": 1,
               "name": "Under the canopy", "asset_id": movie}),
        ),
    );
    assert_eq!(status, 201, "{episode}");
    let episode = episode["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call("POST", &format!("/api/v1/titles/{series}/publish"), None);
    assert_eq!(status, 200, "{body}");
    let watch = format!("/watch/{episode}");

    // Cat, watching the episode, is told whose access it takes and rents the movie.
    let mut cat = signed_in(&server, "cat@example.com");
    let page = cat.get(&watch);
    assert!(!page.body.contains("data-src=\""), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "This video is part of \u{201c}{name}\u{201d}, which you rent to watch."
        )),
        "{}",
        page.body
    );
    let rent = hidden_fields(&page.body, "Rent for €2.50");
    assert!(rent.contains(&("title".into(), movie.clone())), "{rent:?}");
    assert!(rent.contains(&("back".into(), watch.clone())), "{rent:?}");
    let asked = buy_from(&mut cat, &stripe, rent, &[]);
    assert!(
        asked.contains(&(
            "line_items[0][price_data][unit_amount]".into(),
            "250".into()
        )),
        "{asked:?}"
    );
    let page = cat.get(&watch);
    assert!(
        page.body.contains("data-src=\"&#x2f;p&#x2f;"),
        "{}",
        page.body
    );
    let cat_id = member_id(&server, "cat@example.com");
    let (_, why) = server.get(&format!("/api/v1/members/{cat_id}/access/{episode}"));
    assert_eq!(why["decision"]["basis"]["kind"], "rental", "{why}");

    // Dan redeems a code for the movie from the episode's page, and plays the episode.
    let (status, batch) = server.call(
        "POST",
        "/api/v1/code-batches",
        Some(json!({"name": "Press", "title": movie, "count": 1})),
    );
    assert_eq!(status, 201, "{batch}");
    let code = first_code(&server, &batch);
    let mut dan = signed_in(&server, "dan@example.com");
    let page = dan.get(&watch);
    let mut redeem = hidden_fields(&page.body, "Redeem</button>");
    assert!(
        redeem.contains(&("next".into(), watch.clone())),
        "{redeem:?}"
    );
    redeem.push(("code".into(), code));
    let form: Vec<(&str, &str)> = redeem
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = dan.post("/redeem", &form);
    assert_eq!(done.location.as_deref(), Some(watch.as_str()));
    assert!(dan.get(&watch).body.contains("data-src=\""));

    // For subscribers instead: Eve subscribes from the episode's page, and plays it.
    subscribers_plan(&server);
    set_title_level(
        &server,
        &movie,
        json!({"level": {"kind": "subscribers", "plans": []}}),
    );
    let mut eve = signed_in(&server, "eve@example.com");
    let page = eve.get(&watch);
    assert!(
        page.body.contains(&format!(
            "This video is part of \u{201c}{name}\u{201d}, which subscribers watch."
        )),
        "{}",
        page.body
    );
    let plan = hidden_fields(&page.body, "Subscribe, billed monthly");
    assert!(plan.contains(&("plan".into(), "club".into())), "{plan:?}");
    buy_from(&mut eve, &stripe, plan, &[("interval", "month")]);
    assert!(eve.get(&watch).body.contains("data-src=\""));
}

#[test]
fn an_editor_cannot_free_a_priced_collections_title_through_an_older_one_whose_level_is_public() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let editor_key = key_with(&data, "catalog:write");
    let server = Server::start_with(&data, Options::default());
    let (id, _) = ingest(&server, tmp.path(), "gala");
    let master = format!("/p/public/{id}/master.m3u8");
    subscribers_plan(&server);
    // "Free picks", explicitly free, made before "Gold", for subscribers, which holds the
    // movie. A title's level from collections is the oldest one's.
    let mut collections = Vec::new();
    for (name, level) in [
        ("Free picks", json!({"kind": "public"})),
        ("Gold", json!({"kind": "subscribers", "plans": []})),
    ] {
        let (status, made) =
            server.call("POST", "/api/v1/collections", Some(json!({"name": name})));
        assert_eq!(status, 201, "{made}");
        let made = made["id"].as_str().unwrap().to_owned();
        let (status, body) = server.call(
            "PUT",
            &format!("/api/v1/collections/{made}/access"),
            Some(json!({ "level": level })),
        );
        assert_eq!(status, 204, "{body}");
        collections.push(made);
        // Made in different seconds, so which is older is not left to their ids.
        let second = crate::support::unix_now();
        while crate::support::unix_now() == second {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let [free, gold] = [collections[0].clone(), collections[1].clone()];
    let (status, view) = server.call(
        "PATCH",
        &format!("/api/v1/collections/{gold}"),
        Some(json!({"titles": [id]})),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(public_status(&server, &master), 403, "gated by Gold");

    // An editor putting it in "Free picks" too would give the media away: refused, by
    // either way in, and nothing changes.
    let mut ed = signed_in(&server, "ed@example.com");
    let page = ed.get(&format!("/admin/collections/{free}"));
    assert!(!page.body.contains("value=\"add\""), "{}", page.body);
    editor_cannot_add(&server, &editor_key, &mut ed, &free, &id);
    assert_eq!(public_status(&server, &master), 403);

    // The owner may: then it is free, as the owner chose.
    let (status, view) = server.call(
        "PATCH",
        &format!("/api/v1/collections/{free}"),
        Some(json!({"titles": [id]})),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(public_status(&server, &master), 200);
}

#[test]
fn an_editor_cannot_launder_a_paid_titles_media_by_unlinking_it_and_linking_it_to_a_free_title() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let editor_key = key_with(&data, "catalog:write");
    let server = Server::start_with(&data, Options::default());
    let (movie, _) = ingest(&server, tmp.path(), "vault");
    let master = format!("/p/public/{movie}/master.m3u8");
    subscribers_plan(&server);
    set_title_level(
        &server,
        &movie,
        json!({"level": {"kind": "subscribers", "plans": []}}),
    );
    assert_eq!(public_status(&server, &master), 403);

    // The movie alone plays the media. Taking it away would leave it free for the next
    // title to link: refused, by unlinking or deleting, API or dashboard.
    editor_cannot_unlink_or_delete(&server, &editor_key, &movie);
    let mut ed = signed_in(&server, "ed@example.com");
    let csrf = ed.get(&format!("/admin/titles/{movie}")).csrf();
    let page = ed.post(&format!("/admin/titles/{movie}/delete"), &[("csrf", &csrf)]);
    assert_eq!(page.status, 403, "{}", page.body);
    let (_, still) = server.get(&format!("/api/v1/titles/{movie}"));
    assert_eq!(still["asset_id"], movie.as_str(), "{still}");

    // So a free title the editor links to it plays it only for subscribers.
    let (status, copy) = server.call_as(
        &editor_key,
        "POST",
        "/api/v1/titles",
        json!({"kind": "movie", "name": "Free copy", "synopsis": "s", "asset_id": movie}),
    );
    assert_eq!(status, 201, "{copy}");
    let copy = copy["id"].as_str().unwrap().to_owned();
    let (status, body) = server.call_as(
        &editor_key,
        "POST",
        &format!("/api/v1/titles/{copy}/publish"),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(public_status(&server, &master), 403);

    // The owner may take the media away: then it is the free title's.
    let (status, body) = server.call(
        "PATCH",
        &format!("/api/v1/titles/{movie}"),
        Some(json!({"asset_id": ""})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(public_status(&server, &master), 200);
}
