//! Words for people (issue 23): every dashboard page and a viewer's account page name plans,
//! titles and roles by their names, levels in sentences, money in major units — no JSON,
//! internal id or minor unit in the visible text; title pickers take a name; page errors
//! are pages in the site's (or the dashboard's) frame while API errors stay JSON; the
//! operator is told when no one can pay, and Settings → Stripe tests the connection against
//! the stand-in, shows the webhook address, and clears the keys.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use serde_json::{Value, json};

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::stripe::member_id;
use crate::stripe_standin::{SECRET_KEY, Standin, WEBHOOK_SECRET};
use crate::support::{Options, Server, unix_now};

/// The catalog and holdings the pages are walked over.
struct Seeded {
    series: String,
    episode: String,
    movie: String,
    plan: String,
    vic: i64,
}

impl Seeded {
    /// Ids that must never be shown as text.
    fn ids(&self) -> Vec<&str> {
        vec![&self.series, &self.episode, &self.movie, &self.plan]
    }
}

fn created_id(server: &Server, path: &str, body: Value) -> String {
    let (status, made) = server.call("POST", path, Some(body));
    assert_eq!(status, 201, "{path}: {made}");
    made["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| made["id"].to_string())
}

/// Ann (owner) and Vic (viewer); a plan, a series with an episode for subscribers, a movie
/// to rent or buy; Vic holds a no-charge subscription, comps of the plan and the series, a
/// rental and a purchase; a code batch for the movie.
fn seed(server: &Server, data: &Path) -> Seeded {
    let plan = created_id(
        server,
        "/api/v1/plans",
        json!({"name": "Explorer Pass", "currency": "eur", "monthly_amount": 799,
               "yearly_amount": 7999, "trial_days": 7, "stream_limit": 2, "public": true}),
    );
    let series = created_id(
        server,
        "/api/v1/titles",
        json!({"kind": "series", "name": "Kelp Forest"}),
    );
    let episode = created_id(
        server,
        "/api/v1/titles",
        json!({"kind": "episode", "series_id": series, "season": 1, "episode": 1, "name": "Holdfast"}),
    );
    let movie = created_id(
        server,
        "/api/v1/titles",
        json!({"kind": "movie", "name": "Tide Pools"}),
    );
    for (id, level) in [
        (&series, json!({"kind": "subscribers", "plans": []})),
        (
            &movie,
            json!({"kind": "purchase", "rent": {"amount": 299, "currency": "eur"},
                   "buy": {"amount": 999, "currency": "eur"}}),
        ),
    ] {
        let (status, body) = server.call(
            "PUT",
            &format!("/api/v1/titles/{id}/access"),
            Some(json!({ "level": level })),
        );
        assert_eq!(status, 200, "{body}");
    }
    let vic = member_id(server, "vic@example.com");
    for comp in [
        json!({"plan": plan, "until": unix_now() + 30 * 86_400, "note": "welcome"}),
        json!({"title": series, "note": "sorry"}),
    ] {
        created_id(server, &format!("/api/v1/members/{vic}/grants"), comp);
    }
    created_id(
        server,
        "/api/v1/code-batches",
        json!({"name": "Door sales", "title": movie, "count": 2}),
    );
    let mut ann = signed_in(server, "ann@example.com");
    let csrf = ann.get(&format!("/admin/members/{vic}")).csrf();
    let done = ann.post(
        &format!("/admin/members/{vic}/subscriptions"),
        &[("csrf", &csrf), ("plan", &plan), ("days", "30")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    // A rental and a purchase, as a paid Checkout would record them.
    let db = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    for (kind, amount, window) in [("rent", 299, Some(172_800)), ("buy", 999, None)] {
        db.execute(
            "INSERT INTO purchases (user_id, kind, target_id, amount, currency, window_secs, created_at)
             VALUES (?1, ?2, ?3, ?4, 'eur', ?5, ?6)",
            rusqlite::params![vic, kind, movie, amount, window, unix_now()],
        )
        .unwrap();
    }
    Seeded {
        series,
        episode,
        movie,
        plan,
        vic,
    }
}

fn server_with_people(tmp: &Path, tables: String) -> (Server, std::path::PathBuf) {
    let data = data_with_ann(tmp, &[]);
    created(&data, "vic@example.com", &["--role", "viewer"]);
    let server = Server::start_with(
        &data,
        Options {
            tables,
            ..Options::default()
        },
    );
    (server, data)
}

/// What a person reads of a page: tags, scripts and styles removed, entities decoded
/// (ids in links and form values are not read).
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
        let skip_to = if lower.starts_with("<script") {
            "</script>"
        } else if lower.starts_with("<style") {
            "</style>"
        } else {
            ">"
        };
        match rest.find(skip_to) {
            Some(end) => rest = &rest[end + skip_to.len()..],
            None => rest = "",
        }
        text.push(' ');
    }
    text.push_str(rest);
    decode(&text)
}

/// HTML's character references as minijinja writes them, decoded.
fn decode(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Machine text in `text`: JSON, any of `ids`, a word shaped like Marquee's random ids (12
/// characters of its alphabet with letters and digits), a lower-case currency code, or
/// one of the seeded amounts in minor units.
fn machine_words(text: &str, ids: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for json in ["{\"", "\"kind\"", "\":"] {
        if text.contains(json) {
            found.push(format!("JSON ({json})"));
        }
    }
    for id in ids {
        if text.contains(id) {
            found.push(format!("the id {id}"));
        }
    }
    const ALPHABET: &str = "abcdefghijkmnpqrstuvwxyz23456789";
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let id_shaped = word.len() == 12
            && word.chars().all(|c| ALPHABET.contains(c))
            && word.chars().any(|c| c.is_ascii_digit())
            && word.chars().any(|c| c.is_ascii_alphabetic());
        if id_shaped {
            found.push(format!("an id-shaped word {word}"));
        }
        if ["eur", "usd"].contains(&word) {
            found.push(format!("the currency code {word:?}"));
        }
        if ["299", "799", "999", "7999"].contains(&word) {
            found.push(format!("minor units {word}"));
        }
    }
    found
}

/// Asserts `page` shows no machine text, with the offending words in context.
fn assert_in_words(path: &str, html: &str, ids: &[&str]) {
    let text = visible_text(html);
    let found = machine_words(&text, ids);
    assert!(
        found.is_empty(),
        "{path} shows {found:?}:\n{}",
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    );
}

/// Dashboard links on a page (no downloads), without their fragments.
fn dashboard_links(html: &str) -> Vec<String> {
    html.match_indices("href=\"")
        .filter_map(|(at, m)| {
            let rest = &html[at + m.len()..];
            let link = &rest[..rest.find('"')?];
            let link = decode(link);
            let link = link.split('#').next()?.to_owned();
            (link.starts_with("/admin") && !link.contains("csv") && !link.contains("export"))
                .then_some(link)
        })
        .collect()
}

#[test]
fn every_dashboard_page_and_the_account_page_speak_in_names_not_ids_json_or_minor_units() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, data) = server_with_people(tmp.path(), String::new());
    let seeded = seed(&server, &data);
    let ids = seeded.ids();

    let mut ann = signed_in(&server, "ann@example.com");
    let vic_page = format!("/admin/members/{}", seeded.vic);
    let mut queue: VecDeque<String> = [
        "/admin".to_owned(),
        format!("/admin/titles/{}", seeded.series),
        format!("/admin/titles/{}", seeded.episode),
        format!("/admin/titles/{}", seeded.movie),
        vic_page.clone(),
        format!("{vic_page}?why=Holdfast"),
        format!("{vic_page}?why=Tide+Pools"),
    ]
    .into();
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 200 {
            continue;
        }
        let page = ann.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_in_words(&path, &page.body, &ids);
        queue.extend(dashboard_links(&page.body));
    }
    for section in [
        "/admin/paywall",
        "/admin/members",
        "/admin/settings",
        "/admin/audit",
    ] {
        assert!(seen.contains(section), "{section} was walked: {seen:?}");
    }

    // What the pages say instead.
    let title = ann.get(&format!("/admin/titles/{}", seeded.episode)).body;
    assert!(
        title.contains("Subscribers to any plan (set on the series Kelp Forest)"),
        "{title}"
    );
    let member = ann.get(&vic_page).body;
    for words in [
        "Explorer Pass",
        "Rental of Tide Pools",
        "Purchase of Tide Pools",
        "2.99",
    ] {
        assert!(member.contains(words), "{words}: {member}");
    }
    let why = ann.get(&format!("{vic_page}?why=Tide+Pools")).body;
    assert!(why.contains("Those who rent it (€2.99)"), "{why}");
    let paywall = ann.get("/admin/paywall").body;
    assert!(paywall.contains("Tide Pools for good"), "{paywall}");

    // The viewer's own account page.
    let mut vic = signed_in(&server, "vic@example.com");
    let account = vic.get("/account");
    assert_eq!(account.status, 200);
    assert_in_words("/account", &account.body, &ids);
    for words in [
        "Explorer Pass: yours until",
        "Kelp Forest: yours for good",
        "Rental of Tide Pools",
        "Tide Pools: yours",
        "Viewer",
    ] {
        assert!(account.body.contains(words), "{words}: {}", account.body);
    }
}

