//! Issue 22, the billing items against the Stripe stand-in: a deleted member's subscription
//! is cancelled at Stripe and nothing of theirs passes to the next account (item 7); a
//! subscription's plan follows the price it pays, and a lost dispute ends a rental
//! (item 12).

use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::stripe::{member_id, session_of};
use crate::stripe_standin::Standin;
use crate::support::{Options, Server, drop_into, make_clip};

/// A plan on sale, monthly only, with `trial_days`.
fn plan(server: &Server, name: &str, amount: i64, trial_days: u32) {
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": name, "currency": "eur", "monthly_amount": amount,
                    "yearly_amount": null, "trial_days": trial_days, "stream_limit": 2,
                    "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
}

/// Posts the checkout form (from the account page); the Checkout address Marquee sends the
/// viewer to.
fn checkout(b: &mut Browser, fields: &[(&str, &str)]) -> String {
    let csrf = b.get("/account").csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("back", "/account")];
    form.extend_from_slice(fields);
    let sent = b.post("/checkout", &form);
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

/// Pays the session at the stand-in and delivers Stripe's events; the events.
fn pay(stripe: &Standin, hook: &str, pay_url: &str) -> Vec<Value> {
    let events = stripe.complete(&session_of(pay_url));
    for event in &events {
        assert_eq!(Standin::deliver(hook, event), 200, "{event}");
    }
    events
}

fn db(server: &Server) -> rusqlite::Connection {
    rusqlite::Connection::open(server.data.join("marquee.db")).unwrap()
}

