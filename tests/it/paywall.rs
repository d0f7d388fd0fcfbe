//! The paywall against the real server: premium media reaches no one without a token the
//! entitlement engine allowed, on either origin path; a plan, an access code and a comp
//! open it; a revoked grant stops the next renewal; clearing the level frees it at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::support::{Options, Server, drop_into, first_video_segment, has_test_hooks, make_clip};

/// Sends `before` (whole requests, or nothing) and then a GET of `path` on a fresh
/// plain-HTTP connection; everything the server answered.
fn exchange(server: &Server, before: &str, path: &str, cookie: Option<&str>) -> Vec<u8> {
    let addr = server.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        stream,
        "{before}GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    raw
}

/// One request on a fresh plain-HTTP connection (the sendfile path answers those):
/// (status, headers, body).
fn fetch(server: &Server, path: &str, cookie: Option<&str>) -> (u16, String, Vec<u8>) {
    let raw = exchange(server, "", path, cookie);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16)
            .unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + len]);
        raw = &raw[line_end + 2 + len + 2..];
    }
}

/// The same request on a connection that asked for a page first: actix-web answers.
fn fetch_warm(server: &Server, path: &str, cookie: Option<&str>) -> (u16, String) {
    let raw = exchange(
        server,
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        path,
        cookie,
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    // The second answer's head.
    let second = text.match_indices("HTTP/1.1 ").nth(1).unwrap().0;
    let head = text[second..].split("\r\n\r\n").next().unwrap().to_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn session_cookie(b: &Browser) -> String {
    let (name, value) = b
        .cookies
        .iter()
        .find(|(k, _)| k.ends_with("marquee_session"))
        .unwrap();
    format!("{name}={value}")
}

fn member_id(server: &Server, email: &str) -> i64 {
    let (_, page) = server.call("GET", &format!("/api/v1/members?q={email}"), None);
    page["items"][0]["id"].as_i64().unwrap()
}

/// `data-src="…"` of the watch page, or None when it shows the paywall.
fn player_src(body: &str) -> Option<String> {
    let at = body.find("data-src=\"")? + "data-src=\"".len();
    Some(unescape(&body[at..at + body[at..].find('"').unwrap()]))
}

/// What minijinja escapes in attribute values here.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&amp;", "&")
}

fn form<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A code batch's codes as the CSV the API gives (a header line, then one code a line).
pub(crate) fn codes_csv(server: &Server, batch: &Value) -> String {
    ureq::get(format!(
        "{}/api/v1/code-batches/{}/codes",
        server.url(),
        batch["id"]
    ))
    .header("Authorization", format!("Bearer {}", server.key))
    .call()
    .unwrap()
    .body_mut()
    .read_to_string()
    .unwrap()
}

/// The first code of a batch.
pub(crate) fn first_code(server: &Server, batch: &Value) -> String {
    let csv = codes_csv(server, batch);
    csv.lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned()
}

/// The CSRF token a watch page gives its scripts.
pub(crate) fn csrf_meta(body: &str) -> String {
    let at = body.find("name=\"csrf\" content=\"").unwrap() + "name=\"csrf\" content=\"".len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

#[test]
fn premium_media_plays_only_under_a_token_the_engine_allowed_for_that_viewer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "cat@example.com", &["--role", "viewer"]);
    let server = Server::start_with(&data, Options::default());
    let clip = tmp.path().join("premium.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("premium", Duration::from_secs(120));
    let id = asset["id"].as_str().unwrap().to_owned();
    let dir = server.package_dir(&asset);
    let (_, clear_file) = first_video_segment(&server, &asset);
    let clear_bytes = std::fs::read(&clear_file).unwrap();
    let public = format!("/p/public/{id}/master.m3u8");
    assert_eq!(
        fetch(&server, &public, None).0,
        200,
        "free until a level is set"
    );

    // A plan, and the title for subscribers only.
    let (status, plan) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": 7990, "trial_days": 7, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["id"], "club");
    let (status, level) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": []}})),
    );
    assert_eq!(status, 200, "{level}");
    assert_eq!(level["owner"], id.as_str());
    let (status, refused) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "purchase", "rent": null, "buy": null}})),
    );
    assert_eq!(status, 400, "{refused}");

    // The package is encrypted in the background: AES-128 renditions in new folders, the
    // clear ones gone, and the Debian ffmpeg program decodes it with the key it names.
    let encrypted = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("master.m3u8")).is_ok_and(|m| m.contains("evideo_"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !encrypted(&dir) || clear_file.parent().is_none_or(|f| f.exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "not encrypted: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read(dir.join("key.bin")).unwrap().len(), 16);
    let rendition = format!(
        "e{}",
        clear_file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    );
    let segment = format!("{rendition}/seg_00000.m4s");
    let segment_bytes = std::fs::read(dir.join(&segment)).unwrap();
    assert_ne!(
        &segment_bytes[4..8],
        b"moof",
        "the segment is not clear fMP4"
    );
    assert_ne!(&segment_bytes[4..8], b"styp");
    assert!(segment_bytes.len() >= clear_bytes.len() && segment_bytes.len().is_multiple_of(16));
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-allowed_extensions", "ALL", "-i"])
        .arg(dir.join(&rendition).join("index.m3u8"))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let master = std::fs::read(dir.join("master.m3u8")).unwrap();
    let public_segment = format!("/p/public/{id}/{segment}");

    // The public path now opens only the poster, on both origin paths.
    for path in [
        public.clone(),
        format!("/p/public/{id}/{rendition}/index.m3u8"),
        public_segment.clone(),
        format!("/p/public/{id}/thumbs.vtt"),
        format!("/p/public/{id}/key.bin"),
    ] {
        assert_eq!(fetch(&server, &path, None).0, 403, "{path}");
        assert_eq!(fetch_warm(&server, &path, None).0, 403, "{path}");
    }
    assert_eq!(
        fetch(&server, &format!("/p/public/{id}/poster.jpg"), None).0,
        200
    );

    // Paid wins: a free title (a movie, a trailer) linking the same media gives nothing away.
    let (status, free) = server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "movie", "name": "Freebie", "asset_id": id, "synopsis": "x"})),
    );
    assert_eq!(status, 201, "{free}");
    let free_id = free["id"].as_str().unwrap().to_owned();
    let (status, trailer) = server.call(
        "POST",
        "/api/v1/titles",
        Some(
            json!({"kind": "extra", "parent_id": id, "extra_kind": "trailer",
                    "name": "Trailer", "asset_id": id, "synopsis": "t"}),
        ),
    );
    assert_eq!(status, 201, "{trailer}");
    for t in [&free_id, trailer["id"].as_str().unwrap()] {
        let (status, body) = server.call("POST", &format!("/api/v1/titles/{t}/publish"), None);
        assert_eq!(status, 200, "{body}");
    }
    for path in [public.clone(), format!("/p/public/{id}/key.bin")] {
        assert_eq!(fetch(&server, &path, None).0, 403, "{path}");
    }
    let mut stranger = Browser::new(server.url());
    let page = stranger.get(&format!("/watch/{free_id}"));
    assert!(player_src(&page.body).is_none(), "{}", page.body);
    assert!(
        page.body.contains("This title is for subscribers."),
        "{}",
        page.body
    );

    // Signed out: the paywall, and no playback URL anywhere in the page.
    let mut anon = Browser::new(server.url());
    let page = anon.get(&format!("/watch/{id}"));
    assert_eq!(page.status, 200);
    assert!(player_src(&page.body).is_none(), "{}", page.body);
    assert!(!page.body.contains("master.m3u8"), "{}", page.body);
    assert!(
        page.body.contains("This title is for subscribers."),
        "{}",
        page.body
    );
    assert!(page.body.contains("&#x2f;login?next="), "{}", page.body);

    // Bob, signed in without a plan: the plans on sale and the code form.
    let mut bob = Browser::new(server.url());
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).status, 303);
    let page = bob.get(&format!("/watch/{id}"));
    assert!(player_src(&page.body).is_none());
    assert!(
        page.body.contains("This title is for subscribers."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Club"), "{}", page.body);
    assert!(
        page.body.contains("€7.99 a month or €79.90 a year"),
        "{}",
        page.body
    );
    assert!(page.body.contains("7 days free"));
    assert!(page.body.contains("action=\"/redeem\""));

    // A batch of three single-use codes for 30 days of the plan, as CSV.
    let (status, batch) = server.call(
        "POST",
        "/api/v1/code-batches",
        Some(json!({"name": "Door sales", "plan": "club", "days": 30, "count": 3})),
    );
    assert_eq!(status, 201, "{batch}");
    let csv = codes_csv(&server, &batch);
    let codes: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(csv.lines().next(), Some("code,uses,max_uses"));
    assert_eq!(codes.len(), 3, "{csv}");

    // Bob types the first code sloppily: the player comes, under a token.
    let csrf = page.csrf();
    let sloppy = codes[0].to_lowercase().replace('-', " ");
    let next = format!("/watch/{id}");
    let done = bob.post(
        "/redeem",
        &[("csrf", &csrf), ("code", &sloppy), ("next", &next)],
    );
    assert_eq!(
        done.location.as_deref(),
        Some(next.as_str()),
        "{}",
        done.body
    );
    let page = bob.get(&format!("/watch/{id}"));
    let src = player_src(&page.body).expect("the player, after redeeming");
    let token = src
        .strip_prefix("/p/")
        .and_then(|r| r.split_once('/'))
        .unwrap()
        .0
        .to_owned();
    assert_ne!(token, "public");
    assert_eq!(src, format!("/p/{token}/{id}/master.m3u8"));
    assert!(page.body.contains("data-pass-expires"));
    assert!(
        page.header("cache-control")
            .is_some_and(|c| c.contains("no-store")),
        "a page with a token is not cached"
    );
    let account = bob.get("/account");
    assert!(
        account.body.contains("Club: yours until"),
        "{}",
        account.body
    );
    assert!(!account.body.contains("Manage billing"), "no Stripe here");
    let bob_cookie = session_cookie(&bob);

    // The token plays for Bob, on both paths, and for nobody else.
    let (status, head, body) = fetch(&server, &src, Some(&bob_cookie));
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, master);
    assert!(
        header(&head, "cache-control")
            .unwrap()
            .starts_with("private"),
        "{head}"
    );
    let (status, head) = fetch_warm(&server, &src, Some(&bob_cookie));
    assert_eq!(status, 200, "{head}");
    if has_test_hooks() {
        assert_eq!(header(&head, "x-marquee-path"), Some("actix"), "{head}");
    }
    let seg = format!("/p/{token}/{id}/{segment}");
    let (status, head, body) = fetch(&server, &seg, Some(&bob_cookie));
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, segment_bytes);
    // The key: only with the token and the session, never cached.
    let key = format!("/p/{token}/{id}/key.bin");
    let (status, head, body) = fetch(&server, &key, Some(&bob_cookie));
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, std::fs::read(dir.join("key.bin")).unwrap());
    assert_eq!(
        header(&head, "cache-control"),
        Some("private, no-store"),
        "{head}"
    );
    assert_eq!(fetch(&server, &key, None).0, 403);
    let mut cat = Browser::new(server.url());
    assert_eq!(cat.sign_in("cat@example.com", PASSWORD).status, 303);
    let cat_cookie = session_cookie(&cat);
    let mut tampered = token.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (what, path, cookie) in [
        ("no cookie", src.clone(), None),
        ("another viewer", src.clone(), Some(cat_cookie.as_str())),
        (
            "a made-up session",
            src.clone(),
            Some("marquee_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        (
            "a changed token",
            format!("/p/{tampered}/{id}/master.m3u8"),
            Some(bob_cookie.as_str()),
        ),
        (
            "another asset",
            format!("/p/{token}/zzzzzzzzzzzz/master.m3u8"),
            Some(bob_cookie.as_str()),
        ),
    ] {
        let (status, head, _) = fetch(&server, &path, cookie);
        assert!(matches!(status, 403 | 404), "{what}: {head}");
        let (status, head) = fetch_warm(&server, &path, cookie);
        assert!(matches!(status, 403 | 404), "{what}: {head}");
    }
    // Support's diagnostic for Bob and this title: the pass the watch page handed out, the
    // requests the origin served under it (both paths), and its refusal of the changed token
    // under his session; nothing of Cat's.
    let bob_id = member_id(&server, "bob@example.com");
    let (_, answer) = server.call(
        "GET",
        &format!("/api/v1/members/{bob_id}/access/{id}"),
        None,
    );
    let recent: Vec<String> = answer["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["source"].as_str().unwrap(),
                d["what"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        recent.iter().any(|l| l.starts_with("pass: a token for ")
            && l.ends_with("on the basis of a comp or an access code")),
        "{recent:?}"
    );
    assert!(
        recent.contains(&"origin: served 4 requests under valid tokens".to_owned()),
        "{recent:?}"
    );
    assert!(
        recent.contains(&"origin: refused master.m3u8: not valid for this media".to_owned()),
        "{recent:?}"
    );
    assert!(
        !recent.iter().any(|l| l.contains("another viewer")),
        "{recent:?}"
    );

    // The same code again, for Cat: one message, and nothing given.
    let page = cat.get(&format!("/watch/{id}"));
    let done = cat.post(
        "/redeem",
        &[("csrf", &page.csrf()), ("code", codes[0]), ("next", &next)],
    );
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{next}?code=invalid").as_str())
    );
    let page = cat.get(&format!("/watch/{id}?code=invalid"));
    assert!(player_src(&page.body).is_none());
    assert!(page.body.contains("That code is not valid."));
    let (_, batches) = server.call("GET", "/api/v1/code-batches", None);
    assert_eq!(batches[0]["redeemed"], 1, "{batches}");

    // The player's renewal: a fresh prefix while the grant lasts.
    let page = bob.get(&format!("/watch/{id}"));
    let renewed = bob.post_json(&format!("/watch/{id}/pass"), &csrf_meta(&page.body), "");
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let pass: Value = serde_json::from_str(&renewed.body).unwrap();
    let prefix = pass["prefix"].as_str().unwrap();
    assert!(
        prefix.starts_with("/p/") && prefix.ends_with(&format!("/{id}/")),
        "{pass}"
    );
    assert_eq!(
        fetch(&server, &format!("{prefix}master.m3u8"), Some(&bob_cookie)).0,
        200
    );

    // Support's view: why Bob can play, then the grant revoked: the renewal is refused.
    let bob_id = member_id(&server, "bob@example.com");
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{bob_id}/access/{id}"),
        None,
    );
    assert_eq!(why["decision"]["result"], "allowed", "{why}");
    assert_eq!(why["decision"]["basis"]["kind"], "grant", "{why}");
    let (_, grants) = server.call("GET", &format!("/api/v1/members/{bob_id}/grants"), None);
    assert_eq!(grants[0]["source"], "code", "{grants}");
    assert_eq!(grants[0]["scope_id"], "club", "{grants}");
    let (status, _) = server.call(
        "DELETE",
        &format!("/api/v1/members/{bob_id}/grants/{}", grants[0]["id"]),
        None,
    );
    assert_eq!(status, 204);
    let renewed = bob.post_json(&format!("/watch/{id}/pass"), &csrf_meta(&page.body), "");
    assert_eq!(renewed.status, 403, "{}", renewed.body);
    assert!(
        renewed.body.contains("This title is for subscribers."),
        "{}",
        renewed.body
    );
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{bob_id}/access/{id}"),
        None,
    );
    assert_eq!(why["decision"]["reason"]["code"], "no_plan", "{why}");
    assert_eq!(why["explanation"], "This title is for subscribers.");

    // A comp of this one title lets Cat in.
    let cat_id = member_id(&server, "cat@example.com");
    let (status, _) = server.call(
        "POST",
        &format!("/api/v1/members/{cat_id}/grants"),
        Some(json!({"title": id, "note": "press"})),
    );
    assert_eq!(status, 201);
    let page = cat.get(&format!("/watch/{id}"));
    let src = player_src(&page.body).expect("the player after a comp");
    assert_eq!(fetch(&server, &src, Some(&cat_cookie)).0, 200);

    // Every change is in the audit log.
    let (_, audit) = server.call("GET", "/api/v1/audit?action=access.level", None);
    assert!(audit.to_string().contains("subscribers"), "{audit}");

    // Clearing the level frees the public path at once.
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": null})),
    );
    assert_eq!(status, 200);
    assert_eq!(fetch(&server, &public, None).0, 200);
    let page = anon.get(&format!("/watch/{id}"));
    assert_eq!(player_src(&page.body), Some(public));
}