#[test]
fn title_pickers_take_a_name_and_a_name_that_matches_nothing_is_said_in_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, data) = server_with_people(tmp.path(), String::new());
    let seeded = seed(&server, &data);
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get("/admin/paywall").csrf();

    // Suggestions as the operator types, by label.
    let names = ann.get("/admin/title-names?q=hold");
    assert_eq!(names.status, 200);
    let names: Value = serde_json::from_str(&names.body).unwrap();
    assert_eq!(
        names,
        json!(["Kelp Forest, season 1 episode 1: Holdfast"]),
        "{names}"
    );

    // Codes for a title typed by name.
    let batches_before = server.call("GET", "/api/v1/code-batches", None).1;
    let made = ann.post(
        "/admin/paywall/codes",
        &[
            ("csrf", &csrf),
            ("name", "Festival"),
            ("grants", "title:"),
            ("title", "kelp forest"),
            ("count", "3"),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    let batches = server.call("GET", "/api/v1/code-batches", None).1;
    let festival = batches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "Festival")
        .unwrap_or_else(|| panic!("{batches}"));
    assert_eq!(festival["scope_id"], seeded.series, "{festival}");

    // A name that matches nothing: a page in the dashboard's frame that says so; no batch.
    let refused = ann.post(
        "/admin/paywall/codes",
        &[
            ("csrf", &csrf),
            ("name", "Typo"),
            ("grants", "title:"),
            ("title", "Kelp Forst"),
            ("count", "3"),
        ],
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        refused.header("content-type")
    );
    assert!(
        refused.body.contains("No title is called “Kelp Forst”"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("aria-label=\"Dashboard\""),
        "{}",
        refused.body
    );
    let after = server.call("GET", "/api/v1/code-batches", None).1;
    assert_eq!(
        after.as_array().unwrap().len(),
        batches_before.as_array().unwrap().len() + 1,
        "only Festival was made"
    );

    // A comp of a title by its episode label; the same typo refused in words.
    let vic_page = format!("/admin/members/{}", seeded.vic);
    let comp = |b: &mut Browser, title: &str| {
        b.post(
            &format!("{vic_page}/comp"),
            &[
                ("csrf", &csrf),
                ("grants", ""),
                ("title", title),
                ("days", "3"),
            ],
        )
    };
    let done = comp(&mut ann, "Kelp Forest, season 1 episode 1: Holdfast");
    assert_eq!(done.status, 303, "{}", done.body);
    let grants = server
        .call(
            "GET",
            &format!("/api/v1/members/{}/grants", seeded.vic),
            None,
        )
        .1;
    assert!(
        grants.to_string().contains(&seeded.episode),
        "the episode was comped: {grants}"
    );
    let refused = comp(&mut ann, "Kelp Forst");
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("No title is called “Kelp Forst”"),
        "{}",
        refused.body
    );

    // "Why can't they play it?" by name.
    let why = ann.get(&format!("{vic_page}?why=tide+pools")).body;
    assert!(why.contains("Those who rent it (€2.99)"), "{why}");
    assert!(why.contains("This title is not out yet."), "{why}");
    let why = ann.get(&format!("{vic_page}?why=Kelp+Forst")).body;
    assert!(why.contains("No title is called “Kelp Forst”"), "{why}");
}

