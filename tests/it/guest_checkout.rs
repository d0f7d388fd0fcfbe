//! Checkout without an account (issue 23) against the Stripe stand-in and a real SMTP sink:
//! a visitor with no account pays with an email at Checkout; the account is the email's —
//! made once, whatever the order and number of the return and the webhooks —, the buyer
//! returns signed in only to an account their checkout made and only in the browser that
//! started it, an existing member's address gets the purchase but opens nothing, a second
//! trial for an email is refused, and Stripe failing gives a page in the site's frame.

use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann, signed_in};
use crate::analytics::kpi;
use crate::stripe::session_of;
use crate::stripe_standin::Standin;
use crate::support::{CapturedMail, Options, Server, SmtpCapture, drop_into, make_clip};

struct Shop {
    _tmp: tempfile::TempDir,
    stripe: Standin,
    smtp: SmtpCapture,
    server: Server,
    hook: String,
    /// A movie rented for 2.50 EUR.
    film: String,
}

/// A server on the stand-in and the mail sink, with the plan "Club" (7.99 EUR a month, a
/// 7-day trial) and a rental; `bob@example.com` is a member.
fn shop() -> Shop {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let smtp = SmtpCapture::start();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = Server::start_with(
        &data,
        Options {
            tables: format!("{}\n{}", stripe.config(), smtp.config()),
            ..Options::default()
        },
    );
    let hook = format!("{}/stripe/webhook", server.url());
    club_plan(&server, 7);
    // A live film (only titles viewers can see are for sale): a clip dropped in.
    let clip = tmp.path().join("rental_film.mp4");
    make_clip(&clip, "320x180", 25, 1.0, false);
    drop_into(&server.inbox(), &clip);
    let film = server.wait_finished("rental film", Duration::from_secs(120))["id"]
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
    Shop {
        _tmp: tmp,
        stripe,
        smtp,
        server,
        hook,
        film,
    }
}

/// The plan "Club": 7.99 EUR a month, with `trial_days` free.
fn club_plan(server: &Server, trial_days: i64) {
    let (status, body) = server.call(
        "POST",
        "/api/v1/plans",
        Some(
            json!({"name": "Club", "currency": "eur", "monthly_amount": 799,
                    "yearly_amount": null, "trial_days": trial_days, "stream_limit": 2, "public": true}),
        ),
    );
    assert_eq!(status, 201, "{body}");
}

fn db(server: &Server) -> rusqlite::Connection {
    rusqlite::Connection::open(server.data.join("marquee.db")).unwrap()
}

