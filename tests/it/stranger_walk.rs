//! Issue 23's acceptance walk in Chromium on a phone (tests/browser/stranger-walk.mjs),
//! against the real server, the Stripe stand-in and the SMTP sink: the operator sees that
//! no one can pay until the Stripe keys are saved and tests the connection; a stranger
//! sees the paid titles, starts a free trial from a title page, pays at Checkout with a new
//! email, comes back signed in and plays, sets a password from the welcome email and signs
//! in with it elsewhere; a second stranger makes a free account from a "registered"
//! title's paywall through the emailed link and plays it; the operator finds both in
//! Members, the first with the trial. axe-core finds nothing serious on the shop's pages.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{PASSWORD, data_with_ann};
use crate::stripe::{member_id, why};
use crate::stripe_standin::{SECRET_KEY, Standin, WEBHOOK_SECRET};
use crate::support::{Options, Server, SmtpCapture, drop_into, make_clip};

const FIRST: &str = "first.stranger@example.com";
const SECOND: &str = "second.stranger@example.com";
const NEW_PASSWORD: &str = "a password of my own choosing";

/// A title made from a clip, at `level`.
fn title(
    server: &Server,
    dir: &std::path::Path,
    name: &str,
    secs: f64,
    level: serde_json::Value,
) -> String {
    let clip = dir.join(format!("{}.mp4", name.replace(' ', "_")));
    make_clip(&clip, "320x180", 25, secs, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished(name, Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({ "level": level })),
    );
    assert_eq!(status, 200, "{body}");
    id
}

#[test]
fn strangers_subscribe_or_sign_up_on_a_phone_and_the_operator_sees_them() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let smtp = SmtpCapture::start();
    let data = data_with_ann(tmp.path(), &[]);
    // Only where Stripe answers is in the settings file: the keys are the operator's to save.
    let server = Server::start_with(
        &data,
        Options {
            tables: format!("[stripe]\napi_base = \"{}\"\n{}", stripe.url, smtp.config()),
            ..Options::default()
        },
    );
    stripe.set_webhook(&format!("{}/stripe/webhook", server.url()));
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 7, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    // Different lengths: identical files would be taken as one.
    let club = title(
        &server,
        tmp.path(),
        "members film",
        2.0,
        json!({"kind": "subscribers", "plans": ["club"]}),
    );
    let free = title(
        &server,
        tmp.path(),
        "free film",
        2.5,
        json!({"kind": "registered"}),
    );

    // The browser reads the emails the sink gets from files, one per email.
    let mail_dir = tmp.path().join("mail");
    std::fs::create_dir(&mail_dir).unwrap();
    let mail_arg = mail_dir.to_string_lossy().into_owned();
    let args: [&str; 12] = [
        "stranger-walk.mjs",
        server.url(),
        "ann@example.com",
        PASSWORD,
        &club,
        &free,
        FIRST,
        SECOND,
        NEW_PASSWORD,
        SECRET_KEY,
        WEBHOOK_SECRET,
        &mail_arg,
    ];
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let browser = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::player::browser_check(&args)
    });
    let mut written = 0;
    while !browser.is_finished() {
        for mail in smtp.mails().iter().skip(written) {
            // Whole or not at all: written aside, then renamed.
            let part = mail_dir.join("part");
            std::fs::write(
                &part,
                format!("To: {}\r\n{}", mail.to.join(", "), mail.data),
            )
            .unwrap();
            std::fs::rename(&part, mail_dir.join(format!("{written:03}.eml"))).unwrap();
            written += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = browser.join().unwrap();
    assert_eq!(
        crate::player::step_names(&report),
        [
            "banner before stripe",
            "stripe set and tested",
            "home shows what is paid",
            "start free trial",
            "paid at checkout",
            "signed in and plays",
            "password from the welcome email",
            "signed in on a second browser",
            "free account from the paywall",
            "operator sees the members and the trial",
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
    assert!(
        step("stripe set and tested")["tested"]
            .as_str()
            .unwrap()
            .contains("Stripe accepted the secret key"),
        "{report}"
    );
    assert_eq!(
        step("home shows what is paid")["mark"],
        "Included with Club",
        "{report}"
    );
    // Checkout asked for the plan's price, in its currency, with its 7-day trial.
    assert!(
        step("paid at checkout")["asked"].as_str().unwrap() == "799 \"eur\"",
        "{report}"
    );
    let sessions = stripe.requests_to("/v1/checkout/sessions");
    assert_eq!(sessions.len(), 1);
    assert!(
        sessions[0]
            .1
            .contains(&("subscription_data[trial_period_days]".into(), "7".into())),
        "{:?}",
        sessions[0].1
    );
    assert_eq!(
        step("signed in on a second browser")["trial"],
        true,
        "the account page names the trial: {report}"
    );
    assert_eq!(
        step("free account from the paywall")["reason"],
        "Create a free account, or sign in, to watch this.",
        "{report}"
    );
    for page in ["home", "title", "plans", "signup", "paywall", "account"] {
        assert_eq!(report["axe"][page], json!([]), "{page}: {report}");
    }

    // What let each in, as support sees it.
    let first = member_id(&server, FIRST);
    let second = member_id(&server, SECOND);
    assert_eq!(
        why(&server, first, &club)["decision"]["basis"]["kind"],
        "trial"
    );
    assert_eq!(
        why(&server, second, &free)["decision"]["basis"]["kind"],
        "signed_in"
    );
    assert_eq!(
        why(&server, second, &club)["decision"]["reason"]["code"],
        "no_plan"
    );
}