/// A GET as a browser loading a page sends it (asking for HTML).
pub fn load_page(b: &Browser, base: &str, path: &str) -> (u16, String, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let mut resp = agent
        .get(format!("{base}{path}"))
        .header("Cookie", &b.cookie_header())
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .call()
        .unwrap();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        resp.status().as_u16(),
        kind,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn page_errors_are_pages_in_the_frame_with_a_way_back_and_api_errors_stay_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, data) = server_with_people(tmp.path(), String::new());
    let seeded = seed(&server, &data);
    let visitor = Browser::new(server.url());

    // An unknown URL: the site's frame, the reason, a way home.
    let (status, kind, body) = load_page(&visitor, server.url(), "/no/such/page");
    assert_eq!(status, 404);
    assert!(kind.starts_with("text/html"), "{kind}");
    for part in ["class=\"top\"", "Page not found", "href=\"/\""] {
        assert!(body.contains(part), "{part}: {body}");
    }
    // Also for a client that asks for anything (no Accept: text/html).
    let (status, body) = server.page("/no/such/page");
    assert_eq!(status, 404);
    assert!(body.contains("Page not found"), "{body}");

    // The API keeps JSON.
    let (status, body) = server.call("GET", "/api/v1/no-such-route", None);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    // 403: a viewer at the dashboard gets the site's frame and a way back.
    let vic = signed_in(&server, "vic@example.com");
    let (status, kind, body) = load_page(&vic, server.url(), "/admin/paywall");
    assert_eq!(status, 403);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(
        body.contains("Not allowed") && body.contains("href=\"/\""),
        "{body}"
    );
    assert!(!body.contains("aria-label=\"Dashboard\""), "{body}");

    // The owner's unknown dashboard URL looks like the dashboard.
    let ann = signed_in(&server, "ann@example.com");
    let (status, _, body) = load_page(&ann, server.url(), "/admin/no-such-section");
    assert_eq!(status, 404);
    assert!(body.contains("aria-label=\"Dashboard\""), "{body}");
    assert!(body.contains("Page not found"), "{body}");

    // 500: a page whose stored data cannot be read says so in words, in the frame (the
    // cause goes to the log only).
    let db = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    db.execute(
        "UPDATE titles SET access = 'not json' WHERE id = ?1",
        [&seeded.movie],
    )
    .unwrap();
    let (status, kind, body) = load_page(
        &ann,
        server.url(),
        &format!("/admin/titles/{}", seeded.movie),
    );
    assert_eq!(status, 500);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains("Something went wrong"), "{body}");
    assert!(body.contains("aria-label=\"Dashboard\""), "{body}");
    assert!(!body.contains("corrupt"), "{body}");
    // A page route whose error is JSON (a bad query string) is a page when a browser loads
    // it, and stays JSON for a script's fetch.
    let (status, kind, body) = load_page(&vic, server.url(), "/checkout/return");
    assert_eq!(status, 400, "{body}");
    assert!(kind.starts_with("text/html"), "{kind}: {body}");
    assert!(
        !body.contains("{\"") && body.contains("class=\"top\""),
        "{body}"
    );
    let mut script = Browser::new(server.url());
    script.cookies = vic.cookies.clone();
    let fetched = script.get("/checkout/return");
    assert_eq!(fetched.status, 400);
    assert!(fetched.body.starts_with("{\"error\""), "{}", fetched.body);
}

