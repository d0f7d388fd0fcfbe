//! Offers and price migration against the Stripe stand-in: a coded discount for new members
//! with a cap of one (a coupon on the Checkout Session, counted once the checkout
//! completes), an automatic free period for those without a code, a retention discount a
//! member types on their account page (a coupon put on their running subscription), free
//! days the operator gives, refusals with their reasons, and a plan's subscribers moved to
//! its new price.

use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::stripe::{checkout, member_id, session_of, why};
use crate::stripe_standin::Standin;
use crate::support::{Options, Server, drop_into, make_clip};

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn offer_named(server: &Server, name: &str) -> Value {
    let (_, all) = server.call("GET", "/api/v1/offers", None);
    all.as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no offer {name} in {all}"))
}

/// Pays the session at the stand-in, comes back through the success URL, and delivers
/// Stripe's events; returns the new subscription's id.
fn pay(server: &Server, stripe: &Standin, b: &mut Browser, pay_url: &str) -> String {
    let session = session_of(pay_url);
    let events = stripe.complete(&session);
    let back = format!("/checkout/return?session_id={session}&back=/account");
    assert_eq!(b.get(&back).status, 303);
    for e in &events {
        assert_eq!(
            Standin::deliver(&format!("{}/stripe/webhook", server.url()), e),
            200
        );
    }
    events
        .iter()
        .find(|e| e["type"] == "customer.subscription.created")
        .unwrap()["data"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn typed_offer(b: &mut Browser, code: &str) -> String {
    let csrf = b.get("/account").csrf();
    let sent = b.post("/account/offer", &[("csrf", &csrf), ("offer", code)]);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let to = sent.location.unwrap();
    b.get(&to).body
}

#[test]
fn offers_discount_checkouts_and_subscriptions_and_a_migration_moves_subscribers_to_the_new_price()
{
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    for who in ["bob", "cat", "dan"] {
        created(&data, &format!("{who}@example.com"), &["--role", "viewer"]);
    }
    let server = Server::start_with(
        &data,
        Options {
            tables: stripe.config(),
            ..Options::default()
        },
    );
    let clip = tmp.path().join("club_show.mp4");
    make_clip(&clip, "320x180", 25, 2.0, false);
    drop_into(&server.inbox(), &clip);
    let show = server.wait_finished("club show", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{show}/access"),
        Some(json!({"level": {"kind": "subscribers", "plans": []}})),
    );
    assert_eq!(status, 200);

    // Offers as an operator makes them; bad ones are refused with the reason.
    let offers = [
        json!({"name": "Welcome", "code": "welcome50", "kind": "percent", "value": 50,
               "duration": "repeating", "duration_months": 3, "audience": "new",
               "max_redemptions": 1}),
        json!({"name": "Stay", "code": "STAY", "kind": "fixed", "value": 200, "currency": "eur",
               "duration": "once", "audience": "existing"}),
        json!({"name": "Door", "code": "DOOR10", "kind": "percent", "value": 10,
               "duration": "once", "audience": "new"}),
        json!({"name": "Autumn", "kind": "free_period", "value": 14, "duration": "once",
               "audience": "new"}),
    ];
    for offer in &offers {
        let (status, body) = server.call("POST", "/api/v1/offers", Some(offer.clone()));
        assert_eq!(status, 201, "{body}");
    }
    for (bad, why_refused) in [
        (
            json!({"name": "Too much", "kind": "percent", "value": 150, "duration": "once", "audience": "new"}),
            "1 to 100",
        ),
        (
            json!({"name": "Again", "code": "Stay", "kind": "percent", "value": 5, "duration": "once", "audience": "new"}),
            "already has the code",
        ),
        (
            json!({"name": "No money", "kind": "fixed", "value": 5, "duration": "once", "audience": "new"}),
            "currency",
        ),
        (
            json!({"name": "Nowhere", "kind": "percent", "value": 5, "duration": "once", "audience": "new", "plan_ids": ["gold"]}),
            "no plan",
        ),
    ] {
        let (status, body) = server.call("POST", "/api/v1/offers", Some(bad));
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(why_refused),
            "{body}"
        );
    }
    assert_eq!(
        offer_named(&server, "Welcome")["gives"],
        "50 % off for 3 months"
    );

    // Bob, new, sees the automatic offer and subscribes with the code instead: Checkout
    // carries a 50 %, 3-month coupon and no trial.
    let mut bob = Browser::new(server.url());
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).status, 303);
    let page = bob.get(&format!("/watch/{show}"));
    assert!(page.body.contains("Offer: 14 days free"), "{}", page.body);
    let pay_url_bob = checkout(
        &mut bob,
        &show,
        &[
            ("plan", "club"),
            ("interval", "month"),
            ("offer", " Welcome50 "),
        ],
    );
    let coupons = stripe.requests_to("/v1/coupons");
    assert_eq!(coupons.len(), 1);
    let coupon_form = &coupons[0].1;
    assert_eq!(field(coupon_form, "percent_off"), Some("50"));
    assert_eq!(field(coupon_form, "duration"), Some("repeating"));
    assert_eq!(field(coupon_form, "duration_in_months"), Some("3"));
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    let form = &sessions[0].1;
    assert!(
        field(form, "discounts[0][coupon]").is_some_and(|c| c.starts_with("coupon_")),
        "{form:?}"
    );
    assert_eq!(field(form, "subscription_data[trial_period_days]"), None);
    assert!(
        field(form, "expires_at").is_some(),
        "an offer's session expires within the hour"
    );
    // The coupon carries the cap, so Stripe would refuse a second redemption too.
    assert_eq!(field(coupon_form, "max_redemptions"), Some("1"));
    // Reserved as Checkout starts: the cap of one is taken before Bob pays.
    assert_eq!(offer_named(&server, "Welcome")["redemptions"], 1);

    // Cat: the code's only place is Bob's, unpaid or not; a made-up code is refused as
    // such; without a code, the automatic 14 days apply. Cat clicks twice: the first
    // session is expired at Stripe, so only one can be paid with the offer.
    let mut cat = Browser::new(server.url());
    assert_eq!(cat.sign_in("cat@example.com", PASSWORD).status, 303);
    let back = format!("/watch/{show}");
    let with_code = |b: &mut Browser, code: &str| {
        let csrf = b.get("/account").csrf();
        b.post(
            "/checkout",
            &[
                ("csrf", &csrf),
                ("back", &back),
                ("plan", "club"),
                ("interval", "month"),
                ("offer", code),
            ],
        )
    };
    let refused = with_code(&mut cat, "WELCOME50");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("fully taken"), "{}", refused.body);
    let refused = with_code(&mut cat, "NOSUCHCODE");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("no offer has this code"),
        "{}",
        refused.body
    );
    let first = checkout(&mut cat, &show, &[("plan", "club"), ("interval", "month")]);
    let pay_url = checkout(&mut cat, &show, &[("plan", "club"), ("interval", "month")]);
    assert_ne!(first, pay_url);
    let expired = stripe.requests_to(&format!(
        "/v1/checkout/sessions/{}/expire",
        session_of(&first)
    ));
    assert_eq!(expired.len(), 1, "the first session was expired");
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    let form = &sessions.last().unwrap().1;
    assert_eq!(
        field(form, "subscription_data[trial_period_days]"),
        Some("14")
    );
    assert_eq!(field(form, "discounts[0][coupon]"), None);
    assert_eq!(
        offer_named(&server, "Autumn")["redemptions"],
        1,
        "one place for two clicks"
    );
    let cat_sub = pay(&server, &stripe, &mut cat, &pay_url);
    assert_eq!(offer_named(&server, "Autumn")["redemptions"], 1);
    let bob_sub = pay(&server, &stripe, &mut bob, &pay_url_bob);
    assert_eq!(offer_named(&server, "Welcome")["redemptions"], 1);
    assert_eq!(
        stripe.subscription(&bob_sub)["discounts"][0]["coupon"]["percent_off"],
        50
    );
    // A member uses no offer at checkout: it belongs on the account page.
    let refused = with_code(&mut bob, "STAY");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("account page"), "{}", refused.body);

    // Bob, now a member, types the retention code: a 2 EUR coupon on his subscription.
    // Twice: refused the second time. Dan has no subscription: refused, nothing applied.
    let page = typed_offer(&mut bob, "stay");
    assert!(
        page.contains("Your offer is on your subscription."),
        "{page}"
    );
    let updates = stripe.requests_to(&format!("/v1/subscriptions/{bob_sub}"));
    let posted: Vec<_> = updates.iter().filter(|(m, _)| m == "POST").collect();
    assert_eq!(posted.len(), 1, "{updates:?}");
    // The sign-up discount is sent back with the new one: nothing is taken away.
    assert!(field(&posted[0].1, "discounts[0][discount]").is_some_and(|d| d.starts_with("di_")));
    let coupon = field(&posted[0].1, "discounts[1][coupon]")
        .unwrap()
        .to_owned();
    let sub = stripe.subscription(&bob_sub);
    assert_eq!(sub["discounts"][0]["coupon"]["percent_off"], 50, "{sub}");
    assert_eq!(sub["discounts"][1]["coupon"]["id"], coupon.as_str());
    assert_eq!(sub["discounts"][1]["coupon"]["amount_off"], 200);
    assert_eq!(sub["discounts"][1]["coupon"]["currency"], "eur");
    let page = typed_offer(&mut bob, "STAY");
    assert!(
        page.contains("You have taken that offer already."),
        "{page}"
    );
    let mut dan = Browser::new(server.url());
    assert_eq!(dan.sign_in("dan@example.com", PASSWORD).status, 303);
    // Stripe cannot confirm a session on the way back (here: one it does not know): the
    // viewer gets a page that says the payment is being confirmed, not an error.
    let back = dan.get(&format!(
        "/checkout/return?session_id=cs_gone&back=/watch/{show}"
    ));
    assert_eq!(back.status, 303);
    let to = back.location.unwrap();
    assert_eq!(to, format!("/watch/{show}?checkout=pending"));
    assert!(
        dan.get(&to)
            .body
            .contains("your payment is being confirmed")
    );
    let page = typed_offer(&mut dan, "STAY");
    assert!(
        page.contains("for members with a current subscription"),
        "{page}"
    );
    // Dan starts a checkout (the automatic offer is reserved for him) and walks away: when
    // the session expires, its place goes back.
    let before = offer_named(&server, "Autumn")["redemptions"]
        .as_i64()
        .unwrap();
    let abandoned = checkout(&mut dan, &show, &[("plan", "club"), ("interval", "month")]);
    assert_eq!(offer_named(&server, "Autumn")["redemptions"], before + 1);
    let expired = stripe.expire(&session_of(&abandoned));
    assert_eq!(
        Standin::deliver(&format!("{}/stripe/webhook", server.url()), &expired),
        200
    );
    assert_eq!(offer_named(&server, "Autumn")["redemptions"], before);
    let page = typed_offer(&mut dan, "<script>x</script>");
    assert!(page.contains("No offer has that code."), "{page}");
    assert!(!page.contains("<script>x"), "nothing typed is echoed");
    // Guessing codes (one so far): the fifth wrong one locks the account, wherever typed.
    // A known code refused, and a checkout started with a good code, clear nothing.
    for code in ["GUESS1", "GUESS2"] {
        let refused = with_code(&mut dan, code);
        assert!(
            refused.body.contains("no offer has this code"),
            "{}",
            refused.body
        );
    }
    let started = with_code(&mut dan, "door10");
    assert_eq!(started.status, 303, "{}", started.body);
    let refused = with_code(&mut dan, "WELCOME50");
    assert!(refused.body.contains("fully taken"), "{}", refused.body);
    let refused = with_code(&mut dan, "GUESS3");
    assert!(
        refused.body.contains("no offer has this code"),
        "{}",
        refused.body
    );
    let page = typed_offer(&mut dan, "GUESS4");
    assert!(page.contains("No offer has that code."), "{page}");
    let page = typed_offer(&mut dan, "STAY");
    assert!(page.contains("Too many wrong codes"), "{page}");
    let refused = with_code(&mut dan, "door10");
    assert!(
        refused.body.contains("Too many wrong codes"),
        "{}",
        refused.body
    );
    assert_eq!(offer_named(&server, "Stay")["redemptions"], 1);

    // The operator makes a retention offer in the dashboard and gives Cat 30 free days
    // from her member page: her subscription's next charge moves 30 days on.
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let csrf = ann.get("/admin/paywall").csrf();
    let made = ann.post(
        "/admin/paywall/offers",
        &[
            ("csrf", &csrf),
            ("name", "Thanks"),
            ("code", ""),
            ("kind", "free_period"),
            ("value", "30"),
            ("currency", ""),
            ("duration", "once"),
            ("months", ""),
            ("audience", "existing"),
            ("plans", "club"),
            ("starts_at", ""),
            ("ends_at", ""),
            ("cap", ""),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    let page = ann.get("/admin/paywall").body;
    assert!(
        page.contains("30 days free") && page.contains("Existing members of Club"),
        "{page}"
    );
    let cat_id = member_id(&server, "cat@example.com");
    let before = stripe.subscription(&cat_sub)["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let thanks = offer_named(&server, "Thanks")["id"].as_i64().unwrap();
    let member_page = ann.get(&format!("/admin/members/{cat_id}")).body;
    assert!(
        member_page.contains("Thanks: 30 days free"),
        "{member_page}"
    );
    let given = ann.post(
        &format!("/admin/members/{cat_id}/offers"),
        &[("csrf", &csrf), ("offer_id", &thanks.to_string())],
    );
    assert_eq!(given.status, 303, "{}", given.body);
    let after = stripe.subscription(&cat_sub)["trial_end"].as_i64().unwrap();
    assert_eq!(after, before + 30 * 86_400);
    let answer = why(&server, cat_id, &show);
    assert_eq!(answer["decision"]["until"], after, "{answer}");
    // A new-member offer cannot be given to her.
    let welcome = offer_named(&server, "Welcome")["id"].as_i64().unwrap();
    let (status, body) = server.call(
        "POST",
        &format!("/api/v1/members/{cat_id}/offers"),
        Some(json!({"offer_id": welcome})),
    );
    assert_eq!(status, 400, "{body}");

    // The price goes up: subscribers keep 7.99 until the operator migrates them; then
    // Stripe bills the new price from the next invoice (no proration).
    let (status, _) = server.call(
        "PUT",
        "/api/v1/plans/club",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 999,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 200);
    let bob_id = member_id(&server, "bob@example.com");
    assert_eq!(
        stripe.subscription(&bob_sub)["items"]["data"][0]["price"]["unit_amount"],
        799
    );
    let page = ann.get("/admin/paywall").body;
    assert!(page.contains("2 subscribers pay an older price"), "{page}");
    let moved = ann.post("/admin/paywall/plans/club/migrate", &[("csrf", &csrf)]);
    assert_eq!(moved.status, 303, "{}", moved.body);
    let page = ann.get(&moved.location.unwrap()).body;
    assert!(
        page.contains("2 subscribers moved to the current price; 0 refused"),
        "{page}"
    );
    for sub in [&bob_sub, &cat_sub] {
        let s = stripe.subscription(sub);
        assert_eq!(s["items"]["data"][0]["price"]["unit_amount"], 999, "{s}");
        let update = stripe
            .requests_to(&format!("/v1/subscriptions/{sub}"))
            .into_iter()
            .rev()
            .find(|(m, _)| m == "POST")
            .unwrap();
        assert_eq!(field(&update.1, "proration_behavior"), Some("none"));
    }
    // Nothing left to move: a second click changes nothing.
    let (_, report) = server.call("POST", "/api/v1/plans/club/migrate", None);
    assert_eq!(report["migrated"], 0);
    assert_eq!(why(&server, bob_id, &show)["decision"]["result"], "allowed");
}