#[test]
fn the_operator_runs_the_paywall_from_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "sue@example.com", &["--role", "support"]);
    created(&data, "dan@example.com", &["--role", "viewer"]);
    let server = Server::start_with(&data, Options::default());
    let clip = tmp.path().join("rental.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("rental", Duration::from_secs(120));
    let id = asset["id"].as_str().unwrap().to_owned();

    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let page = ann.get("/admin/paywall");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No plans yet."));
    let csrf = page.csrf();

    // A plan; a price with three decimals is refused and changes nothing.
    let plan = |monthly: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Gold".to_owned()),
            ("currency", "USD".to_owned()),
            ("monthly", monthly.to_owned()),
            ("trial_days", "0".to_owned()),
            ("stream_limit", "1".to_owned()),
            ("public", "on".to_owned()),
        ]
    };
    let bad = plan("4.999");
    let good = plan("4.99");
    assert_eq!(ann.post("/admin/paywall/plans", &form(&bad)).status, 400);
    assert_eq!(ann.post("/admin/paywall/plans", &form(&good)).status, 303);
    let page = ann.get("/admin/paywall");
    assert!(page.body.contains("$4.99 a month"), "{}", page.body);
    let (_, plans) = server.call("GET", "/api/v1/plans", None);
    assert_eq!(plans.as_array().unwrap().len(), 1, "{plans}");

    // The title for rent at 2.50, from its page.
    let page = ann.get(&format!("/admin/titles/{id}"));
    assert!(page.body.contains("Who may watch"), "{}", page.body);
    let done = ann.post(
        &format!("/admin/titles/{id}/access"),
        &[
            ("csrf", &csrf),
            ("kind", "purchase"),
            ("currency", "usd"),
            ("rent", "2.5"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, level) = server.call("GET", &format!("/api/v1/titles/{id}/access"), None);
    assert_eq!(level["level"]["rent"]["amount"], 250, "{level}");
    assert_eq!(level["level"]["buy"], Value::Null, "{level}");

    // Two codes for this title, as CSV from the dashboard.
    let done = ann.post(
        "/admin/paywall/codes",
        &[
            ("csrf", &csrf),
            ("name", "Gifts"),
            ("grants", "title:"),
            ("title", &id),
            ("count", "2"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, batches) = server.call("GET", "/api/v1/code-batches", None);
    let csv = ann.get(&format!("/admin/paywall/codes/{}/csv", batches[0]["id"]));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let codes: Vec<String> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 2, "{}", csv.body);

    // Bob sees the rental price, redeems a code, and plays.
    let mut bob = Browser::new(server.url());
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).status, 303);
    let page = bob.get(&format!("/watch/{id}"));
    assert!(
        page.body.contains("Rent or buy this title to watch it."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Rent for $2.50"), "{}", page.body);
    let next = format!("/watch/{id}");
    bob.post(
        "/redeem",
        &[("csrf", &page.csrf()), ("code", &codes[1]), ("next", &next)],
    );
    assert!(player_src(&bob.get(&next).body).is_some());

    // Support reads why; the owner ends the grant; support reads why again.
    let bob_id = member_id(&server, "bob@example.com");
    let mut sue = Browser::new(server.url());
    assert_eq!(sue.sign_in("sue@example.com", PASSWORD).status, 303);
    let why = sue.get(&format!("/admin/members/{bob_id}?why={id}"));
    assert_eq!(why.status, 200);
    assert!(
        why.body.contains("<strong>Allowed.</strong>"),
        "{}",
        why.body
    );
    assert!(!why.body.contains("/comp\""), "support cannot comp");
    assert!(
        why.body
            .contains("on the basis of a comp or an access code")
            && why.body.contains("<td>watch page</td><td>a token for"),
        "the pass the watch page handed out: {}",
        why.body
    );
    let page = ann.get(&format!("/admin/members/{bob_id}"));
    let grant = {
        let at = page.body.find("/grants/").unwrap() + "/grants/".len();
        page.body[at..at + page.body[at..].find('/').unwrap()].to_owned()
    };
    let done = ann.post(
        &format!("/admin/members/{bob_id}/grants/{grant}/end"),
        &[("csrf", &csrf)],
    );
    assert_eq!(done.status, 303);
    let why = sue.get(&format!("/admin/members/{bob_id}?why={id}"));
    assert!(
        why.body
            .contains("<strong>Refused.</strong> Rent or buy this title to watch it."),
        "{}",
        why.body
    );
    assert!(player_src(&bob.get(&next).body).is_none());

    // A comp of the title for a day, from the member page.
    let done = ann.post(
        &format!("/admin/members/{bob_id}/comp"),
        &[
            ("csrf", &csrf),
            ("grants", ""),
            ("title", &id),
            ("days", "1"),
            ("note", "sorry"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(player_src(&bob.get(&next).body).is_some());
    // Dan gets the plan at no charge from his page, then it is cancelled.
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": ["gold"]}})),
    );
    assert_eq!(status, 200);
    let dan_id = member_id(&server, "dan@example.com");
    let done = ann.post(
        &format!("/admin/members/{dan_id}/subscriptions"),
        &[("csrf", &csrf), ("plan", "gold"), ("days", "30")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{dan_id}/access/{id}"),
        None,
    );
    assert_eq!(why["decision"]["basis"]["kind"], "plan", "{why}");
    let until = why["decision"]["until"].as_i64().unwrap();
    let page = ann.get(&format!("/admin/members/{dan_id}"));
    assert!(page.body.contains("no charge"), "{}", page.body);
    let sub_path = |action: &str| {
        let at = page.body.find("/subscriptions/").unwrap() + "/subscriptions/".len();
        let sub = &page.body[at..at + page.body[at..].find('/').unwrap()];
        format!("/admin/members/{dan_id}/subscriptions/{sub}/{action}")
    };
    let done = ann.post(&sub_path("extend"), &[("csrf", &csrf), ("days", "10")]);
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{dan_id}/access/{id}"),
        None,
    );
    assert_eq!(
        why["decision"]["until"].as_i64().unwrap(),
        until + 10 * 86_400,
        "{why}"
    );
    let done = ann.post(&sub_path("cancel"), &[("csrf", &csrf)]);
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{dan_id}/access/{id}"),
        None,
    );
    assert_eq!(why["decision"]["reason"]["code"], "no_plan", "{why}");

    // Support may not change the paywall.
    let sue_csrf = sue.get("/account").csrf();
    let refused = sue.post(
        &format!("/admin/titles/{id}/access"),
        &[("csrf", &sue_csrf), ("kind", "public")],
    );
    assert_eq!(refused.status, 403);
}

#[test]
fn a_signed_in_viewer_plays_premium_media_in_chromium_under_a_token_it_renews() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = Server::start_with(&data, Options::default());
    let clip = tmp.path().join("members.mp4");
    make_clip(&clip, "640x360", 25, 6.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("members", Duration::from_secs(120));
    let id = asset["id"].as_str().unwrap();
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "registered"}})),
    );
    assert_eq!(status, 200);
    // Played once encrypted: hls.js fetches the key under the token and decrypts.
    let dir = server.package_dir(&asset);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(dir.join("master.m3u8")).is_ok_and(|m| m.contains("evideo_")) {
        assert!(std::time::Instant::now() < deadline, "not encrypted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = crate::player::browser_check(&[
        "premium.mjs",
        server.url(),
        id,
        "bob@example.com",
        PASSWORD,
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        ["paywall", "played", "renewed"],
        "{report}"
    );
    assert_eq!(
        report["steps"][0]["reason"],
        "Create a free account, or sign in, to watch this."
    );
}