#[test]
fn the_operator_is_told_no_one_can_pay_until_stripe_is_set_and_can_test_and_clear_it() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    // Only where Stripe answers is in the settings file: the keys are the dashboard's.
    let (server, data) = server_with_people(
        tmp.path(),
        format!("[stripe]\napi_base = \"{}\"\n", stripe.url),
    );
    let mut ann = signed_in(&server, "ann@example.com");
    const BANNER: &str = "No one can pay yet: Stripe is not set up.";
    for path in ["/admin", "/admin/paywall", "/admin/titles"] {
        let page = ann.get(path).body;
        assert!(page.contains(BANNER), "{path}: {page}");
        assert!(page.contains("href=\"/admin/settings#stripe\""), "{path}");
    }
    assert!(!ann.get("/admin/members").body.contains(BANNER));

    // Settings → Stripe: the webhook address to paste, with a copy button.
    let settings = ann.get("/admin/settings");
    let hook = format!("{}/stripe/webhook", server.url());
    assert!(
        decode(&settings.body).contains(&format!("value=\"{hook}\"")),
        "{}",
        settings.body
    );
    assert!(settings.body.contains("data-copy=\"webhook-url\""));
    let csrf = settings.csrf();

    // A wrong key: the test says Stripe refused it.
    let save = |b: &mut Browser, key: &str| {
        let done = b.post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("stripe.secret_key", key),
                ("stripe.webhook_secret", WEBHOOK_SECRET),
            ],
        );
        assert_eq!(done.status, 303, "{}", done.body);
    };
    save(&mut ann, "sk_test_wrong");
    for path in ["/admin", "/admin/paywall", "/admin/titles"] {
        assert!(
            !ann.get(path).body.contains(BANNER),
            "{path}: the banner goes"
        );
    }
    let tested = ann.post("/admin/settings/stripe/test", &[("csrf", &csrf)]);
    assert_eq!(tested.status, 502, "{}", tested.body);
    assert!(
        tested.body.contains("Stripe refused the secret key"),
        "{}",
        tested.body
    );
    assert!(
        !tested.body.contains("sk_test_wrong"),
        "the key is not echoed"
    );

    // The right key, and the endpoint pointing here: the test passes, in words, and says
    // what it could not check.
    save(&mut ann, SECRET_KEY);
    stripe.set_webhook(&hook);
    let tested = ann.post("/admin/settings/stripe/test", &[("csrf", &csrf)]);
    assert_eq!(tested.status, 200, "{}", tested.body);
    for words in [
        "The connection works.",
        "Stripe accepted the secret key: it belongs to the account “Stand-in Pictures”, in test mode",
        &format!("Stripe sends events to {hook}"),
        "whether it is this endpoint's was not checked",
    ] {
        assert!(
            decode(&tested.body).contains(words),
            "{words}: {}",
            tested.body
        );
    }
    assert_eq!(
        stripe.requests_to("/v1/account").len(),
        1,
        "a refused key is not recorded"
    );
    assert_eq!(stripe.requests_to("/v1/webhook_endpoints").len(), 1);
    // An endpoint elsewhere is named.
    stripe.set_webhook("https://old.example/stripe/webhook");
    let tested = ann.post("/admin/settings/stripe/test", &[("csrf", &csrf)]);
    assert_eq!(tested.status, 502);
    assert!(
        decode(&tested.body)
            .contains("Stripe sends events to https://old.example/stripe/webhook, not to"),
        "{}",
        tested.body
    );

    // Clearing takes the permission that setting takes: an editor may not.
    created(&data, "eve@example.com", &["--role", "editor"]);
    let mut eve = signed_in(&server, "eve@example.com");
    let eve_csrf = eve.get("/account").csrf();
    let refused = eve.post("/admin/settings/stripe/clear", &[("csrf", &eve_csrf)]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = eve.post(
        "/admin/settings",
        &[("csrf", &eve_csrf), ("stripe.secret_key", "sk_test_other")],
    );
    assert_eq!(
        refused.status, 403,
        "setting takes the same: {}",
        refused.body
    );
    assert!(
        !ann.get("/admin/paywall").body.contains(BANNER),
        "still set"
    );

    // The owner clears the keys: Stripe is off, the banner is back, the audit says so.
    let cleared = ann.post("/admin/settings/stripe/clear", &[("csrf", &csrf)]);
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    let settings = ann.get(cleared.location.as_deref().unwrap());
    assert!(
        settings.body.contains("The Stripe keys were cleared"),
        "{}",
        settings.body
    );
    assert!(ann.get("/admin/paywall").body.contains(BANNER));
    let (_, listed) = server.call("GET", "/api/v1/settings", None);
    let key = listed
        .as_array()
        .or_else(|| listed["items"].as_array())
        .unwrap()
        .iter()
        .find(|s| s["key"] == "stripe.secret_key")
        .cloned()
        .unwrap();
    assert_eq!(key["is_set"], false, "{key}");
    let tested = ann.post("/admin/settings/stripe/test", &[("csrf", &csrf)]);
    assert!(
        tested.body.contains("No secret key is saved"),
        "{}",
        tested.body
    );
}

#[test]
fn in_chromium_the_title_picker_suggests_names_and_the_webhook_address_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, data) = server_with_people(tmp.path(), String::new());
    let seeded = seed(&server, &data);
    let report = crate::player::browser_check(&[
        "words.mjs",
        server.url(),
        "ann@example.com",
        crate::accounts::PASSWORD,
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        ["suggested", "codes", "copy"],
        "{report}"
    );
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        step("suggested")["suggested"],
        json!(["Kelp Forest, season 1 episode 1: Holdfast"]),
        "{report}"
    );
    assert_eq!(step("codes")["made"], true, "{report}");
    let batches = server.call("GET", "/api/v1/code-batches", None).1;
    assert!(
        batches
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "From the picker" && b["scope_id"] == seeded.episode.as_str()),
        "{batches}"
    );
    let copy = step("copy");
    assert_eq!(
        copy["address"],
        format!("{}/stripe/webhook", server.url()),
        "{report}"
    );
    // Plain HTTP has no clipboard API: either way the page says what happened.
    assert!(
        ["Copied.", "Select the address and copy it."].contains(&copy["said"].as_str().unwrap()),
        "{report}"
    );
}
