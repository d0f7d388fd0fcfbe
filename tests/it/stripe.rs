//! Buying through Stripe against the local stand-in (`stripe_standin`): a subscription with
//! a trial (once per person), webhooks taken once however often they come and whatever
//! their order, a failed renewal's grace period, a rental bought while the server was down
//! and found by reconciliation, a refund that ends it, and forged webhooks that change
//! nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::paywall::first_code;
use crate::stripe_standin::{Standin, WEBHOOK_SECRET};
use crate::support::{Server, drop_into, make_clip};

pub(crate) fn playable(b: &mut Browser, id: &str) -> bool {
    b.get(&format!("/watch/{id}")).body.contains("data-src=")
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn member_id(server: &Server, email: &str) -> i64 {
    let (_, page) = server.call("GET", &format!("/api/v1/members?q={email}"), None);
    page["items"][0]["id"].as_i64().unwrap()
}

pub(crate) fn why(server: &Server, user: i64, title: &str) -> Value {
    server
        .call(
            "GET",
            &format!("/api/v1/members/{user}/access/{title}"),
            None,
        )
        .1
}

/// Posts the checkout form from the watch page; the address Marquee sends the viewer to.
pub(crate) fn checkout(b: &mut Browser, id: &str, fields: &[(&str, &str)]) -> String {
    let page = b.get(&format!("/watch/{id}"));
    let csrf = page.csrf();
    let back = format!("/watch/{id}");
    let mut form = vec![("csrf", csrf.as_str()), ("back", back.as_str())];
    form.extend_from_slice(fields);
    let sent = b.post("/checkout", &form);
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

pub(crate) fn session_of(pay_url: &str) -> String {
    pay_url.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn subscriptions_rentals_and_refunds_follow_stripe_and_forged_webhooks_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "cat@example.com", &["--role", "viewer"]);
    let mut server = stripe.server(&data);
    let hook = format!("{}/stripe/webhook", server.url());
    // Different lengths: identical files would be taken as one.
    for (name, secs) in [("club_show", 2.0), ("rental_film", 3.0)] {
        let clip = tmp.path().join(format!("{name}.mp4"));
        make_clip(&clip, "320x180", 25, secs, false);
        drop_into(&server.inbox(), &clip);
    }
    let show = server.wait_finished("club show", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let film = server.wait_finished("rental film", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 7, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201);
    for (id, level) in [
        (&show, json!({"kind": "subscribers", "plans": []})),
        (
            &film,
            json!({"kind": "purchase", "rent": {"amount": 250, "currency": "eur"}, "buy": null}),
        ),
    ] {
        let (status, body) = server.call(
            "PUT",
            &format!("/api/v1/titles/{id}/access"),
            Some(json!({ "level": level })),
        );
        assert_eq!(status, 200, "{body}");
    }
    let bob_id = member_id(&server, "bob@example.com");

    // Bob subscribes: a customer, a monthly price, a session with a 7-day trial.
    let mut bob = Browser::new(server.url());
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).status, 303);
    let page = bob.get(&format!("/watch/{show}"));
    assert!(page.body.contains("Start free trial"), "{}", page.body);
    let pay = checkout(&mut bob, &show, &[("plan", "club"), ("interval", "month")]);
    assert!(pay.starts_with(&format!("{}/pay/cs_", stripe.url)), "{pay}");
    let customers = stripe.requests_to("/v1/customers");
    assert_eq!(customers.len(), 1);
    assert!(
        customers[0]
            .1
            .contains(&("email".into(), "bob@example.com".into()))
    );
    let prices = stripe.requests_to("/v1/prices");
    assert!(prices[0].1.contains(&("unit_amount".into(), "799".into())));
    assert!(
        prices[0]
            .1
            .contains(&("recurring[interval]".into(), "month".into()))
    );
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    let form = &sessions[0].1;
    for pair in [
        ("mode", "subscription"),
        ("subscription_data[trial_period_days]", "7"),
        ("subscription_data[metadata][marquee_plan]", "club"),
        ("metadata[marquee_user]", &bob_id.to_string()),
    ] {
        assert!(
            form.contains(&(pair.0.into(), pair.1.into())),
            "{pair:?} in {form:?}"
        );
    }
    let success = form
        .iter()
        .find(|(k, _)| k == "success_url")
        .unwrap()
        .1
        .clone();
    assert!(success.contains("{CHECKOUT_SESSION_ID}"), "{success}");
    assert!(!playable(&mut bob, &show), "nothing before paying");

    // Paid: back from Checkout, Bob plays at once (before any webhook).
    let session = session_of(&pay);
    let events = stripe.complete(&session);
    let back = success
        .replace("{CHECKOUT_SESSION_ID}", &session)
        .replace(server.url(), "");
    let returned = bob.get(&back);
    assert_eq!(
        returned.location.as_deref(),
        Some(format!("/watch/{show}").as_str()),
        "{}",
        returned.body
    );
    assert!(playable(&mut bob, &show));
    assert_eq!(
        why(&server, bob_id, &show)["decision"]["basis"]["kind"],
        "trial"
    );
    // The webhooks, each twice: 200 every time, one subscription.
    for event in events.iter().chain(events.iter()) {
        assert_eq!(Standin::deliver(&hook, event), 200, "{event}");
    }
    let sub = stripe.subscription_ids()[0].clone();

    // Forged or stale deliveries are refused and change nothing.
    let cancelled = json!({"id": "evt_forged", "object": "event", "type": "customer.subscription.deleted",
                           "created": 1, "data": {"object": {"id": sub}}});
    assert_eq!(
        Standin::deliver_signed(&hook, &cancelled, "whsec_guess", crate::support::unix_now()),
        400
    );
    assert_eq!(
        Standin::deliver_signed(
            &hook,
            &cancelled,
            WEBHOOK_SECRET,
            crate::support::unix_now() - 600
        ),
        400
    );
    assert!(playable(&mut bob, &show));

    // The renewal fails: still playing in the 3-day grace period; with no grace, not.
    let failed = stripe.fail_renewal(&sub);
    assert_eq!(Standin::deliver(&hook, &failed), 200);
    // Support sees the failed payment in the member's payment history.
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let member = ann.get(&format!("/admin/members/{bob_id}")).body;
    assert!(
        member.contains("<td>€7.99</td><td><span class=\"badge failed\">open</span>"),
        "{member}"
    );
    assert_eq!(
        why(&server, bob_id, &show)["decision"]["basis"]["kind"],
        "grace"
    );
    let (status, body) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"paywall.past_due_grace_days": 0})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        why(&server, bob_id, &show)["decision"]["reason"]["code"],
        "payment_past_due"
    );
    // Paid after all, then cancelled; an older "active" event arriving late undoes nothing.
    let paid = stripe.change_subscription(&sub, |s| s["status"] = json!("active"));
    let ended = stripe.change_subscription(&sub, |s| s["status"] = json!("canceled"));
    assert_eq!(Standin::deliver(&hook, &ended), 200);
    assert_eq!(Standin::deliver(&hook, &paid), 200);
    assert_eq!(
        why(&server, bob_id, &show)["decision"]["reason"]["code"],
        "no_plan"
    );

    // One trial per person: Bob's next checkout has none.
    checkout(&mut bob, &show, &[("plan", "club"), ("interval", "month")]);
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    assert!(
        !sessions[1]
            .1
            .iter()
            .any(|(k, _)| k == "subscription_data[trial_period_days]"),
        "{:?}",
        sessions[1].1
    );

    // Cat rents the film; the server is down when she pays; reconciliation finds it.
    let mut cat = Browser::new(server.url());
    assert_eq!(cat.sign_in("cat@example.com", PASSWORD).status, 303);
    let pay = checkout(&mut cat, &film, &[("title", &film), ("kind", "rent")]);
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    assert!(sessions[2].1.contains(&(
        "line_items[0][price_data][unit_amount]".into(),
        "250".into()
    )));
    server.kill9();
    let events = stripe.complete(&session_of(&pay));
    server.restart();
    // A new address after the restart; the same session.
    let hook = format!("{}/stripe/webhook", server.url());
    let mut cat = {
        let mut again = Browser::new(server.url());
        again.cookies = cat.cookies.clone();
        again
    };
    wait_until("reconciliation to apply the rental", || {
        playable(&mut cat, &film)
    });
    let pi = events[0]["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    // The webhook arriving late adds no second rental.
    assert_eq!(Standin::deliver(&hook, &events[0]), 200);
    let cat_id = member_id(&server, "cat@example.com");
    assert_eq!(
        why(&server, cat_id, &film)["decision"]["basis"]["kind"],
        "rental"
    );

    // Refunded: the rental ends.
    let refunded = stripe.refund(&pi);
    assert_eq!(Standin::deliver(&hook, &refunded), 200);
    assert!(!playable(&mut cat, &film));
    assert_eq!(
        why(&server, cat_id, &film)["decision"]["reason"]["code"],
        "not_purchased"
    );
}

