//! Issue 11's acceptance walk in Chromium (tests/browser/paywall-walk.mjs): an operator sets
//! up a plan with a trial, a rental price, a pay-per-view premiere and a batch of access
//! codes from the dashboard alone; viewers pay at the Stripe stand-in's Checkout page,
//! redeem a code, rent, buy a ticket and watch; a signed-out visitor meets a paywall on each.
//! Then, outside the browser: the subscriber loses access when the subscription ends, and
//! no premium file is reachable without a token.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{Browser, PASSWORD, created, data_with_ann};
use crate::stripe::{member_id, playable, why};
use crate::stripe_standin::Standin;
use crate::support::{Options, Server, agent, drop_into, make_clip};

#[test]
fn an_operator_sets_up_the_paywall_in_the_dashboard_and_viewers_pay_redeem_and_watch() {
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
    stripe.set_webhook(&format!("{}/stripe/webhook", server.url()));
    // Different lengths: identical files would be taken as one.
    let mut ids = Vec::new();
    for (name, secs) in [
        ("members only", 2.0),
        ("rental film", 2.5),
        ("premiere", 3.0),
    ] {
        let clip = tmp.path().join(format!("{}.mp4", name.replace(' ', "_")));
        make_clip(&clip, "320x180", 25, secs, true);
        drop_into(&server.inbox(), &clip);
        let asset = server.wait_finished(name, Duration::from_secs(120));
        ids.push(asset["id"].as_str().unwrap().to_owned());
    }
    let (club, film, premiere) = (&ids[0], &ids[1], &ids[2]);

    let report = crate::player::browser_check(&[
        "paywall-walk.mjs",
        server.url(),
        "ann@example.com",
        PASSWORD,
        club,
        film,
        premiere,
        "bob@example.com",
        "cat@example.com",
        "dan@example.com",
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        [
            "plan",
            "codes",
            "levels",
            "visitor",
            "subscribed",
            "redeemed",
            "rented",
            "ticket"
        ],
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
    let levels = step("levels");
    assert!(
        levels["club"]
            .as_str()
            .unwrap()
            .contains("Subscribers to any plan (set on this title)"),
        "{levels}"
    );
    assert!(
        levels["film"]
            .as_str()
            .unwrap()
            .contains("Those who rent it (€2.50)"),
        "{levels}"
    );
    assert!(
        levels["premiere"]
            .as_str()
            .unwrap()
            .contains("Ticket holders (€5.00)"),
        "{levels}"
    );
    // The visitor is told what each needs, and shown what it would cost.
    let walls = step("visitor")["walls"].clone();
    for ((wall, offer), needs) in walls
        .as_array()
        .unwrap()
        .iter()
        .zip([
            "Club · €7.99 a month · 7 days free",
            "Rent for €2.50",
            "Ticket: €5.00",
        ])
        .zip([
            "This title is for subscribers.",
            "Rent or buy this title to watch it.",
            "This event needs a ticket.",
        ])
    {
        assert_eq!(wall["reason"], needs, "{walls}");
        assert!(
            wall["offers"].as_str().unwrap().contains(offer),
            "{offer}: {walls}"
        );
    }
    let subscribed = step("subscribed");
    assert!(
        subscribed["offer"]
            .as_str()
            .unwrap()
            .contains("€7.99 a month · 7 days free"),
        "{subscribed}"
    );
    assert!(
        subscribed["paid"].as_str().unwrap().starts_with("799"),
        "{subscribed}"
    );
    assert!(step("rented")["paid"].as_str().unwrap().starts_with("250"));
    assert!(step("ticket")["paid"].as_str().unwrap().starts_with("500"));
    // The checkout asked Stripe for the plan's trial.
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    assert!(
        sessions[0]
            .1
            .contains(&("subscription_data[trial_period_days]".into(), "7".into())),
        "{:?}",
        sessions[0].1
    );

    // What let each in, as support sees it.
    let bob = member_id(&server, "bob@example.com");
    let cat = member_id(&server, "cat@example.com");
    let dan = member_id(&server, "dan@example.com");
    let basis = |user: i64, id: &str| why(&server, user, id)["decision"]["basis"]["kind"].clone();
    assert_eq!(basis(bob, club), "trial");
    assert_eq!(basis(cat, club), "grant");
    assert_eq!(basis(dan, film), "rental");
    assert_eq!(basis(dan, premiere), "ticket");
    assert_eq!(
        why(&server, dan, club)["decision"]["reason"]["code"],
        "no_plan"
    );

    // Nothing premium is reachable without a token: every file of the three packages (but
    // the poster, which is storefront artwork) and the source are refused on the public path,
    // once the packages are encrypted.
    for (name, id) in [
        ("members only", club),
        ("rental film", film),
        ("premiere", premiere),
    ] {
        let asset = server.asset_titled(name).unwrap();
        let dir = server.package_dir(&asset);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(dir.join("master.m3u8")).is_ok_and(|m| m.contains("evideo_"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} was not encrypted"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut files = vec!["source.mp4".to_owned()];
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(
                        path.strip_prefix(&dir)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        assert!(files.iter().any(|f| f.ends_with(".m4s")) && files.contains(&"key.bin".to_owned()));
        for file in files.iter().filter(|f| !f.starts_with("poster")) {
            let url = format!("{}/p/public/{id}/{file}", server.url());
            let status = match agent().get(&url).call() {
                Ok(r) => r.status().as_u16(),
                Err(ureq::Error::StatusCode(code)) => code,
                Err(e) => panic!("{url}: {e}"),
            };
            assert!(matches!(status, 403 | 404), "{url}: {status}");
        }
    }

    // Bob's subscription ends at Stripe: the webhook takes his access away.
    let subs = stripe.subscription_ids();
    assert_eq!(subs.len(), 1);
    let ended = stripe.change_subscription(&subs[0], |s| s["status"] = json!("canceled"));
    assert_eq!(
        Standin::deliver(&format!("{}/stripe/webhook", server.url()), &ended),
        200
    );
    let mut b = Browser::new(server.url());
    assert_eq!(b.sign_in("bob@example.com", PASSWORD).status, 303);
    assert!(!playable(&mut b, club));
    assert_eq!(
        why(&server, bob, club)["decision"]["reason"]["code"],
        "no_plan"
    );
    // Cat's code still plays.
    let mut c = Browser::new(server.url());
    assert_eq!(c.sign_in("cat@example.com", PASSWORD).status, 303);
    assert!(playable(&mut c, club));
}
