//! A viewer's own account on the real server (SMTP sink, Stripe stand-in): changing their
//! name, email (only once the link at the new address is opened) and password (the
//! current one first; other sessions end); what they hold, their receipts and history by
//! name; "My list" and its home rail; their data as a file; the confirmation after a
//! code; and deleting the account (with the password, or by an emailed link without
//! one), which cancels at Stripe and leaves no personal data in either database nor in a
//! backup made afterwards.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann, signed_in};
use crate::paywall::{csrf_meta, first_code};
use crate::stripe::{checkout, member_id, session_of};
use crate::stripe_standin::Standin;
use crate::support::{CapturedMail, Options, Server, SmtpCapture, bin, drop_into, make_clip};

const NEW_PASSWORD: &str = "a much longer passphrase now";

/// A link in a captured email: its path on the server (quoted-printable breaks undone).
fn link_in(mail: &CapturedMail, prefix: &str) -> String {
    let text = mail.data.replace("=\r\n", "");
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

fn mails_to(smtp: &SmtpCapture, email: &str) -> Vec<CapturedMail> {
    smtp.mails()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.contains(email)))
        .collect()
}

fn wait_for_mail(smtp: &SmtpCapture, email: &str, containing: &str) -> CapturedMail {
    for _ in 0..100 {
        let text = |m: &CapturedMail| m.data.replace("=\r\n", "");
        if let Some(m) = mails_to(smtp, email)
            .into_iter()
            .find(|m| text(m).contains(containing))
        {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no mail to {email} with {containing:?}: {:?}", smtp.mails());
}

/// What the page says where a person reads it: the text of `<p class="notice">` and
/// `<p class="error">`.
fn said(body: &str) -> String {
    body.split("<p class=\"")
        .skip(1)
        .filter(|p| p.starts_with("notice") || p.starts_with("error"))
        .map(|p| p[p.find('>').unwrap() + 1..p.find("</p>").unwrap()].to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Follows a redirect to the account page and returns what it says.
fn after(browser: &mut Browser, answer: &crate::accounts::Page) -> String {
    assert_eq!(answer.status, 303, "{}", answer.body);
    let to = answer.location.clone().unwrap();
    assert!(to.starts_with("/account"), "{to}");
    said(&browser.get(&to).body)
}

#[test]
fn a_member_changes_their_name_email_and_password() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let mut bob = signed_in(&server, "bob@example.com");
    let mut bobs_phone = signed_in(&server, "bob@example.com");

    // The name: saved and shown; a name with a control character changes nothing.
    let csrf = bob.get("/account").csrf();
    let answer = bob.post(
        "/account/name",
        &[("csrf", &csrf), ("name", "Robert Quill")],
    );
    assert_eq!(after(&mut bob, &answer), "Your name is saved.");
    assert!(
        bob.get("/account")
            .body
            .contains("<strong>Robert Quill</strong>")
    );
    let answer = bob.post(
        "/account/name",
        &[("csrf", &csrf), ("name", "Bad\u{7}name")],
    );
    assert!(after(&mut bob, &answer).contains("without control characters"));
    // The page says only what the server wrote: a link cannot put words on it.
    assert_eq!(said(&bob.get("/account?error=Call+555-0100+now").body), "");
    assert!(
        bob.get("/account")
            .body
            .contains("<strong>Robert Quill</strong>")
    );

    // The email: the wrong password changes nothing and sends nothing.
    let new = "robert@example.net";
    let form = |password: &'static str, email: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("email", email.to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let post = |b: &mut Browser, f: Vec<(&str, String)>| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post("/account/email", &pairs)
    };
    let answer = post(&mut bob, form("not my password", new));
    assert!(
        after(&mut bob, &answer).contains("not your current password"),
        "{}",
        answer.body
    );
    // The right one: a link goes to the new address; until it is opened, nothing changes.
    let answer = post(&mut bob, form(PASSWORD, new));
    assert!(after(&mut bob, &answer).contains("We sent a link to the new address"));
    let mail = wait_for_mail(&smtp, new, "/account/email/");
    assert!(bob.get("/account").body.contains("(bob@example.com)"));
    assert_eq!(
        Browser::new(server.url()).sign_in(new, PASSWORD).status,
        401
    );
    // Another member's address: the page says the same; that member is told, no link.
    let answer = post(&mut bob, form(PASSWORD, "ann@example.com"));
    assert!(after(&mut bob, &answer).contains("We sent a link to the new address"));
    let told = wait_for_mail(&smtp, "ann@example.com", "already have an account");
    assert!(!told.data.contains("/account/email/"));

    // The link, opened (in any browser): the address changes; the old one is told.
    let path = link_in(&mail, "/account/email/").replace(server.url(), "");
    let mut anyone = Browser::new(server.url());
    let confirm = anyone.get(&path);
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let csrf_link = confirm.csrf();
    let done = anyone.post(&path, &[("csrf", &csrf_link)]);
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(new), "{}", done.body);
    let notice = wait_for_mail(&smtp, "bob@example.com", "was changed to");
    assert!(notice.data.replace("=\r\n", "").contains(new));
    assert_eq!(anyone.get(&path).status, 404, "a link works once");
    assert!(bob.get("/account").body.contains(&format!("({new})")));
    assert_eq!(
        Browser::new(server.url()).sign_in(new, PASSWORD).status,
        303
    );
    assert_eq!(
        Browser::new(server.url())
            .sign_in("bob@example.com", PASSWORD)
            .status,
        401
    );

    // The password: the wrong current one changes nothing, and the phone stays in.
    let pw = |current: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current", current.to_owned()),
            ("password", NEW_PASSWORD.to_owned()),
            ("confirm", NEW_PASSWORD.to_owned()),
        ]
    };
    let post_pw = |b: &mut Browser, f: Vec<(&str, String)>| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post("/account/password", &pairs)
    };
    let answer = post_pw(&mut bob, pw("wrong horse"));
    assert!(after(&mut bob, &answer).contains("not your current password"));
    assert_eq!(bobs_phone.get("/account").status, 200);
    assert_eq!(
        Browser::new(server.url()).sign_in(new, PASSWORD).status,
        303
    );
    // The right one: changed; this browser stays signed in, the phone is signed out.
    let answer = post_pw(&mut bob, pw(PASSWORD));
    assert!(after(&mut bob, &answer).contains("Every other device was signed out"));
    assert_eq!(bob.get("/account").status, 200);
    assert_eq!(bobs_phone.get("/account").status, 303);
    assert_eq!(
        Browser::new(server.url()).sign_in(new, PASSWORD).status,
        401
    );
    assert_eq!(
        Browser::new(server.url()).sign_in(new, NEW_PASSWORD).status,
        303
    );

    // Deleting the account leaves neither the address it had before nor its names: not
    // the sign-in counters of the old address, its mail budget, nor the audit entries of
    // the changes (found by attacking a release build).
    let csrf = bob.get("/account").csrf();
    let gone = bob.post(
        "/account/delete",
        &[("csrf", &csrf), ("password", NEW_PASSWORD)],
    );
    assert_eq!(gone.status, 303, "{}", gone.body);
    let backup = backup_bytes(&data, &dir.path().join("after.tar.zst"));
    for (what, bytes) in [
        ("marquee.db", bytes_of(&data.join("marquee.db"))),
        ("a backup made afterwards", backup),
    ] {
        for needle in ["bob@example.com", "Robert Quill", new] {
            assert!(
                !holds(&bytes, needle),
                "{needle} in {what} {:?}",
                found_at(&bytes, needle)
            );
        }
    }
}

