//! Stripe's events in any order, twice, and across a crash: two servers with the same
//! accounts and plan take the same burst of events from the stand-in. One gets them in
//! order, once. The other gets them shuffled, with duplicates, is killed with `kill -9` in
//! the middle, and after the restart finds the rest by reconciliation (the Events API).
//! Both end with the same subscriptions and purchases, and nothing granted twice.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::stripe::{checkout, session_of};
use crate::stripe_standin::Standin;
use crate::support::{Options, Server, drop_into, make_clip};

/// What the paywall holds, as comparable rows (ids and times from Stripe's objects).
fn holdings(data: &Path) -> (Vec<String>, Vec<String>) {
    let db = rusqlite::Connection::open_with_flags(
        data.join("marquee.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = db.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Null => "null".into(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" "))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    (
        rows(
            "SELECT user_id, plan_id, status, period_end, amount, currency, cancel_at_period_end,
                    trial_end, past_due_since IS NOT NULL, stripe_subscription_id
             FROM subscriptions ORDER BY stripe_subscription_id",
        ),
        rows(
            "SELECT user_id, kind, amount, currency, payment_ref, refunded_at IS NOT NULL
             FROM purchases ORDER BY payment_ref",
        ),
    )
}

fn server_with_members(dir: &Path, stripe: &Standin) -> (std::path::PathBuf, Server) {
    let data = data_with_ann(dir, &[]);
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
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    (data, server)
}

fn signed_in(server: &Server, who: &str) -> Browser {
    let mut b = Browser::new(server.url());
    assert_eq!(
        b.sign_in(&format!("{who}@example.com"), PASSWORD).status,
        303
    );
    b
}

#[test]
fn a_shuffled_burst_with_duplicates_and_a_kill_ends_where_the_ordered_stream_does() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let (data_a, a) = server_with_members(&tmp.path().join("a"), &stripe);
    let (data_b, mut b) = server_with_members(&tmp.path().join("b"), &stripe);

    // Server A sells: a plan and a rental. (Server B has the same accounts and plan; the
    // events name them by id.)
    let clip = tmp.path().join("rental_film.mp4");
    make_clip(&clip, "320x180", 25, 2.0, false);
    drop_into(&a.inbox(), &clip);
    let film = a.wait_finished("rental film", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = a.call(
        "PUT",
        &format!("/api/v1/titles/{film}/access"),
        Some(json!({"level": {"kind": "purchase", "rent": {"amount": 250, "currency": "eur"}, "buy": null}})),
    );
    assert_eq!(status, 200);
    let mut events: Vec<Value> = Vec::new();
    let mut bob = signed_in(&a, "bob");
    let pay = checkout(&mut bob, &film, &[("plan", "club"), ("interval", "month")]);
    events.extend(stripe.complete(&session_of(&pay)));
    let mut cat = signed_in(&a, "cat");
    let pay = checkout(&mut cat, &film, &[("title", &film), ("kind", "rent")]);
    let paid = stripe.complete(&session_of(&pay));
    let pi = paid[0]["data"]["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    events.extend(paid);
    events.push(stripe.refund(&pi));
    let mut dan = signed_in(&a, "dan");
    let pay = checkout(&mut dan, &film, &[("plan", "club"), ("interval", "month")]);
    events.extend(stripe.complete(&session_of(&pay)));
    let subs: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "customer.subscription.created")
        .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    let (bob_sub, dan_sub) = (&subs[0], &subs[1]);
    events.push(stripe.fail_renewal(bob_sub));
    events.push(stripe.change_subscription(bob_sub, |s| s["status"] = json!("active")));
    events.push(stripe.change_subscription(bob_sub, |s| s["cancel_at_period_end"] = json!(true)));
    events.push(stripe.change_subscription(dan_sub, |s| s["status"] = json!("canceled")));
    assert_eq!(events.len(), 10);

    // A: in order, once.
    let hook_a = format!("{}/stripe/webhook", a.url());
    for e in &events {
        assert_eq!(Standin::deliver(&hook_a, e), 200, "{e}");
    }
    let expected = holdings(&data_a);
    assert_eq!(expected.0.len(), 2, "{expected:?}");
    assert_eq!(expected.1.len(), 1, "{expected:?}");
    assert!(
        expected.0[0].starts_with("2 club active ") && expected.0[1].starts_with("4 club ended "),
        "{expected:?}"
    );
    assert!(
        expected.1[0].starts_with("3 rent 250 eur pi_") && expected.1[0].ends_with(" 1"),
        "the rental is refunded: {expected:?}"
    );

    // B holds what A recorded before any event: the Stripe customers made at checkout and
    // the price made for the plan (an object applies only to its customer's member, and a
    // subscription's plan comes from its price).
    let b_db = rusqlite::Connection::open(data_b.join("marquee.db")).unwrap();
    b_db.busy_timeout(Duration::from_secs(10)).unwrap();
    b_db.execute(
        "ATTACH DATABASE ?1 AS a",
        [data_a.join("marquee.db").display().to_string()],
    )
    .unwrap();
    b_db.execute_batch(
        "INSERT INTO main.stripe_customers SELECT * FROM a.stripe_customers;
         INSERT INTO main.stripe_prices SELECT * FROM a.stripe_prices;
         DETACH DATABASE a;",
    )
    .unwrap();
    drop(b_db);

    // B: a fixed shuffle with duplicates (the refund before its payment, the cancellation
    // before the subscription exists, the failure after the recovery), killed halfway.
    let order = [9, 5, 3, 4, 8, 0, 3, 6, 9, 1, 2, 7, 4, 5, 0, 8];
    let hook_b = format!("{}/stripe/webhook", b.url());
    for &i in &order[..8] {
        let status = Standin::deliver(&hook_b, &events[i]);
        // A subscription event can name an account Server B knows only once its
        // checkout arrived; Stripe sends a refused event again later.
        assert!(matches!(status, 200 | 500), "{status}: {}", events[i]);
    }
    b.kill9();
    b.restart();
    // After the restart, reconciliation lists the events and applies those not yet done;
    // the rest of the shuffled stream (duplicates included) arrives meanwhile.
    let hook_b = format!("{}/stripe/webhook", b.url());
    for &i in &order[8..] {
        let status = Standin::deliver(&hook_b, &events[i]);
        assert!(matches!(status, 200 | 500), "{status}: {}", events[i]);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while holdings(&data_b) != expected {
        assert!(
            Instant::now() < deadline,
            "B ended elsewhere:\n{:?}\nA:\n{expected:?}",
            holdings(&data_b)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Everything again, once more: nothing changes, nothing is granted twice.
    for e in &events {
        assert_eq!(Standin::deliver(&hook_b, e), 200, "{e}");
    }
    assert_eq!(holdings(&data_b), expected);
}