fn count(server: &Server, sql: &str, email: &str) -> i64 {
    db(server)
        .query_row(sql, [email], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Accounts with this email.
fn accounts(server: &Server, email: &str) -> i64 {
    count(server, "SELECT count(*) FROM users WHERE email = ?1", email)
}

/// The email's Stripe subscriptions as Marquee holds them, not ended.
fn live_subscriptions(server: &Server, email: &str) -> i64 {
    count(
        server,
        "SELECT count(*) FROM subscriptions s JOIN users u ON u.id = s.user_id
         WHERE u.email = ?1 AND s.status != 'ended'",
        email,
    )
}

fn trials(server: &Server, email: &str) -> i64 {
    count(
        server,
        "SELECT count(*) FROM trials_used WHERE email_key = ?1",
        email,
    )
}

fn purchases(server: &Server, email: &str) -> i64 {
    count(
        server,
        "SELECT count(*) FROM purchases p JOIN users u ON u.id = p.user_id WHERE u.email = ?1",
        email,
    )
}

/// A visitor with no account presses a buy button: the form carries the double-submit
/// token a signed-out page gets (`form_token`, as on the sign-in page) and `back`. Returns
/// the Checkout address.
fn guest_checkout(b: &mut Browser, fields: &[(&str, &str)]) -> String {
    let csrf = b.get("/login").csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("back", "/")];
    form.extend_from_slice(fields);
    let sent = b.post("/checkout", &form);
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

/// The return address Stripe sends the buyer to after paying `session`, as a path.
fn return_path(shop: &Shop, session: &str) -> String {
    let sessions = shop.stripe.requests_to("/v1/checkout/sessions");
    let form = &sessions.last().unwrap().1;
    let success = &form.iter().find(|(k, _)| k == "success_url").unwrap().1;
    success
        .replace("{CHECKOUT_SESSION_ID}", session)
        .replace(shop.server.url(), "")
}

fn deliver(shop: &Shop, events: &[Value]) {
    for event in events {
        assert_eq!(Standin::deliver(&shop.hook, event), 200, "{event}");
    }
}

/// Emails to `email` that arrived within 10 s (at least `n` of them).
fn mails_to(smtp: &SmtpCapture, email: &str, n: usize) -> Vec<CapturedMail> {
    for _ in 0..100 {
        let found: Vec<CapturedMail> = smtp
            .mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.contains(email)))
            .collect();
        if found.len() >= n {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("fewer than {n} emails to {email}: {:?}", smtp.mails());
}

/// A link in a captured email: the path from `prefix` on.
fn link_in(mail: &CapturedMail, prefix: &str) -> String {
    let text = mail.data.replace("=\r\n", "");
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

fn signed_in_as(b: &mut Browser, email: &str) -> bool {
    let page = b.get("/account");
    page.status == 200 && page.body.contains(email)
}

#[test]
fn a_new_email_gets_one_account_signed_in_on_return_and_a_welcome_email() {
    let shop = shop();
    let mut guest = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut guest, &[("plan", "club"), ("interval", "month")]);
    assert!(
        pay.starts_with(&format!("{}/pay/cs_", shop.stripe.url)),
        "{pay}"
    );
    // No customer: Stripe Checkout asks for the email. The trial is offered.
    let form = &shop.stripe.requests_to("/v1/checkout/sessions")[0].1;
    assert!(!form.iter().any(|(k, _)| k == "customer"), "{form:?}");
    for pair in [
        ("mode", "subscription"),
        ("metadata[marquee_guest]", "1"),
        ("subscription_data[trial_period_days]", "7"),
    ] {
        assert!(
            form.contains(&(pair.0.into(), pair.1.into())),
            "{pair:?} in {form:?}"
        );
    }
    assert!(shop.stripe.requests_to("/v1/customers").is_empty());
    let session = session_of(&pay);
    let events = shop.stripe.complete_as(&session, "New.Viewer@example.com");
    assert_eq!(
        shop.stripe.customer_count(),
        1,
        "Checkout made the customer"
    );

    // Back before any webhook: signed in to the new account, and sent back.
    let back = guest.get(&return_path(&shop, &session));
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location.as_deref(), Some("/"));
    assert!(guest.session().is_some(), "not signed in on return");
    assert!(signed_in_as(&mut guest, "New.Viewer@example.com"));
    // Then every webhook, twice.
    deliver(&shop, &events);
    deliver(&shop, &events);
    let email = "New.Viewer@example.com";
    assert_eq!(accounts(&shop.server, email), 1);
    assert_eq!(live_subscriptions(&shop.server, email), 1);
    assert_eq!(trials(&shop.server, "new.viewer@example.com"), 1);
    let (role, verified): (String, Option<i64>) = db(&shop.server)
        .query_row(
            "SELECT role, email_verified_at FROM users WHERE email = ?1",
            [email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(role, "viewer");
    assert_eq!(verified, None, "the address typed at Stripe is not proven");
    // Audited as made at checkout.
    let (status, audit) =
        shop.server
            .call("GET", "/api/v1/audit?action=member.created&limit=10", None);
    assert_eq!(status, 200, "{audit}");
    let entries = audit["items"].as_array().or(audit.as_array()).cloned();
    let entries = entries.unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["detail"]["via"], "checkout");

    // One welcome email, whose link sets a password; that password signs in elsewhere.
    let welcome = mails_to(&shop.smtp, "New.Viewer@example.com", 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        mails_to(&shop.smtp, "New.Viewer@example.com", 1).len(),
        1,
        "one welcome email"
    );
    assert!(welcome[0].data.contains("Welcome"), "{}", welcome[0].data);
    let link = link_in(&welcome[0], "/reset/");
    let mut phone = Browser::new(shop.server.url());
    let csrf = phone.get(&link).csrf();
    let set = phone.post(
        &link,
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(set.status, 303, "{}", set.body);
    let mut laptop = Browser::new(shop.server.url());
    assert_eq!(laptop.sign_in(email, PASSWORD).status, 303);

    // The funnel counts the buyer's checkout, though no account existed when it started.
    let mut ann = signed_in(&shop.server, "ann@example.com");
    let funnel = ann.get("/admin/analytics?tab=funnel").body;
    assert_eq!(kpi(&funnel, "Started a checkout"), "1", "{funnel}");
}

#[test]
fn an_existing_members_email_gets_the_purchase_but_is_not_signed_in() {
    let shop = shop();
    // Bob bought before, signed in: he has a Stripe customer of his own.
    let mut bob = signed_in(&shop.server, "bob@example.com");
    let csrf = bob.get("/account").csrf();
    let film = shop.film.clone();
    let sent = bob.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/account"),
            ("title", &film),
            ("kind", "rent"),
        ],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    deliver(
        &shop,
        &shop.stripe.complete(&session_of(&sent.location.unwrap())),
    );
    assert_eq!(purchases(&shop.server, "bob@example.com"), 1);
    let users_before = count(&shop.server, "SELECT count(*) FROM users WHERE ?1 = ?1", "");

    // Someone with no account subscribes, typing Bob's address at Checkout; the webhook
    // comes before the return.
    let mut guest = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut guest, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    deliver(&shop, &shop.stripe.complete_as(&session, "BOB@example.com"));
    let page = guest.get(&return_path(&shop, &session));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        guest.session().is_none(),
        "paying with Bob's address opened his account"
    );
    assert!(!signed_in_as(&mut guest, "bob@example.com"));
    assert!(
        page.body.contains("<header class=\"top\">"),
        "not in the site's frame"
    );
    assert!(
        page.body.contains("Sign in to that account"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Email me a sign-in link"),
        "{}",
        page.body
    );
    // The purchase is Bob's: one account, his subscription, his trial.
    assert_eq!(
        count(&shop.server, "SELECT count(*) FROM users WHERE ?1 = ?1", ""),
        users_before
    );
    assert_eq!(live_subscriptions(&shop.server, "bob@example.com"), 1);
    assert_eq!(trials(&shop.server, "bob@example.com"), 1);
    assert!(signed_in_as(&mut bob, "bob@example.com"));
    let plans = bob.get("/account").body;
    assert!(plans.contains("free trial until"), "{plans}");
    // Bob is told, and the page's button emails him a sign-in link.
    let told = mails_to(&shop.smtp, "bob@example.com", 1);
    assert!(
        told[0].data.contains("added to your account"),
        "{}",
        told[0].data
    );
    let csrf = page.csrf();
    let asked = guest.post(
        "/login/link",
        &[("csrf", &csrf), ("email", "bob@example.com")],
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    let mails = mails_to(&shop.smtp, "bob@example.com", 2);
    assert!(link_in(&mails[1], "/login/link/").len() > 20);
}

#[test]
fn webhooks_reordered_duplicated_or_alone_make_one_account_purchase_and_trial() {
    let shop = shop();
    // A subscription, the webhook before any return, its events reversed and repeated.
    let mut first = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut first, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    let mut events = shop.stripe.complete_as(&session, "order@example.com");
    events.reverse();
    deliver(&shop, &events);
    deliver(&shop, &events);
    assert_eq!(accounts(&shop.server, "order@example.com"), 1);
    assert_eq!(live_subscriptions(&shop.server, "order@example.com"), 1);
    assert_eq!(trials(&shop.server, "order@example.com"), 1);
    // The return after the webhooks still signs this browser in, once.
    let back = first.get(&return_path(&shop, &session));
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(signed_in_as(&mut first, "order@example.com"));
    let again = first.get(&return_path(&shop, &session));
    assert_eq!(again.status, 303);
    assert_eq!(accounts(&shop.server, "order@example.com"), 1);
    assert_eq!(live_subscriptions(&shop.server, "order@example.com"), 1);

    // A rental paid by a guest, its only webhook delivered three times, no return:
    // Checkout made a customer for the payment, and one purchase is recorded.
    let mut second = Browser::new(shop.server.url());
    let film = shop.film.clone();
    let pay = guest_checkout(&mut second, &[("title", &film), ("kind", "rent")]);
    let sessions = shop.stripe.requests_to("/v1/checkout/sessions");
    let form = &sessions.last().unwrap().1;
    assert!(
        form.contains(&("customer_creation".into(), "always".into())),
        "{form:?}"
    );
    let events = shop
        .stripe
        .complete_as(&session_of(&pay), "renter@example.com");
    for _ in 0..3 {
        deliver(&shop, &events);
    }
    assert_eq!(accounts(&shop.server, "renter@example.com"), 1);
    assert_eq!(purchases(&shop.server, "renter@example.com"), 1);
    // The return before the webhook for a third buyer: one account and purchase too.
    let mut third = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut third, &[("title", &film), ("kind", "rent")]);
    let session = session_of(&pay);
    let events = shop.stripe.complete_as(&session, "early@example.com");
    assert_eq!(third.get(&return_path(&shop, &session)).status, 303);
    deliver(&shop, &events);
    assert_eq!(accounts(&shop.server, "early@example.com"), 1);
    assert_eq!(purchases(&shop.server, "early@example.com"), 1);
    assert!(signed_in_as(&mut third, "early@example.com"));
    // Each account got one welcome email.
    std::thread::sleep(Duration::from_millis(500));
    for email in [
        "order@example.com",
        "renter@example.com",
        "early@example.com",
    ] {
        assert_eq!(mails_to(&shop.smtp, email, 1).len(), 1, "{email}");
    }
}

#[test]
fn a_second_trial_with_the_same_email_is_refused() {
    let shop = shop();
    let mut one = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut one, &[("plan", "club"), ("interval", "month")]);
    deliver(
        &shop,
        &shop
            .stripe
            .complete_as(&session_of(&pay), "twice@example.com"),
    );
    assert_eq!(trials(&shop.server, "twice@example.com"), 1);
    let first_sub = shop.stripe.subscription_ids();
    assert_eq!(first_sub.len(), 1);

    // Another browser, the same email, the trial again.
    let mut two = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut two, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    deliver(
        &shop,
        &shop.stripe.complete_as(&session, "twice@example.com"),
    );
    let page = two.get(&return_path(&shop, &session));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("free trial was used before"),
        "{}",
        page.body
    );
    assert!(two.session().is_none());
    // The second subscription was cancelled at Stripe (nothing charged in a trial) and
    // grants nothing: one account, one live subscription, one trial.
    let second = shop
        .stripe
        .subscription_ids()
        .into_iter()
        .find(|s| !first_sub.contains(s))
        .unwrap();
    assert_eq!(shop.stripe.subscription(&second)["status"], "canceled");
    assert_eq!(accounts(&shop.server, "twice@example.com"), 1);
    assert_eq!(live_subscriptions(&shop.server, "twice@example.com"), 1);
    assert_eq!(trials(&shop.server, "twice@example.com"), 1);
}