/// "6 January" as the server writes a day within the coming months.
pub fn day_of(secs: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
    format!("{} {}", at.day(), at.month())
}

/// Every byte of `path` and of its write-ahead log.
fn bytes_of(path: &Path) -> Vec<u8> {
    let mut all = std::fs::read(path).unwrap();
    let wal = path.with_extension("db-wal");
    if let Ok(more) = std::fs::read(wal) {
        all.extend(more);
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    found_at(haystack, needle).is_some()
}

/// Where `needle` is in `haystack` (case ignored), with the bytes around it.
fn found_at(haystack: &[u8], needle: &str) -> Option<String> {
    let at = haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))?;
    let around = &haystack[at.saturating_sub(80)..(at + needle.len() + 80).min(haystack.len())];
    Some(format!(
        "at byte {at}: {:?}",
        String::from_utf8_lossy(around)
    ))
}

/// The uncompressed bytes of a backup archive (a tar in zstd: the databases are in it
/// as they are).
fn backup_bytes(data: &Path, to: &Path) -> Vec<u8> {
    let out = std::process::Command::new(bin())
        .args(["backup", "--to", to.to_str().unwrap(), "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut raw = Vec::new();
    zstd::Decoder::new(std::fs::File::open(to).unwrap())
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    raw
}

#[test]
fn a_member_sees_what_they_hold_by_name_keeps_a_list_takes_their_data_and_deletes_the_account() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "cat@example.com", &["--role", "viewer"]);
    let server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "{}\n[webhooks]\n{}",
                stripe.config(),
                crate::webhooks::ALLOW_LOOPBACK
            ),
            ..Options::default()
        },
    );
    let hook = format!("{}/stripe/webhook", server.url());
    for (name, secs) in [("kelp_forest", 2.0), ("tide_pools", 3.0)] {
        let clip = tmp.path().join(format!("{name}.mp4"));
        make_clip(&clip, "320x180", 25, secs, false);
        drop_into(&server.inbox(), &clip);
    }
    let mut ids = Vec::new();
    for (found, name) in [("kelp forest", "Kelp Forest"), ("tide pools", "Tide Pools")] {
        let id = server.wait_finished(found, Duration::from_secs(120))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = server.call(
            "PATCH",
            &format!("/api/v1/titles/{id}"),
            Some(json!({ "name": name })),
        );
        assert_eq!(status, 200, "{body}");
        ids.push(id);
    }
    let (kelp, tide) = (ids[0].clone(), ids[1].clone());
    let (status, _) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Explorer", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": 0, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201);
    for (id, level) in [
        (
            &kelp,
            json!({"kind": "purchase", "rent": {"amount": 299, "currency": "eur"}, "buy": null}),
        ),
        (&tide, json!({"kind": "subscribers", "plans": []})),
    ] {
        let (status, body) = server.call(
            "PUT",
            &format!("/api/v1/titles/{id}/access"),
            Some(json!({ "level": level })),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server.call(
        "POST",
        "/api/v1/rails",
        Some(json!({"kind": "my_list", "name": "Saved for later"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, endpoint) = server.call(
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["member.deleted"]})),
    );
    assert_eq!(status, 201, "{endpoint}");
    let bob_id = member_id(&server, "bob@example.com");

    // Bob subscribes to Explorer and rents Kelp Forest at the stand-in.
    let mut bob = signed_in(&server, "bob@example.com");
    let pay = checkout(
        &mut bob,
        &tide,
        &[("plan", "explorer"), ("interval", "month")],
    );
    for event in stripe.complete(&session_of(&pay)) {
        assert_eq!(Standin::deliver(&hook, &event), 200, "{event}");
    }
    let sub = stripe.subscription_ids()[0].clone();
    let pay = checkout(&mut bob, &kelp, &[("title", &kelp), ("kind", "rent")]);
    for event in stripe.complete(&session_of(&pay)) {
        assert_eq!(Standin::deliver(&hook, &event), 200, "{event}");
    }
    // A code for 30 days of Explorer: the account page says what it gave, in words.
    let (status, batch) = server.call(
        "POST",
        "/api/v1/code-batches",
        Some(json!({"name": "Gift", "plan": "explorer", "days": 30, "count": 1})),
    );
    assert_eq!(status, 201, "{batch}");
    let code = first_code(&server, &batch);
    let csrf = bob.get("/account").csrf();
    let redeemed = bob.post(
        "/redeem",
        &[("csrf", &csrf), ("code", &code), ("next", "/account")],
    );
    let until = crate::support::unix_now() + 30 * 86_400;
    let sentence = after(&mut bob, &redeemed);
    assert!(
        sentence == format!("Explorer is yours until {}.", day_of(until))
            || sentence == format!("Explorer is yours until {}.", day_of(until + 60)),
        "{sentence}"
    );
    let answer = bob.post(
        "/account/name",
        &[("csrf", &csrf), ("name", "Bobby Tablesworth")],
    );
    assert_eq!(after(&mut bob, &answer), "Your name is saved.");

    // He watches some of Tide Pools.
    let watch = bob.get(&format!("/watch/{tide}"));
    let saved = bob.post_json(
        &format!("/watch/{tide}/progress"),
        &csrf_meta(&watch.body),
        r#"{"position": 1.5, "duration": 3}"#,
    );
    assert_eq!(saved.status, 204, "{}", saved.body);

    // My list: the title page links to a page of his own that says and changes it.
    assert!(
        bob.get(&format!("/title/{kelp}"))
            .body
            .contains(&format!("href=\"/my-list/{kelp}\""))
    );
    let mine = bob.get(&format!("/my-list/{kelp}"));
    assert!(mine.body.contains("is not on your list"), "{}", mine.body);
    let add = bob.post(
        &format!("/my-list/{kelp}"),
        &[("csrf", &mine.csrf()), ("action", "add")],
    );
    assert_eq!(add.status, 303);
    let page = bob.get(add.location.as_deref().unwrap()).body;
    assert_eq!(said(&page), "Kelp Forest is on your list.");
    let home = bob.get("/").body.replace("&#x2f;", "/");
    let rail = home.find("Saved for later").expect("the rail shows");
    assert!(home[rail..].contains(&format!("/title/{kelp}")), "{home}");
    // Not for anyone else, nor signed out.
    let mut cat = signed_in(&server, "cat@example.com");
    assert!(!cat.get("/").body.contains("Saved for later"));
    assert!(
        !Browser::new(server.url())
            .get("/")
            .body
            .contains("Saved for later")
    );
    // Taken off from the account page; the rail goes; saved again.
    let remove = bob.post(
        &format!("/my-list/{kelp}"),
        &[("csrf", &csrf), ("action", "remove"), ("next", "/account")],
    );
    assert_eq!(after(&mut bob, &remove), "Taken off your list.");
    assert!(!bob.get("/").body.contains("Saved for later"));
    let add = bob.post(
        &format!("/my-list/{kelp}"),
        &[("csrf", &csrf), ("action", "add")],
    );
    assert_eq!(add.status, 303);

    // The account page: plans, rental, code, history and list by name; days as days;
    // money formatted; no id anywhere in what it says.
    let account = bob.get("/account").body;
    let renews = day_of(crate::support::unix_now() + 30 * 86_400);
    for line in [
        format!("Explorer: €7.99 a month, renews {renews}"),
        "Rental of Kelp Forest: ".to_owned(),
        "hours from your first play (€2.99, ".to_owned(),
        format!("Explorer: yours until {}", day_of(until)),
        "Tide Pools: watched 0 of 1 min".to_owned(),
        ">Kelp Forest</a>".to_owned(),
    ] {
        assert!(account.contains(&line), "{line:?} in {account}");
    }
    let access = &account[account.find("<ul class=\"access\">").unwrap()..];
    let access = &access[..access.find("</ul>").unwrap()];
    for id in [kelp.as_str(), tide.as_str(), "explorer", "799", "299"] {
        assert!(!access.contains(id), "{id} in {access}");
    }
    // Receipts from Stripe, with Stripe's pages.
    let receipts = bob.get("/account/receipts").body.replace("&#x2f;", "/");
    assert!(receipts.contains("€7.99"), "{receipts}");
    assert!(
        receipts.contains("<td>Rental of Kelp Forest</td><td>€2.99</td>"),
        "{receipts}"
    );
    assert!(
        receipts.contains(&format!("{}/receipts/ch_", stripe.url)),
        "{receipts}"
    );
    assert!(
        receipts.contains(&format!("{}/invoices/in_", stripe.url)),
        "{receipts}"
    );

    // His data, as a file: everything he can see about himself, nothing of others.
    let export = bob.get("/account/data.json");
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let json: Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(json["profile"]["email"], "bob@example.com");
    assert_eq!(json["profile"]["name"], "Bobby Tablesworth");
    assert!(!json["sessions"].as_array().unwrap().is_empty());
    assert_eq!(json["subscriptions"][0]["plan"], "Explorer");
    assert_eq!(json["subscriptions"][0]["amount_minor"], 799);
    assert_eq!(json["purchases"][0]["title"], "Kelp Forest");
    assert_eq!(json["purchases"][0]["kind"], "rental");
    assert_eq!(json["access_given"][0]["plan"], "Explorer");
    assert_eq!(json["watch_history"][0]["title"], "Tide Pools");
    assert_eq!(json["my_list"][0]["title"], "Kelp Forest");
    assert_eq!(json["campaign_email"]["opted_out_at"], Value::Null);
    for other in ["cat@example.com", "ann@example.com", &kelp, &tide] {
        assert!(!export.body.contains(other), "{other} in {}", export.body);
    }
    // A title taken back to draft and renamed is still in his history and list, but its
    // unannounced name is in neither; what he paid for keeps its name.
    for (id, name) in [(&tide, "Tide Pools"), (&kelp, "Kelp Forest")] {
        let moved = [
            ("POST", format!("/api/v1/titles/{id}/unpublish"), None),
            (
                "PATCH",
                format!("/api/v1/titles/{id}"),
                Some(json!({"name": format!("Secret {name}")})),
            ),
        ];
        for (method, path, body) in moved {
            let (status, answer) = server.call(method, &path, body);
            assert_eq!(status, 200, "{method} {path}: {answer}");
        }
    }
    let account = bob.get("/account").body;
    assert!(
        account.contains("A title no longer available: watched 0 of 1 min"),
        "{account}"
    );
    let export = bob.get("/account/data.json").body;
    let json: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(json["watch_history"][0]["title"], Value::Null, "{export}");
    assert_eq!(json["my_list"][0]["title"], Value::Null, "{export}");
    assert_eq!(
        json["purchases"][0]["title"], "Secret Kelp Forest",
        "{export}"
    );
    let history = &account[account.find("<h2>Watch history</h2>").unwrap()..];
    assert!(!history.contains("Secret "), "{history}");
    assert_eq!(export.matches("Secret ").count(), 1, "{export}");
    for (id, name) in [(&tide, "Tide Pools"), (&kelp, "Kelp Forest")] {
        let (status, answer) = server.call(
            "PATCH",
            &format!("/api/v1/titles/{id}"),
            Some(json!({"name": name, "synopsis": "Back on the shelf."})),
        );
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = server.call("POST", &format!("/api/v1/titles/{id}/publish"), None);
        assert_eq!(status, 200, "{answer}");
    }

    // Deleting: the wrong password changes nothing.
    let form = bob.get("/account/delete");
    assert!(form.body.contains("Explorer, paid until"), "{}", form.body);
    let refused = bob.post(
        "/account/delete",
        &[
            ("csrf", &csrf),
            ("password", "guess"),
            ("subscription", "period_end"),
        ],
    );
    assert_eq!(refused.status, 401);
    assert_eq!(bob.get("/account").status, 200);
    // The right one: the subscription stops renewing at Stripe, the account goes.
    let gone = bob.post(
        "/account/delete",
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("subscription", "period_end"),
        ],
    );
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert_eq!(gone.location.as_deref(), Some("/account/deleted"));
    let asked = stripe.requests_to(&format!("/v1/subscriptions/{sub}"));
    assert!(
        asked.iter().any(
            |(m, f)| m == "POST" && f.contains(&("cancel_at_period_end".into(), "true".into()))
        ),
        "{asked:?}"
    );
    assert_eq!(stripe.subscription(&sub)["cancel_at_period_end"], true);
    assert_eq!(bob.get("/account").status, 303);
    assert_eq!(cat.get("/account").status, 200);
    // Audited (by id, not by name), and a `member.deleted` webhook queued.
    let (_, audit) = server.call(
        "GET",
        &format!("/api/v1/audit?action=member.delete&target=member:{bob_id}"),
        None,
    );
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert!(!audit.to_string().contains("bob@example.com"), "{audit}");
    let (_, deliveries) = server.call(
        "GET",
        &format!("/api/v1/webhooks/{}/deliveries", endpoint["id"]),
        None,
    );
    assert!(
        deliveries.to_string().contains("member.deleted"),
        "{deliveries}"
    );

    // No byte of his address or name is left in either database, nor in a backup made
    // afterwards; Cat's are (the search finds what is there).
    assert!(server.call("GET", "/api/v1/members?q=bob", None).1["items"][0].is_null());
    let main = bytes_of(&data.join("marquee.db"));
    let events = bytes_of(&data.join("events.db"));
    let backup = backup_bytes(&data, &tmp.path().join("after.tar.zst"));
    for (what, bytes) in [
        ("marquee.db", &main),
        ("events.db", &events),
        ("backup", &backup),
    ] {
        for personal in ["bob@example.com", "Bobby Tablesworth"] {
            let left = found_at(bytes, personal);
            assert!(left.is_none(), "{personal} is still in {what} {left:?}");
        }
    }
    assert!(holds(&main, "cat@example.com"));
    assert!(holds(&backup, "cat@example.com"));
    // (Typing the address at sign-in now counts against it like any unknown address.)
    assert_eq!(
        Browser::new(server.url())
            .sign_in("bob@example.com", PASSWORD)
            .status,
        401
    );
}

