//! The shop in front of the paywall, against the real server and the Stripe stand-in: the
//! pricing page (plans on sale, the trial, the automatic offer, what each includes, a
//! Subscribe form that reaches Checkout; "no plan on sale" when there is none), the marks
//! of paid titles on tiles and title pages (a series priced season by season too), the title page's main button per viewer, the
//! paywall's sale buttons for visitors too, and with Stripe not set up, "Not on sale
//! online yet" instead of any buy button while an access code still opens the title. In
//! Chromium (tests/browser/shop.mjs): the paywall card on a phone and a desktop, the event
//! time in the browser's zone, and the pricing page's switch without script.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::paywall::first_code;
use crate::stripe::{playable, session_of};
use crate::stripe_standin::Standin;
use crate::support::{Options, Server, SmtpCapture, drop_into, make_clip, unix_now};

/// The words of the title page's main button (`id="main-action"`), or None.
fn main_button(body: &str) -> Option<String> {
    let at = body.find("id=\"main-action\"")?;
    let text = &body[at + body[at..].find('>')? + 1..];
    Some(text[..text.find('<')?].trim().to_owned())
}

/// The hidden fields of the form whose button reads `button`.
fn form_fields(body: &str, button: &str) -> Vec<(String, String)> {
    let at = body
        .find(button)
        .unwrap_or_else(|| panic!("no {button:?} in {body}"));
    let form = &body[body[..at].rfind("<form").unwrap()..at];
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let from = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                input[from..from + input[from..].find('"').unwrap()]
                    .replace("&#x2f;", "/")
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

fn post_form(b: &mut Browser, fields: &[(String, String)]) -> crate::accounts::Page {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post("/checkout", &form)
}

/// Three live titles from three short clips: (members film, rental film, premiere).
fn three_titles(server: &Server, dir: &std::path::Path) -> (String, String, String) {
    let mut ids = Vec::new();
    // Different lengths: identical files would be taken as one.
    for (name, secs) in [("club film", 2.0), ("rental film", 2.5), ("premiere", 3.0)] {
        let clip = dir.join(format!("{}.mp4", name.replace(' ', "_")));
        make_clip(&clip, "320x180", 25, secs, false);
        drop_into(&server.inbox(), &clip);
        let asset = server.wait_finished(name, Duration::from_secs(120));
        ids.push(asset["id"].as_str().unwrap().to_owned());
    }
    (ids[0].clone(), ids[1].clone(), ids[2].clone())
}

fn set_level(server: &Server, id: &str, level: serde_json::Value) {
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({ "level": level })),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_pricing_page_sells_every_plan_on_sale_and_its_button_reaches_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    // Email set up: a visitor's checkout makes their account (the welcome link).
    let smtp = SmtpCapture::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: format!("{}\n{}", stripe.config(), smtp.config()),
            ..Options::default()
        },
    );

    // Nothing on sale yet: the page says so, and offers nothing.
    let mut visitor = Browser::new(server.url());
    let page = visitor.get("/plans");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("No plan is on sale right now."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("action=\"/checkout\""), "{}", page.body);
    let moved = visitor.get("/pricing");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.location.as_deref(), Some("/plans"));

    for plan in [
        json!({"name": "Explorer", "description": "Every film and series\nNew episodes each Friday",
               "currency": "eur", "monthly_amount": 799, "yearly_amount": 7990, "trial_days": 7,
               "stream_limit": 2, "public": true}),
        json!({"name": "Backstage", "currency": "eur", "monthly_amount": 1500,
               "yearly_amount": null, "trial_days": 0, "stream_limit": 1, "public": false}),
    ] {
        let (status, body) = server.call("POST", "/api/v1/plans", Some(plan));
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = server.call(
        "POST",
        "/api/v1/offers",
        Some(
            json!({"name": "Launch", "kind": "percent", "value": 50, "duration": "repeating",
                    "duration_months": 3, "audience": "new"}),
        ),
    );
    assert_eq!(status, 201, "{body}");

    // A visitor: the plan on sale (not the hidden one), both prices behind a switch that
    // needs no script, the trial, the automatic offer, what it includes, and a form straight
    // into checkout carrying the visitor's form token.
    let page = visitor.get("/plans");
    let body = &page.body;
    for words in [
        "<h2>Explorer</h2>",
        "€7.99</strong> a month",
        "€79.90</strong> a year",
        "7 days free",
        "Offer: 50 % off for 3 months",
        "<li>Every film and series</li>",
        "<li>New episodes each Friday</li>",
        "id=\"bill-year\"",
        "Start free trial",
    ] {
        assert!(body.contains(words), "{words}: {body}");
    }
    assert!(!body.contains("Backstage"), "{body}");
    let fields = form_fields(body, "Start free trial");
    for (k, v) in [
        ("plan", "explorer"),
        ("interval", "month"),
        ("back", "/plans"),
    ] {
        assert!(fields.contains(&(k.into(), v.into())), "{k}: {fields:?}");
    }
    let token = &fields.iter().find(|(k, _)| k == "csrf").unwrap().1;
    assert!(
        visitor.cookies.values().any(|v| v == token),
        "the form token is the visitor's cookie: {fields:?}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Pressed, it goes straight to Stripe's Checkout, no account needed first.
    let sent = post_form(&mut visitor, &fields);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let pay = sent.location.unwrap();
    assert!(pay.starts_with(&format!("{}/pay/cs_", stripe.url)), "{pay}");

    // Bob, signed in, presses the yearly button: Stripe's Checkout for the yearly price.
    let mut bob = signed_in(&server, "bob@example.com");
    let page = bob.get("/plans");
    let at = page.body.find("name=\"interval\" value=\"year\"").unwrap();
    let form = page.body[..at].rfind("<form").unwrap();
    let fields = form_fields(&page.body[form..], "Start free trial");
    assert!(
        fields.contains(&("interval".into(), "year".into())),
        "{fields:?}"
    );
    let sent = post_form(&mut bob, &fields);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let pay = sent.location.unwrap();
    assert!(pay.starts_with(&format!("{}/pay/cs_", stripe.url)), "{pay}");
    let prices = stripe.requests_to("/v1/prices");
    assert!(
        prices
            .iter()
            .any(|p| p.1.contains(&("unit_amount".into(), "7990".into()))),
        "{prices:?}"
    );
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    assert!(
        sessions.last().unwrap().1.contains(&(
            "subscription_data[metadata][marquee_plan]".into(),
            "explorer".into()
        )),
        "{:?}",
        sessions[0].1
    );

    // An offer of money off is written as the visitor's language writes money.
    let launch = only_offer_id(&server);
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/offers/{launch}"),
        Some(
            json!({"name": "Launch", "kind": "fixed", "value": 200, "currency": "eur",
                    "duration": "repeating", "duration_months": 3, "audience": "new"}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let german = crate::support::agent()
        .get(format!("{}/plans", server.url()))
        .header("Accept-Language", "de-DE,de;q=0.9")
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        german.contains("Offer: 2,00\u{a0}€ off for 3 months"),
        "{german}"
    );
    assert!(
        visitor
            .get("/plans")
            .body
            .contains("Offer: €2.00 off for 3 months")
    );
}

/// The id of the only offer.
fn only_offer_id(server: &Server) -> i64 {
    let (status, offers) = server.call("GET", "/api/v1/offers", None);
    assert_eq!(status, 200, "{offers}");
    let items = offers["items"].as_array().or(offers.as_array()).unwrap();
    items[0]["id"].as_i64().unwrap()
}

#[test]
fn paid_titles_are_marked_and_each_viewer_is_told_what_the_button_does() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "dee@example.com", &["--role", "viewer"]);
    let server = stripe.server(&data);
    let (club, film, premiere) = three_titles(&server, tmp.path());
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Explorer", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 7, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    set_level(
        &server,
        &club,
        json!({"kind": "subscribers", "plans": ["explorer"]}),
    );
    set_level(
        &server,
        &film,
        json!({"kind": "purchase", "rent": {"amount": 299, "currency": "eur"}, "buy": null}),
    );
    let starts = unix_now() + 2 * 86_400;
    set_level(
        &server,
        &premiere,
        json!({"kind": "pay_per_view", "event_id": "opening-night",
               "price": {"amount": 500, "currency": "eur"},
               "starts_at": starts, "ends_at": starts + 7200}),
    );

    // Tiles on the home page: a lock and what each costs, in words.
    let mut visitor = Browser::new(server.url());
    let home = visitor.get("/");
    for words in ["Included with Explorer", "Rent €2.99", "Ticket €5.00"] {
        assert!(home.body.contains(words), "{words}: {}", home.body);
    }
    assert_eq!(
        home.body.matches("class=\"lock\"").count(),
        3,
        "{}",
        home.body
    );
    // Prices follow the browser's language; the kept rails still serve both.
    let mut german = crate::support::agent()
        .get(format!("{}/", server.url()))
        .header("Accept-Language", "de-DE,de;q=0.9")
        .call()
        .unwrap();
    assert!(
        german
            .headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Accept-Language"))
    );
    let german = german.body_mut().read_to_string().unwrap();
    assert!(german.contains("Rent 2,99\u{a0}€"), "{german}");
    assert!(visitor.get("/").body.contains("Rent €2.99"));
    // The title pages carry the same marks, and a main button saying what happens.
    for (id, mark, button) in [
        (&club, "Included with Explorer", "Start free trial"),
        (&film, "Rent €2.99", "Rent for €2.99"),
        (&premiere, "Ticket €5.00", "Buy ticket for €5.00"),
    ] {
        let page = visitor.get(&format!("/title/{id}"));
        assert!(page.body.contains(mark), "{mark}: {}", page.body);
        assert_eq!(
            main_button(&page.body).as_deref(),
            Some(button),
            "{}",
            page.body
        );
    }

    // Someone who already pays can sign in from there too.
    let page = visitor.get(&format!("/title/{club}"));
    assert!(
        page.body.contains(&format!(
            "href=\"&#x2f;login?next=&#x2f;title&#x2f;{club}\">Sign in</a>"
        )),
        "{}",
        page.body
    );

    // The paywall sells to a visitor too: buttons into checkout, "Create account" beside
    // "Sign in", and the event's start for the browser to show in its own time zone.
    let wall = visitor.get(&format!("/watch/{club}"));
    assert!(
        wall.body.contains(&format!(
            "href=\"&#x2f;signup?next=&#x2f;watch&#x2f;{club}\""
        )),
        "{}",
        wall.body
    );
    assert!(wall.body.contains(">Create account</a>"), "{}", wall.body);
    let fields = form_fields(&wall.body, "Start free trial");
    assert!(
        fields.contains(&("plan".into(), "explorer".into())),
        "{fields:?}"
    );
    let wall = visitor.get(&format!("/watch/{premiere}"));
    assert!(wall.body.contains("Buy ticket for €5.00"), "{}", wall.body);
    assert!(wall.body.contains("<time datetime=\""), "{}", wall.body);

    // Bob, signed in: the button starts his trial; once paid, it says "Play".
    let mut bob = signed_in(&server, "bob@example.com");
    let page = bob.get(&format!("/title/{club}"));
    assert_eq!(main_button(&page.body).as_deref(), Some("Start free trial"));
    let sent = post_form(&mut bob, &form_fields(&page.body, "Start free trial"));
    assert_eq!(sent.status, 303, "{}", sent.body);
    let pay = sent.location.unwrap();
    assert!(pay.starts_with(&format!("{}/pay/cs_", stripe.url)), "{pay}");
    let session = session_of(&pay);
    let events = stripe.complete(&session);
    for event in &events {
        assert_eq!(
            Standin::deliver(&format!("{}/stripe/webhook", server.url()), event),
            200
        );
    }
    assert!(playable(&mut bob, &club));
    let page = bob.get(&format!("/title/{club}"));
    assert_eq!(
        main_button(&page.body).as_deref(),
        Some("Play"),
        "{}",
        page.body
    );
    // The rental is still his to rent.
    let page = bob.get(&format!("/title/{film}"));
    assert_eq!(main_button(&page.body).as_deref(), Some("Rent for €2.99"));
    // A ticket shows on its buyer's account page by the event's title and day.
    let mut dee = signed_in(&server, "dee@example.com");
    let page = dee.get(&format!("/title/{premiere}"));
    let sent = post_form(&mut dee, &form_fields(&page.body, "Buy ticket for €5.00"));
    assert_eq!(sent.status, 303, "{}", sent.body);
    for event in &stripe.complete(&session_of(&sent.location.unwrap())) {
        assert_eq!(
            Standin::deliver(&format!("{}/stripe/webhook", server.url()), event),
            200
        );
    }
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{premiere}"), None);
    let account = dee.get("/account").body;
    assert!(
        account.contains(&format!(
            "Ticket for {}, starting {} ",
            title["name"].as_str().unwrap(),
            crate::my_account::day_of(starts)
        )),
        "{account}"
    );

    // A title for any account: a visitor is asked to sign in.
    set_level(&server, &club, json!({"kind": "registered"}));
    let page = visitor.get(&format!("/title/{club}"));
    assert_eq!(
        main_button(&page.body).as_deref(),
        Some("Sign in to watch"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Free with an account"), "{}", page.body);

    // Stripe not set up (the same data, no keys): nothing is offered as if it could be
    // paid, and an access code still opens the rental.
    drop(server);
    let server = Server::start_with(&data, Options::default());
    let mut visitor = Browser::new(server.url());
    let home = visitor.get("/");
    assert!(
        home.body.contains("Not on sale online yet"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("Rent €2.99"), "{}", home.body);
    let plans = visitor.get("/plans");
    assert!(
        plans.body.contains("Not on sale online yet"),
        "{}",
        plans.body
    );
    assert!(
        !plans.body.contains("action=\"/checkout\""),
        "{}",
        plans.body
    );
    let mut bob = signed_in(&server, "bob@example.com");
    for id in [&film, &premiere] {
        let page = bob.get(&format!("/title/{id}"));
        assert!(
            page.body.contains("Not on sale online yet"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("action=\"/checkout\""), "{}", page.body);
        let wall = bob.get(&format!("/watch/{id}"));
        assert!(
            wall.body.contains("Not on sale online yet"),
            "{}",
            wall.body
        );
        assert!(!wall.body.contains("action=\"/checkout\""), "{}", wall.body);
    }
    let (status, batch) = server.call(
        "POST",
        "/api/v1/code-batches",
        Some(json!({"name": "Festival", "title": film, "count": 1})),
    );
    assert_eq!(status, 201, "{batch}");
    let code = first_code(&server, &batch);
    let wall = bob.get(&format!("/watch/{film}"));
    let next = format!("/watch/{film}");
    let redeemed = bob.post(
        "/redeem",
        &[("csrf", &wall.csrf()), ("code", &code), ("next", &next)],
    );
    assert_eq!(redeemed.status, 303, "{}", redeemed.body);
    assert!(playable(&mut bob, &film));
}

#[test]
fn the_paywall_card_reads_on_a_phone_and_a_desktop_and_shows_the_event_in_local_time_and_the_pricing_switch_works_without_script()
 {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    let server = stripe.server(&data);
    let (club, _film, premiere) = three_titles(&server, tmp.path());
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Explorer", "description": "Every film and series",
                    "currency": "eur", "monthly_amount": 799, "yearly_amount": 7990,
                    "trial_days": 7, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    set_level(&server, &club, json!({"kind": "subscribers", "plans": []}));
    // 18:30 UTC: 13:30 in New York, whose time the browser keeps.
    let day = unix_now() / 86_400 + 3;
    let starts = day * 86_400 + 18 * 3600 + 1800;
    set_level(
        &server,
        &premiere,
        json!({"kind": "pay_per_view", "event_id": "opening-night",
               "price": {"amount": 500, "currency": "eur"},
               "starts_at": starts, "ends_at": starts + 7200}),
    );
    let report = crate::player::browser_check(&["shop.mjs", server.url(), &club, &premiere]);
    assert_eq!(
        crate::player::step_names(&report),
        [
            "paywall on phone",
            "event time on phone",
            "switch on phone",
            "paywall on desktop",
            "event time on desktop",
            "switch on desktop"
        ],
        "{report}"
    );
    let shown = report["steps"][1]["shown"].as_str().unwrap();
    assert!(shown.contains("1:30") && shown.contains("PM"), "{report}");
}

/// The part of the home page that is the tile linking to `/title/{id}`.
fn tile_of<'a>(home: &'a str, id: &str) -> &'a str {
    let link = format!("href=\"&#x2f;title&#x2f;{id}\"");
    let at = home
        .find(&link)
        .unwrap_or_else(|| panic!("no tile for {id}: {home}"));
    let end = home[at..].find("</a>").map_or(home.len(), |e| at + e);
    &home[at..end]
}

#[test]
fn a_series_priced_season_by_season_is_marked_on_its_tile_until_a_season_is_free() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    let server = stripe.server(&data);
    let clip = tmp.path().join("reef.mp4");
    make_clip(&clip, "320x180", 25, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("reef", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Explorer", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (status, series) = server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "series", "name": "Reef Diaries", "synopsis": "Under water."})),
    );
    assert_eq!(status, 201, "{series}");
    let series = series["id"].as_str().unwrap().to_owned();
    let episode = |season: i64| {
        let (status, made) = server.call(
            "POST",
            "/api/v1/titles",
            Some(
                json!({"kind": "episode", "series_id": series, "season": season,
                        "episode": 1, "name": format!("Season {season} opener"),
                        "synopsis": "s", "asset_id": asset}),
            ),
        );
        assert_eq!(status, 201, "{made}");
        let (status, body) = server.call("POST", &format!("/api/v1/titles/{series}/publish"), None);
        assert_eq!(status, 200, "{body}");
    };
    episode(1);
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/titles/{series}/seasons/1/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": ["explorer"]}})),
    );
    assert_eq!(status, 204, "{body}");

    // Its only season is for subscribers: the series' tile says so.
    let mut visitor = Browser::new(server.url());
    let home = visitor.get("/").body;
    let tile = tile_of(&home, &series);
    assert!(tile.contains("class=\"lock\""), "{tile}");
    assert!(tile.contains("Included with Explorer"), "{tile}");

    // A free second season: part of it plays for anyone, so no lock.
    episode(2);
    let home = visitor.get("/").body;
    let tile = tile_of(&home, &series);
    assert!(!tile.contains("class=\"lock\""), "{tile}");
}