#[test]
fn a_leaked_return_url_opened_in_another_browser_signs_no_one_in() {
    let shop = shop();
    let mut buyer = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut buyer, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    let checkout_cookie = buyer
        .cookies
        .iter()
        .find(|(k, _)| k.ends_with("marquee_checkout"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("the checkout cookie");
    deliver(
        &shop,
        &shop.stripe.complete_as(&session, "leak@example.com"),
    );
    let url = return_path(&shop, &session);

    // Someone else opens the return URL first — from a browser with a checkout cookie of
    // its own (it started a checkout too): no session, the address not shown.
    let mut other = Browser::new(shop.server.url());
    guest_checkout(&mut other, &[("plan", "club"), ("interval", "month")]);
    assert!(
        other
            .cookies
            .keys()
            .any(|k| k.ends_with("marquee_checkout"))
    );
    let page = other.get(&url);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(other.session().is_none(), "a leaked return URL signed in");
    assert!(!page.body.contains("leak@example.com"), "{}", page.body);
    assert!(!signed_in_as(&mut other, "leak@example.com"));

    // The buyer's own browser still signs in, once; the cookie copied after that does not.
    assert_eq!(buyer.get(&url).status, 303);
    assert!(signed_in_as(&mut buyer, "leak@example.com"));
    let mut copy = Browser::new(shop.server.url());
    copy.cookies.insert(checkout_cookie.0, checkout_cookie.1);
    let page = copy.get(&url);
    assert_eq!(page.status, 200);
    assert!(copy.session().is_none(), "the return signed in twice");
}

#[test]
fn stripe_failing_at_checkout_gives_a_page_and_changes_nothing() {
    // Stripe unreachable: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let smtp = SmtpCapture::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "[stripe]\nsecret_key = \"sk_test_standin\"\nwebhook_secret = \"whsec_x\"\napi_base = \"{dead}\"\n{}",
                smtp.config()
            ),
            ..Options::default()
        },
    );
    club_plan(&server, 7);
    let rows = |sql: &str| -> i64 { db(&server).query_row(sql, [], |r| r.get(0)).unwrap() };
    let before = (
        rows("SELECT count(*) FROM users"),
        rows("SELECT count(*) FROM stripe_customers"),
    );
    let unavailable = |page: &crate::accounts::Page| {
        assert!(
            page.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{:?}",
            page.header("content-type")
        );
        for words in [
            "Payments are unavailable right now",
            "Nothing was charged",
            "Try again in a minute",
            "<header class=\"top\">",
            "Go back</a>",
        ] {
            assert!(page.body.contains(words), "{words} in {}", page.body);
        }
        assert!(!page.body.contains("internal error"), "{}", page.body);
    };
    // A visitor with no account and a member alike.
    let mut guest = Browser::new(server.url());
    let csrf = guest.get("/login").csrf();
    let page = guest.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    assert_eq!(page.status, 503, "{}", page.body);
    unavailable(&page);
    assert!(
        !guest
            .cookies
            .keys()
            .any(|k| k.ends_with("marquee_checkout")),
        "a failed checkout left its cookie"
    );
    let mut bob = signed_in(&server, "bob@example.com");
    let csrf = bob.get("/account").csrf();
    let page = bob.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    assert_eq!(page.status, 503, "{}", page.body);
    unavailable(&page);
    assert_eq!(
        (
            rows("SELECT count(*) FROM users"),
            rows("SELECT count(*) FROM stripe_customers"),
        ),
        before
    );
    assert_eq!(rows("SELECT count(*) FROM guest_checkouts"), 0);
    assert!(
        server.log().contains("Stripe could not start a checkout"),
        "the cause is not logged"
    );

    // A key Stripe refuses: 502, the same page.
    let stripe = Standin::start();
    let tmp2 = tempfile::tempdir().unwrap();
    let data2 = data_with_ann(tmp2.path(), &[]);
    let server2 = Server::start_with(
        &data2,
        Options {
            tables: format!(
                "{}\n{}",
                stripe
                    .config()
                    .replace("sk_test_standin", "sk_test_revoked"),
                smtp.config()
            ),
            ..Options::default()
        },
    );
    club_plan(&server2, 7);
    let mut guest = Browser::new(server2.url());
    let csrf = guest.get("/login").csrf();
    let page = guest.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    assert_eq!(page.status, 502, "{}", page.body);
    unavailable(&page);
}