#[test]
fn a_member_without_a_password_deletes_the_account_by_an_emailed_link() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "vi@example.com", &["--role", "viewer"]);
    // An account that signs in by emailed links only (as one made by sign-up may).
    let db = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    db.execute(
        "UPDATE users SET password_hash = NULL WHERE email_key = 'vi@example.com'",
        [],
    )
    .unwrap();
    drop(db);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let vi_id = member_id(&server, "vi@example.com");
    let mut vi = Browser::new(server.url());
    let csrf = vi.get("/login").csrf();
    let asked = vi.post(
        "/login/link",
        &[("csrf", &csrf), ("email", "vi@example.com")],
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    let mail = wait_for_mail(&smtp, "vi@example.com", "/login/link/");
    let path = link_in(&mail, "/login/link/").replace(server.url(), "");
    let csrf = vi.get(&path).csrf();
    assert_eq!(vi.post(&path, &[("csrf", &csrf)]).status, 303);

    // No password to give: the page offers an emailed link instead.
    let page = vi.get("/account/delete");
    assert!(page.body.contains("Email me the link"), "{}", page.body);
    let csrf = page.csrf();
    let asked = vi.post("/account/delete", &[("csrf", &csrf)]);
    assert!(after(&mut vi, &asked).contains("Your account is deleted when you open it"));
    assert_eq!(vi.get("/account").status, 200, "nothing is deleted yet");
    let mail = wait_for_mail(&smtp, "vi@example.com", "/account/delete/");
    let path = link_in(&mail, "/account/delete/").replace(server.url(), "");
    // Opening it only shows a button; pressing it deletes the account.
    let mut anyone = Browser::new(server.url());
    let confirm = anyone.get(&path);
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(vi.get("/account").status, 200);
    let done = anyone.post(&path, &[("csrf", &confirm.csrf())]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/account/deleted"));
    assert_eq!(vi.get("/account").status, 303);
    assert_eq!(anyone.get(&path).status, 404, "the link works once");
    let (_, audit) = server.call(
        "GET",
        &format!("/api/v1/audit?action=member.delete&target=member:{vi_id}"),
        None,
    );
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    let (_, found) = server.call("GET", "/api/v1/members?q=vi%40example.com", None);
    assert!(found["items"][0].is_null(), "{found}");
}