#[test]
fn a_plan_with_one_stream_plays_on_one_device_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = Server::start_with(&data, Options::default());
    let clip = tmp.path().join("solo.mp4");
    make_clip(&clip, "320x180", 25, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("solo", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Solo", "currency": "eur", "monthly_amount": 299,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 1, "public": true}),
        ),
    );
    server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": ["solo"]}})),
    );
    let bob_id = member_id(&server, "bob@example.com");
    // A comp of the plan plays like the plan: one player at a time.
    let (status, _) = server.call(
        "POST",
        &format!("/api/v1/members/{bob_id}/grants"),
        Some(json!({"plan": "solo"})),
    );
    assert_eq!(status, 201);

    let mut phone = Browser::new(server.url());
    let mut tv = Browser::new(server.url());
    for b in [&mut phone, &mut tv] {
        assert_eq!(b.sign_in("bob@example.com", PASSWORD).status, 303);
    }
    let beat = |b: &mut Browser| {
        let page = b.get(&format!("/watch/{id}"));
        let csrf = if page.body.contains("name=\"csrf\" content=") {
            csrf_meta(&page.body)
        } else {
            page.csrf()
        };
        b.post_json(&format!("/watch/{id}/heartbeat"), &csrf, "")
            .status
    };
    // The phone's player has its token: it counts, heartbeat or not.
    assert!(player_src(&phone.get(&format!("/watch/{id}")).body).is_some());
    let page = tv.get(&format!("/watch/{id}"));
    assert!(
        page.body.contains("players are all in use"),
        "a player that sends no heartbeat still counts: {}",
        page.body
    );
    assert_eq!(beat(&mut phone), 204, "the phone plays");
    assert_eq!(beat(&mut phone), 204, "and keeps playing");
    // The TV: the paywall says why, and its heartbeat is refused.
    let page = tv.get(&format!("/watch/{id}"));
    assert!(player_src(&page.body).is_none());
    assert!(
        page.body.contains("players are all in use"),
        "{}",
        page.body
    );
    assert_eq!(beat(&mut tv), 409);
    let (_, why) = server.call(
        "GET",
        &format!("/api/v1/members/{bob_id}/access/{id}"),
        None,
    );
    assert_eq!(
        why["decision"]["reason"]["code"], "stream_limit_reached",
        "{why}"
    );
    // The phone's page is closed: the TV plays.
    let page = phone.get(&format!("/watch/{id}"));
    let stopped = phone.post_json(&format!("/watch/{id}/stop"), &csrf_meta(&page.body), "");
    assert_eq!(stopped.status, 204);
    assert!(player_src(&tv.get(&format!("/watch/{id}")).body).is_some());
    assert_eq!(beat(&mut tv), 204);
    // A reload on the TV (same session) is not a second stream.
    assert!(player_src(&tv.get(&format!("/watch/{id}")).body).is_some());
}