#[test]
fn a_signed_out_checkout_needs_the_form_token() {
    let shop = shop();
    let mut stranger = Browser::new(shop.server.url());
    let sent = stranger.post(
        "/checkout",
        &[
            ("csrf", "forged"),
            ("back", "/"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    assert_eq!(sent.status, 403, "{}", sent.body);
    assert!(shop.stripe.requests_to("/v1/checkout/sessions").is_empty());

    // A draft is not for sale, even priced, even by its id: its name never reaches a
    // Checkout page (found by attacking a release build).
    let (status, draft) = shop.server.call(
        "POST",
        "/api/v1/titles",
        Some(json!({"kind": "movie", "name": "Unannounced Sequel"})),
    );
    assert_eq!(status, 201, "{draft}");
    let draft = draft["id"].as_str().unwrap().to_owned();
    let (status, body) = shop.server.call(
        "PUT",
        &format!("/api/v1/titles/{draft}/access"),
        Some(
            json!({"level": {"kind": "purchase", "rent": {"amount": 250, "currency": "eur"},
                              "buy": null}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let mut bob = signed_in(&shop.server, "bob@example.com");
    let csrf = bob.get("/account").csrf();
    let sent = bob.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/account"),
            ("title", &draft),
            ("kind", "rent"),
        ],
    );
    assert_eq!(sent.status, 400, "{}", sent.body);
    assert!(!sent.body.contains("Unannounced Sequel"), "{}", sent.body);
    assert!(shop.stripe.requests_to("/v1/checkout/sessions").is_empty());
}

/// A signed-out checkout's answer, and how many Checkout Sessions Stripe was asked for.
fn signed_out_checkout(shop: &Shop, b: &mut Browser) -> (crate::accounts::Page, usize) {
    let csrf = b.get("/login").csrf();
    let sent = b.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/plans"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    (sent, shop.stripe.requests_to("/v1/checkout/sessions").len())
}

#[test]
fn checkout_makes_an_account_only_where_anyone_may_have_one_and_within_a_budget() {
    let shop = shop();
    // Invite-only or closed: accounts come from invitations, so a visitor signs in first
    // (and no paywall offers "Create account" once it is closed).
    for (mode, to) in [("invite", "/login"), ("closed", "/login")] {
        crate::signup::set_mode(&shop.server, mode);
        let mut visitor = Browser::new(shop.server.url());
        let (sent, asked) = signed_out_checkout(&shop, &mut visitor);
        assert_eq!(sent.status, 303, "{mode}: {}", sent.body);
        assert_eq!(
            sent.location.as_deref(),
            Some(format!("{to}?next=%2Fplans").as_str()),
            "{mode}"
        );
        assert_eq!(asked, 0, "{mode}: Stripe was asked");
        let wall = visitor.get(&format!("/watch/{}", shop.film)).body;
        assert!(!wall.contains(">Create account</a>"), "{mode}: {wall}");
    }
    crate::signup::set_mode(&shop.server, "open");

    // Open: ten checkouts from one address, then a wait, in words, with Retry-After;
    // Stripe is not asked for the eleventh.
    let mut visitor = Browser::new(shop.server.url());
    for i in 0..10 {
        let (sent, asked) = signed_out_checkout(&shop, &mut visitor);
        assert_eq!(sent.status, 303, "checkout {i}: {}", sent.body);
        assert_eq!(asked, i + 1);
    }
    let (sent, asked) = signed_out_checkout(&shop, &mut visitor);
    assert_eq!(sent.status, 429, "{}", sent.body);
    assert!(sent.header("retry-after").is_some());
    assert!(
        sent.body.contains("Too many checkouts from your network"),
        "{}",
        sent.body
    );
    assert!(sent.body.contains("Nothing was charged."), "{}", sent.body);
    assert_eq!(asked, 10);
    // A member is not held up by it.
    let mut bob = signed_in(&shop.server, "bob@example.com");
    let csrf = bob.get(&format!("/title/{}", shop.film)).csrf();
    let rent = bob.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/"),
            ("title", &shop.film),
            ("kind", "rent"),
        ],
    );
    assert_eq!(rent.status, 303, "{}", rent.body);
}

#[test]
fn without_email_a_visitor_makes_an_account_before_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    let server = stripe.server(&data);
    club_plan(&server, 7);
    // No welcome email could reach the address's owner: checkout would make an account
    // nobody can claim (or hand a squatter's account the purchase), so sign-up comes first.
    let mut visitor = Browser::new(server.url());
    let csrf = visitor.get("/login").csrf();
    let sent = visitor.post(
        "/checkout",
        &[
            ("csrf", &csrf),
            ("back", "/plans"),
            ("plan", "club"),
            ("interval", "month"),
        ],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(sent.location.as_deref(), Some("/signup?next=%2Fplans"));
    assert!(stripe.requests_to("/v1/checkout/sessions").is_empty());
}

#[test]
fn a_browser_signed_in_by_a_guest_checkout_cannot_claim_the_address_and_a_later_payment_signs_it_out()
 {
    let shop = shop();
    let victim = "vera@example.com";
    // Someone pays typing Vera's address: the account is made, their browser signed in.
    let mut payer = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut payer, &[("title", &shop.film), ("kind", "rent")]);
    let session = session_of(&pay);
    shop.stripe.complete_as(&session, victim);
    let back = payer.get(&return_path(&shop, &session));
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(signed_in_as(&mut payer, victim));
    // That browser may not choose the password or move the address: Vera's welcome link
    // must keep working.
    let csrf = payer.get("/account").csrf();
    for (path, form) in [
        (
            "/account/password",
            vec![
                ("csrf", csrf.as_str()),
                ("password", "the payer's own password"),
                ("confirm", "the payer's own password"),
            ],
        ),
        (
            "/account/email",
            vec![("csrf", csrf.as_str()), ("email", "mallory@example.com")],
        ),
    ] {
        let refused = payer.post(path, &form);
        assert_eq!(refused.status, 303, "{path}: {}", refused.body);
        let to = refused.location.unwrap();
        let page = payer.get(&to).body;
        assert!(
            page.contains("first open the link in the welcome email"),
            "{path}: {page}"
        );
    }
    assert!(mails_to(&shop.smtp, "mallory@example.com", 0).is_empty());
    let (hash, verified): (Option<String>, Option<i64>) = db(&shop.server)
        .query_row(
            "SELECT password_hash, email_verified_at FROM users WHERE email = ?1",
            [victim],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((hash, verified), (None, None));
    // Nor once the address is proven by a confirmation link it asked for itself (which
    // Vera may well open): a session from before the proof stays unable to.
    let sent = payer.post("/account/verify-email", &[("csrf", &csrf)]);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let verify = link_in(&mails_to(&shop.smtp, victim, 2)[1], "/verify/");
    let mut vera_phone = Browser::new(shop.server.url());
    let csrf_verify = vera_phone.get(&verify).csrf();
    let proven = vera_phone.post(&verify, &[("csrf", &csrf_verify)]);
    assert!(proven.status < 400, "{}", proven.body);
    let proven_at: Option<i64> = db(&shop.server)
        .query_row(
            "SELECT email_verified_at FROM users WHERE email = ?1",
            [victim],
            |r| r.get(0),
        )
        .unwrap();
    assert!(proven_at.is_some(), "the link proved the address");
    let refused = payer.post(
        "/account/password",
        &[
            ("csrf", csrf.as_str()),
            ("password", "the payer's own password"),
            ("confirm", "the payer's own password"),
        ],
    );
    let page = payer.get(&refused.location.unwrap()).body;
    assert!(
        page.contains("first open the link in the welcome email"),
        "{page}"
    );
    db(&shop.server)
        .execute(
            "UPDATE users SET email_verified_at = NULL WHERE email = ?1",
            [victim],
        )
        .unwrap();

    // Vera herself pays later, in her own browser: the purchase is hers, and the browser
    // that was signed in to her unclaimed account is signed out.
    let mut vera = Browser::new(shop.server.url());
    let pay = guest_checkout(&mut vera, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    let events = shop.stripe.complete_as(&session, victim);
    deliver(&shop, &events);
    assert_eq!(live_subscriptions(&shop.server, victim), 1);
    assert!(
        !signed_in_as(&mut payer, victim),
        "the first payer still sees it"
    );
    // Her welcome link still makes the account hers.
    let welcome = mails_to(&shop.smtp, victim, 1);
    let link = link_in(&welcome[0], "/reset/");
    let csrf = vera.get(&link).csrf();
    let set = vera.post(
        &link,
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(
        Browser::new(shop.server.url())
            .sign_in(victim, PASSWORD)
            .status,
        303
    );
}

#[test]
fn a_malformed_checkout_or_return_is_answered_in_words() {
    let shop = shop();
    let mut visitor = Browser::new(shop.server.url());
    // A browser's page, and a script's JSON: the same sentence.
    let (status, kind, page) =
        crate::words::load_page(&visitor, shop.server.url(), "/checkout/return");
    assert!(kind.starts_with("text/html"), "{kind}");
    let script = visitor.get("/checkout/return");
    assert!(script.body.starts_with("{\"error\""), "{}", script.body);
    let csrf = visitor.get("/login").csrf();
    let form = visitor.post("/checkout", &[("csrf", &csrf), ("plan", "club")]);
    assert!(
        form.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    for (what, status, body) in [
        ("return", status, page),
        ("script", script.status, script.body),
        ("form", form.status, form.body),
    ] {
        assert_eq!(status, 400, "{what}: {body}");
        // The browser's page says it in the frame's words, the others in the sentence.
        let words = match what {
            "return" => "The request could not be understood.",
            _ => "Something in that request was missing or not understood",
        };
        assert!(body.contains(words), "{what}: {body}");
        for machine in ["deserialize", "missing field", "`"] {
            assert!(!body.contains(machine), "{what}: {machine} in {body}");
        }
    }
    // The API keeps its JSON.
    let (status, body) = shop.server.call("GET", "/api/v1/members?limit=x", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
}

#[test]
fn an_account_squatted_without_email_loses_its_password_when_the_address_pays() {
    // Without email, someone signs up Sam's address with a password of their own.
    let tmp = tempfile::tempdir().unwrap();
    let stripe = Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    let mut server = stripe.server(&data);
    let mut squatter =
        crate::loopback::Client::new(std::net::Ipv4Addr::new(127, 0, 0, 9), server.url());
    let page = squatter.get("/signup");
    let pow = crate::signup::solve(&page.body);
    let made = squatter.sign_up_with(
        &pow,
        "sam@example.com",
        &[("password", "the squatter's password")],
        &[],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let mut squatter = Browser::new(server.url());
    assert_eq!(
        squatter
            .sign_in("sam@example.com", "the squatter's password")
            .status,
        303
    );
    // Email is set up later, and Sam pays with his address as a guest.
    let smtp = SmtpCapture::start();
    let config = std::fs::read_to_string(data.join("marquee.toml")).unwrap();
    std::fs::write(
        data.join("marquee.toml"),
        format!("{config}\n{}", smtp.config()),
    )
    .unwrap();
    server.terminate();
    server.restart();
    let cookies = squatter.cookies.clone();
    let mut squatter = Browser::new(server.url());
    squatter.cookies = cookies;
    assert!(signed_in_as(&mut squatter, "sam@example.com"));
    club_plan(&server, 0);
    let mut sam = Browser::new(server.url());
    let pay = guest_checkout(&mut sam, &[("plan", "club"), ("interval", "month")]);
    let session = session_of(&pay);
    let events = stripe.complete_as(&session, "sam@example.com");
    for event in &events {
        assert_eq!(
            Standin::deliver(&format!("{}/stripe/webhook", server.url()), event),
            200
        );
    }
    // The squatter is out, and their password no longer opens it.
    assert!(!signed_in_as(&mut squatter, "sam@example.com"));
    assert_ne!(
        Browser::new(server.url())
            .sign_in("sam@example.com", "the squatter's password")
            .status,
        303
    );
    // Sam gets the welcome link, which makes the account his.
    let welcome = mails_to(&smtp, "sam@example.com", 1);
    let link = link_in(&welcome[0], "/reset/");
    let csrf = sam.get(&link).csrf();
    let set = sam.post(
        &link,
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(set.status, 303, "{}", set.body);
    let mut laptop = Browser::new(server.url());
    assert_eq!(laptop.sign_in("sam@example.com", PASSWORD).status, 303);
    assert!(laptop.get("/account").body.contains("Club"));
    let (_, audit) = server.call("GET", "/api/v1/audit?action=member.unclaimed", None);
    let entries = audit["items"]
        .as_array()
        .or(audit.as_array())
        .cloned()
        .unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["detail"]["password_cleared"], true, "{audit}");
}