#[test]
fn in_chromium_one_viewer_redeems_a_code_and_another_pays_at_checkout_and_the_webhook_unlocks() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "cat@example.com", &["--role", "viewer"]);
    let server = stripe.server(&data);
    stripe.set_webhook(&format!("{}/stripe/webhook", server.url()));
    let clip = tmp.path().join("club_night.mp4");
    make_clip(&clip, "320x180", 25, 4.0, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("club night", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201);
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": []}})),
    );
    assert_eq!(status, 200);
    let (status, batch) = server.call(
        "POST",
        "/api/v1/code-batches",
        Some(json!({"name": "Door", "plan": "club", "days": 7, "count": 1})),
    );
    assert_eq!(status, 201, "{batch}");
    let code = first_code(&server, &batch);

    let report = crate::player::browser_check(&[
        "buy.mjs",
        server.url(),
        &id,
        &code,
        "bob@example.com",
        "cat@example.com",
        PASSWORD,
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        ["paywall", "redeemed", "checkout", "subscribed"],
        "{report}"
    );
    assert_eq!(
        report["steps"][0]["reason"],
        "This title is for subscribers."
    );
    // What let each in: Bob's code (a grant), Cat's subscription from the webhook alone
    // (the browser never came back through the success address).
    let bob = member_id(&server, "bob@example.com");
    let cat = member_id(&server, "cat@example.com");
    assert_eq!(why(&server, bob, &id)["decision"]["basis"]["kind"], "grant");
    assert_eq!(why(&server, cat, &id)["decision"]["basis"]["kind"], "plan");
    let session = session_of(report["steps"][2]["at"].as_str().unwrap());
    assert!(
        stripe
            .requests_to(&format!("/v1/checkout/sessions/{session}"))
            .is_empty(),
        "Marquee never read the session back: only the webhook applied it"
    );
}