/// The member's Stripe subscription as Marquee holds it: (plan, status).
fn held(server: &Server, user: i64) -> Option<(String, String)> {
    db(server)
        .query_row(
            "SELECT plan_id, status FROM subscriptions WHERE user_id = ?1",
            [user],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap()
}

/// The Stripe price the member's subscription pays, as Marquee recorded it.
fn price_paid(server: &Server, user: i64) -> Option<String> {
    db(server)
        .query_row(
            "SELECT stripe_price_id FROM subscriptions WHERE user_id = ?1",
            [user],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_deleted_members_subscription_is_cancelled_and_the_next_account_inherits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let mut server = stripe.server(&data);
    let hook = format!("{}/stripe/webhook", server.url());
    plan(&server, "Club", 799, 7);
    // Bob, the newest member, subscribes (with the plan's trial).
    let bob_id = member_id(&server, "bob@example.com");
    let mut bob = signed_in(&server, "bob@example.com");
    pay(
        &stripe,
        &hook,
        &checkout(&mut bob, &[("plan", "club"), ("interval", "month")]),
    );
    let sub = stripe.subscription_ids()[0].clone();
    assert_eq!(
        held(&server, bob_id).map(|h| h.1),
        Some("trialing".to_owned())
    );

    // Stripe cannot be reached: the deletion is refused with the reason, and Bob stays.
    let config = std::fs::read_to_string(data.join("marquee.toml")).unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    std::fs::write(
        data.join("marquee.toml"),
        config.replace(&stripe.url, &dead_url),
    )
    .unwrap();
    server.terminate();
    server.restart();
    let (status, body) = server.call("DELETE", &format!("/api/v1/members/{bob_id}"), None);
    assert_eq!(status, 409, "{body}");
    let said = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("could not be asked to cancel") && said.contains("nothing was deleted"),
        "{body}"
    );
    assert_eq!(
        server
            .call("GET", &format!("/api/v1/members/{bob_id}"), None)
            .0,
        200
    );
    // The dashboard's Delete button goes the same way.
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get(&format!("/admin/members/{bob_id}")).csrf();
    let page = ann.post(
        &format!("/admin/members/{bob_id}/delete"),
        &[("csrf", csrf.as_str())],
    );
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.body.contains("nothing was deleted"), "{}", page.body);
    assert_eq!(stripe.subscription(&sub)["status"], "trialing");

    // Reachable again: deleting Bob cancels his subscription at Stripe.
    std::fs::write(data.join("marquee.toml"), &config).unwrap();
    server.terminate();
    server.restart();
    let hook = format!("{}/stripe/webhook", server.url());
    let (status, body) = server.call("DELETE", &format!("/api/v1/members/{bob_id}"), None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(stripe.subscription(&sub)["status"], "canceled");
    assert!(
        stripe
            .requests_to(&format!("/v1/subscriptions/{sub}"))
            .iter()
            .any(|(method, _)| method == "DELETE")
    );

    // The next account gets a new id, and nothing of Bob's.
    created(&data, "cat@example.com", &["--role", "viewer"]);
    let cat_id = member_id(&server, "cat@example.com");
    assert!(cat_id > bob_id, "cat {cat_id} after bob {bob_id}");
    // Stripe says Bob's subscription is live again (a replayed or late update): no one
    // gets it.
    let replay = stripe.change_subscription(&sub, |s| s["status"] = json!("active"));
    assert_eq!(Standin::deliver(&hook, &replay), 200);
    assert_eq!(held(&server, cat_id), None);
    let granted: i64 = db(&server)
        .query_row("SELECT count(*) FROM subscriptions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(granted, 0, "Bob's subscription came back for someone");
    // Cat has had no trial: hers is offered.
    let mut cat = signed_in(&server, "cat@example.com");
    checkout(&mut cat, &[("plan", "club"), ("interval", "month")]);
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    let (_, form) = sessions.last().unwrap();
    assert!(
        form.contains(&("subscription_data[trial_period_days]".into(), "7".into())),
        "{form:?}"
    );
    assert!(form.contains(&("metadata[marquee_user]".into(), cat_id.to_string())));
}

#[test]
fn a_subscription_follows_its_price_and_a_lost_dispute_ends_a_rental() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = stripe.server(&data);
    let hook = format!("{}/stripe/webhook", server.url());
    plan(&server, "Premium", 1500, 0);
    plan(&server, "Basic", 500, 0);
    let bob_id = member_id(&server, "bob@example.com");
    let mut bob = signed_in(&server, "bob@example.com");
    // A checkout of Basic makes its price (left unpaid); Bob pays for Premium.
    checkout(&mut bob, &[("plan", "basic"), ("interval", "month")]);
    pay(
        &stripe,
        &hook,
        &checkout(&mut bob, &[("plan", "premium"), ("interval", "month")]),
    );
    let sub = stripe.subscription_ids()[0].clone();
    assert_eq!(
        held(&server, bob_id),
        Some(("premium".into(), "active".into()))
    );

    // Moved to Basic's price (the metadata still says premium): the plan is Basic.
    let basic_price: String = db(&server)
        .query_row(
            "SELECT stripe_monthly_price FROM plans WHERE id = 'basic'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let basic = stripe.price(&basic_price);
    let moved = stripe.change_subscription(&sub, |s| s["items"]["data"][0]["price"] = basic);
    assert_eq!(
        stripe.subscription(&sub)["metadata"]["marquee_plan"],
        "premium"
    );
    assert_eq!(Standin::deliver(&hook, &moved), 200);
    assert_eq!(
        held(&server, bob_id),
        Some(("basic".into(), "active".into()))
    );
    assert_eq!(price_paid(&server, bob_id), Some(basic_price.clone()));

    // Moved to a cheap price made in Stripe's dashboard: no plan at all, and the price
    // Marquee does not know is kept.
    let cheap = stripe.dashboard_price(100, "eur", "month");
    let cheap_id = cheap["id"].as_str().unwrap().to_owned();
    let moved = stripe.change_subscription(&sub, |s| s["items"]["data"][0]["price"] = cheap);
    assert_eq!(Standin::deliver(&hook, &moved), 200);
    assert_eq!(held(&server, bob_id).unwrap().1, "ended");
    assert_eq!(price_paid(&server, bob_id), Some(cheap_id));
    assert!(
        server
            .log()
            .contains("pays a price Marquee did not make for a plan"),
        "no warning for the operator"
    );

    // As recorded by a Marquee older than its price list (no price kept), on Basic's price
    // since replaced: the dashboard's price is still not learned, Basic's is, for Basic.
    let known_prices = || -> i64 {
        db(&server)
            .query_row("SELECT count(*) FROM stripe_prices", [], |r| r.get(0))
            .unwrap()
    };
    let forget_prices = || {
        db(&server)
            .execute_batch(&format!(
                "DELETE FROM stripe_prices WHERE price_id = '{basic_price}';
                 UPDATE subscriptions SET stripe_price_id = NULL;"
            ))
            .unwrap()
    };
    forget_prices();
    let before = known_prices();
    let again = stripe.change_subscription(&sub, |s| s["cancel_at_period_end"] = json!(false));
    assert_eq!(Standin::deliver(&hook, &again), 200);
    assert_eq!(held(&server, bob_id).unwrap().1, "ended");
    assert_eq!(known_prices(), before);
    forget_prices();
    let basic = stripe.price(&basic_price);
    let back = stripe.change_subscription(&sub, |s| s["items"]["data"][0]["price"] = basic);
    assert_eq!(Standin::deliver(&hook, &back), 200);
    assert_eq!(
        held(&server, bob_id),
        Some(("basic".into(), "active".into()))
    );
    assert_eq!(known_prices(), before + 1);

    // A rental, paid; its payment disputed: kept while open, ended when lost. (A live
    // film: only titles viewers can see are for sale.)
    let clip = tmp.path().join("rental_film.mp4");
    make_clip(&clip, "320x180", 25, 1.0, false);
    drop_into(&server.inbox(), &clip);
    let film = server.wait_finished("rental film", std::time::Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/titles/{film}/access"),
        Some(
            json!({"level": {"kind": "purchase", "rent": {"amount": 250, "currency": "eur"},
                              "buy": null}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let events = pay(
        &stripe,
        &hook,
        &checkout(&mut bob, &[("title", film.as_str()), ("kind", "rent")]),
    );
    let payment = events[0]["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let rental_ended = || -> Option<i64> {
        db(&server)
            .query_row(
                "SELECT refunded_at FROM purchases WHERE user_id = ?1 AND target_id = ?2",
                rusqlite::params![bob_id, film],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(rental_ended(), None);
    let disputed = stripe.dispute(&payment, 250);
    assert_eq!(Standin::deliver(&hook, &disputed), 200);
    assert_eq!(rental_ended(), None, "an open dispute ended the rental");
    let lost = stripe.close_dispute(&disputed, "lost");
    assert_eq!(Standin::deliver(&hook, &lost), 200);
    assert!(rental_ended().is_some(), "a lost dispute left the rental");
    let (status, dispute): (String, String) = db(&server)
        .query_row(
            "SELECT status, payment_intent FROM stripe_disputes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), dispute), ("lost", payment));
}

/// CRC-32 as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG of a few hundred bytes whose header says `side`×`side` RGB at 16 bits per channel
/// (its checksum right): the attack's small file that would take 240 MB decoded.
fn deep_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(
        encoder,
        &[9u8; 20 * 20 * 6],
        20,
        20,
        image::ExtendedColorType::Rgb16,
    )
    .unwrap();
    out[16..20].copy_from_slice(&side.to_be_bytes());
    out[20..24].copy_from_slice(&side.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn a_small_16_bit_png_of_huge_dimensions_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), Options::default());
    let (status, title) = server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "movie", "name": "Deep"})),
    );
    assert_eq!(status, 201, "{title}");
    let id = title["id"].as_str().unwrap();
    let bytes = deep_png(6320);
    assert!(bytes.len() < 1000);
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .put(format!(
            "{}/api/v1/titles/{id}/artwork/poster",
            server.url()
        ))
        .header("Authorization", &format!("Bearer {}", server.key))
        .header("Content-Type", "image/png")
        .send(&bytes[..])
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(status, 400, "{body}");
    let said = body["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("16 bits per channel"), "{body}");
    let (_, title) = server.call("GET", &format!("/api/v1/titles/{id}"), None);
    assert_eq!(title["artwork"]["poster"], Value::Null, "{title}");
}

/// Bytes free to unprivileged users on the filesystem of `path`, in MB (as Marquee counts).
fn free_mb(path: &std::path::Path) -> u64 {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) / 1_000_000
}

/// Creates an empty tus upload of `size` bytes; status and JSON answer.
fn new_upload(server: &Server, key: &str, size: u64) -> (u16, Value) {
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("{}/api/v1/uploads", server.url()))
        .header("Authorization", &format!("Bearer {key}"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", &size.to_string())
        .send_empty()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

#[test]
fn an_owner_has_at_most_ten_uploads_in_progress_and_stalled_ones_stop_holding_space() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "0").unwrap();
    // About 4,000 MB above the floor, whatever the disk.
    let floor = free_mb(tmp.path())
        .checked_sub(4000)
        .expect("the test needs 4 GB of free disk");
    let server = Server::start_with(
        &data,
        Options {
            ingest: format!("min_free_mb = {floor}\n"),
            tables: "[uploads]\nmax_bytes = 100000000000\n".into(),
            env: vec![(
                "MARQUEE_TEST_CLOCK_FILE".into(),
                clock.display().to_string(),
            )],
            ..Options::default()
        },
    );
    let (ann, bob, cat) = (
        server.key.clone(),
        crate::support::create_api_key(&data),
        crate::support::create_api_key(&data),
    );
    // Ten empty uploads from one owner; the eleventh and twelfth are refused with why.
    for _ in 0..10 {
        let (status, body) = new_upload(&server, &ann, 1_000_000);
        assert_eq!(status, 201, "{body}");
    }
    for _ in 0..2 {
        let (status, body) = new_upload(&server, &ann, 1_000_000);
        assert_eq!(status, 409, "{body}");
        let said = body["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains("10 uploads in progress"), "{body}");
    }
    // Another owner still uploads.
    assert_eq!(new_upload(&server, &bob, 1_000_000).0, 201);
    // A fresh upload holds its space: 3,500 MB declared leaves no room for 1,500 more.
    assert_eq!(new_upload(&server, &cat, 3_500_000_000).0, 201);
    let (status, body) = new_upload(&server, &bob, 1_500_000_000);
    assert_eq!(status, 507, "{body}");
    if !crate::support::has_test_hooks() {
        return; // a release binary does not read the test clock
    }
    // Eleven minutes on, nothing sent: the stalled uploads hold no space and no place.
    std::fs::write(&clock, "660").unwrap();
    let (status, body) = new_upload(&server, &bob, 1_500_000_000);
    assert_eq!(status, 201, "{body}");
    let (status, body) = new_upload(&server, &ann, 1_000_000);
    assert_eq!(status, 201, "{body}");
}
