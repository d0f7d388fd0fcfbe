//! Sign-up (issue 23): the real binary, the SMTP capture sink, visitors on distinct
//! loopback source addresses (127.0.x.y) or behind a trusted proxy's forwarding header,
//! proof of work solved here as a browser would, and Chromium at phone size.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::accounts::{Browser, PASSWORD, data_with_ann};
use crate::analytics::kpi;
use crate::loopback::{Answer, Client};
use crate::support::{Options, Server, SmtpCapture};

type Visitor = Client;

/// The proof-of-work fields of a sign-up form, solved.
#[derive(Debug, Clone)]
pub struct Pow {
    salt: String,
    challenge: String,
    signature: String,
    number: u64,
}

fn field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {body}"));
    let rest = &body[at + marker.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// Finds the number as `web-ui/static/signup.js` does: SHA-256 of salt + number.
pub fn solve(body: &str) -> Pow {
    let salt = field(body, "pow_salt");
    let challenge = field(body, "pow_challenge");
    let signature = field(body, "pow_signature");
    let number = (0..=1_000_000u64)
        .find(|n| hex::encode(Sha256::digest(format!("{salt}{n}").as_bytes())) == challenge)
        .expect("a solution");
    Pow {
        salt,
        challenge,
        signature,
        number,
    }
}

/// Sign-up as a browser does it.
impl Client {
    /// A solved challenge from a fresh sign-up page.
    fn challenge(&mut self, headers: &[(&str, &str)]) -> Pow {
        let page = self.request("GET", "/signup", headers, "");
        assert_eq!(page.status, 200, "{}", page.body);
        solve(&page.body)
    }

    /// Sends the sign-up form with `pow` (and `extra` fields).
    pub fn sign_up_with(
        &mut self,
        pow: &Pow,
        email: &str,
        extra: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let number = pow.number.to_string();
        let mut form = vec![
            ("email", email),
            ("pow_salt", pow.salt.as_str()),
            ("pow_challenge", pow.challenge.as_str()),
            ("pow_signature", pow.signature.as_str()),
            ("pow_number", number.as_str()),
        ];
        form.extend_from_slice(extra);
        self.post("/signup", &form, headers)
    }

    /// Opens the sign-up page, solves its challenge and sends the form.
    fn sign_up(&mut self, email: &str, extra: &[(&str, &str)]) -> Answer {
        let pow = self.challenge(&[]);
        self.sign_up_with(&pow, email, extra, &[])
    }
}

fn members(server: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let (status, page) = server.get(&format!("/api/v1/members?limit=200&offset={}", all.len()));
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            return all;
        }
        all.extend(items);
    }
}

fn member(server: &Server, email: &str) -> Option<Value> {
    members(server).into_iter().find(|m| m["email"] == email)
}

pub fn set_mode(server: &Server, mode: &str) {
    let (status, body) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"accounts.signup": mode})),
    );
    assert_eq!(status, 200, "{body}");
}

/// The path of the first link to `prefix` in a captured email (quoted-printable undone).
fn link_in(data: &str, prefix: &str) -> String {
    let data = &data.replace("=\r\n", "").replace("=3D", "=");
    let at = data
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {data}"));
    let rest = &data[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].to_string()
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

#[test]
fn with_email_the_account_is_made_when_the_emailed_link_is_opened_and_lands_on_next() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let smtp = SmtpCapture::start();
    let hook = HookReceiver::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "{}\n[webhooks]\nallow_private = [\"127.0.0.1/32\"]\nretry_secs = [1]\n",
                smtp.config()
            ),
            ..Options::default()
        },
    );
    let (status, endpoint) = server.call(
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": hook.url, "events": ["member.created"]})),
    );
    assert_eq!(status, 201, "{endpoint}");

    let mut eve = Visitor::new(LOCAL, server.url());
    let page = eve.get("/signup?next=/search%3Fq%3Dkelp");
    assert_eq!(page.status, 200);
    // With email, the password is optional.
    assert!(
        !page
            .body
            .contains("autocomplete=\"new-password\" minlength=\"12\" required")
    );
    // With email, no password is asked before the link: whoever asks may not own the
    // address. One sent anyway is not kept.
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
    let pow = solve(&page.body);
    let asked = eve.sign_up_with(
        &pow,
        "eve@example.com",
        &[
            ("name", "Eve"),
            ("next", "/search?q=kelp"),
            ("password", "chosen by a stranger"),
        ],
        &[],
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("Check your email"), "{}", asked.body);
    assert!(!eve.signed_in());
    // No account until the link is opened.
    assert!(member(&server, "eve@example.com").is_none());
    let mail = smtp.wait_for(1).pop().unwrap();
    assert_eq!(mail.to, vec!["<eve@example.com>".to_string()]);
    assert!(mail.data.contains("Finish creating your Marquee account"));
    let link = link_in(&mail.data, "/signup/");
    // Opening shows a button and uses nothing (mail scanners fetch links).
    for _ in 0..2 {
        let shown = eve.get(&link);
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert!(shown.body.contains("eve@example.com"));
    }
    assert!(member(&server, "eve@example.com").is_none());
    // The link's page takes the password (checked like any other), or none.
    let short = eve.post(&link, &[("password", "short")], &[]);
    assert_eq!(short.status, 400, "{}", short.body);
    assert!(
        short.body.contains("The password is too short"),
        "{}",
        short.body
    );
    assert!(member(&server, "eve@example.com").is_none());
    let done = eve.post(&link, &[("password", "eve's very own password")], &[]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/search?q=kelp"));
    assert!(eve.signed_in());
    let account = eve.get("/account");
    assert_eq!(account.status, 200);
    // Signed in: the header says "Account", not "Sign in".
    assert!(account.body.contains("href=\"/account\">Account</a>"));
    assert!(!account.body.contains(">Sign in</a>"));
    let made = member(&server, "eve@example.com").expect("the account");
    assert_eq!(made["role"], "viewer");
    assert_eq!(made["display_name"], "Eve");
    assert_eq!(made["email_verified"], true, "the link proved the address");
    // The link worked once.
    let again = Visitor::new(LOCAL, server.url()).post(&link, &[], &[]);
    assert_eq!(again.status, 404);
    assert_eq!(members(&server).len(), 2);
    // Her password signs in; the stranger's does not.
    let mut stranger = Visitor::new(LOCAL, server.url());
    let tried = stranger.post(
        "/login",
        &[
            ("email", "eve@example.com"),
            ("password", "chosen by a stranger"),
        ],
        &[],
    );
    assert!(!stranger.signed_in(), "{}", tried.body);
    let mut later = Browser::new(server.url());
    assert_eq!(
        later
            .sign_in("eve@example.com", "eve's very own password")
            .status,
        303
    );

    // The webhook, the audit entry and the funnel.
    let got = hook.wait_for(1);
    let event: Value = serde_json::from_slice(&got[0]).unwrap();
    assert_eq!(event["type"], "member.created");
    assert_eq!(event["data"]["email"], "eve@example.com");
    assert_eq!(event["data"]["role"], "viewer");
    let (_, audit) = server.get("/api/v1/audit?action=member.signup");
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["target"], format!("member:{}", made["id"]));
    assert_eq!(entries[0]["detail"]["confirmed"], true);
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let funnel = ann.get("/admin/analytics?tab=funnel");
    assert_eq!(funnel.status, 200);
    assert_eq!(kpi(&funnel.body, "Sign-ups"), "1", "{}", funnel.body);
}

#[test]
fn a_taken_address_gets_the_same_answer_and_its_owner_an_email() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let smtp = SmtpCapture::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let answer_for = |email: &str| {
        let mut v = Visitor::new(LOCAL, server.url());
        let a = v.sign_up(
            email,
            &[
                ("password", "a long new password here"),
                ("next", "/search?q=t"),
            ],
        );
        assert!(!v.signed_in());
        a
    };
    // Bad input is refused alike, before anyone's account is looked up.
    let long_name = "n".repeat(500);
    for email in ["ann@example.com", "someone@example.com"] {
        let mut v = Visitor::new(LOCAL, server.url());
        let bad = v.sign_up(email, &[("name", long_name.as_str())]);
        assert_eq!(bad.status, 400, "{email}");
        assert!(bad.body.contains("A name is at most"), "{}", bad.body);
    }
    let taken = answer_for("ann@example.com");
    let free = answer_for("newcomer@example.com");
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.status, free.status);
    // Word for word, but for the address typed.
    assert_eq!(
        taken.body.replace("ann@example.com", "X"),
        free.body.replace("newcomer@example.com", "X")
    );
    let mails = smtp.wait_for(2);
    let to_ann = mails
        .iter()
        .find(|m| m.to == vec!["<ann@example.com>".to_string()])
        .expect("a mail to ann");
    assert!(
        to_ann.data.contains("You already have a Marquee account"),
        "{}",
        to_ann.data
    );
    let link = link_in(&to_ann.data, "/login/link/");
    assert!(to_ann.data.contains("/reset"));
    // Nothing changed for Ann: still one account, and her link signs her in.
    assert_eq!(members(&server).len(), 1);
    let mut ann = Visitor::new(LOCAL, server.url());
    assert_eq!(ann.get(&link).status, 200);
    let signed = ann.post(&link, &[], &[]);
    assert_eq!(signed.status, 303, "{}", signed.body);
    // Back where she was going when she asked.
    assert_eq!(signed.location.as_deref(), Some("/search?q=t"));
    assert!(ann.signed_in());
    let to_new = mails
        .iter()
        .find(|m| m.to == vec!["<newcomer@example.com>".to_string()])
        .expect("a mail to the newcomer");
    assert!(to_new.data.contains("/signup/"));
}

#[test]
fn without_email_an_email_and_password_make_an_unconfirmed_account_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let mut v = Visitor::new(LOCAL, server.url());
    // A password is needed when no link can be sent.
    let page = v.get("/signup");
    assert!(
        page.body.contains("minlength=\"12\" required"),
        "{}",
        page.body
    );
    let refused = v.sign_up("sam@example.com", &[]);
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("Choose a password"),
        "{}",
        refused.body
    );
    let short = v.sign_up("sam@example.com", &[("password", "short")]);
    assert_eq!(short.status, 400);
    assert!(member(&server, "sam@example.com").is_none());
    // With one: made at once, and the sign-in page asks for that password, keeping `next`.
    let made = v.sign_up(
        "sam@example.com",
        &[
            ("password", "a long new password here"),
            ("next", "/search?q=x"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(made.body.contains(READY), "{}", made.body);
    assert!(
        made.body.contains("value=\"sam@example.com\""),
        "{}",
        made.body
    );
    assert!(!v.signed_in());
    let sam = member(&server, "sam@example.com").unwrap();
    assert_eq!(sam["email_verified"], false, "unconfirmed");
    assert_eq!(sam["role"], "viewer");
    let signed = v.post(
        "/login",
        &[
            ("email", "sam@example.com"),
            ("password", "a long new password here"),
            ("next", "/search?q=x"),
        ],
        &[],
    );
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/search?q=x"));
    assert!(v.signed_in());
    // The header is each visitor's own, though the home page's rails are kept in memory
    // for everyone: signed in, "Account" (and no shared cache keeps it); signed out, not.
    let mut stranger = Visitor::new(LOCAL, server.url());
    for _ in 0..2 {
        let own = v.get("/");
        assert!(own.body.contains(">Account</a>"), "{}", own.body);
        assert!(!own.body.contains(">Sign in</a>"));
        assert!(
            own.header("cache-control")
                .is_some_and(|c| c.contains("private") || c.contains("no-store"))
        );
        let theirs = stranger.get("/");
        assert!(theirs.body.contains(">Sign in</a>"));
        assert!(!theirs.body.contains(">Account</a>"));
        let found = v.get("/search?q=x");
        assert!(found.body.contains(">Account</a>"));
        assert_eq!(found.header("cache-control"), Some("private"));
        let found = stranger.get("/search?q=x");
        assert!(
            found
                .body
                .contains("href=\"&#x2f;login?next=%2Fsearch%3Fq%3Dx\">Sign in</a>"),
            "{}",
            found.body
        );
        assert_eq!(found.header("cache-control"), None);
    }
    // The password works for signing in, and sign-in returns to `next`, else home.
    let mut later = Browser::new(server.url());
    let csrf = later.get("/login?next=/search?q=y").csrf();
    let back = later.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("email", "sam@example.com"),
            ("password", "a long new password here"),
            ("next", "/search?q=y"),
        ],
    );
    assert_eq!(back.status, 303);
    assert_eq!(back.location.as_deref(), Some("/search?q=y"));
    let mut plain = Browser::new(server.url());
    let home = plain.sign_in("sam@example.com", "a long new password here");
    assert_eq!(home.location.as_deref(), Some("/"));
    // A taken address gets word for word the page a new one got, and nothing is made or
    // changed: the chosen password does not sign in, the owner's still does.
    let mut w = Visitor::new(LOCAL, server.url());
    let taken = w.sign_up(
        "SAM@example.com",
        &[
            ("password", "another long password"),
            ("next", "/search?q=x"),
        ],
    );
    assert_eq!(taken.status, made.status);
    assert_eq!(
        taken.body.replace("SAM@", "sam@"),
        made.body,
        "a taken address is answered as a new one"
    );
    assert!(!w.signed_in());
    assert_eq!(members(&server).len(), 2);
    let wrong = w.post(
        "/login",
        &[
            ("email", "sam@example.com"),
            ("password", "another long password"),
        ],
        &[],
    );
    assert_ne!(wrong.status, 303, "{}", wrong.body);
    assert!(!w.signed_in());
    let mut owner = Browser::new(server.url());
    let home = owner.sign_in("sam@example.com", "a long new password here");
    assert_eq!(home.location.as_deref(), Some("/"));
}

/// What the sign-in page says after a sign-up without email, made or taken alike.
const READY: &str = "Your account is ready. Sign in with the password you just chose.";

#[test]
fn invite_and_closed_modes_say_so_in_words_and_make_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let mut v = Visitor::new(LOCAL, server.url());
    // Open (the default): the form, linked from the sign-in page and the header.
    let open = v.get("/signup");
    assert!(open.body.contains("action=\"/signup\""));
    let login = v.get("/login?next=/search?q=a");
    assert!(
        login
            .body
            .contains("signup?next=%2Fsearch%3Fq%3Da\">Create account</a>"),
        "{}",
        login.body
    );
    let home = v.get("/");
    assert!(home.body.contains(">Create account</a>"));
    assert!(home.body.contains(">Sign in</a>"));
    for old in ["/register", "/join"] {
        let moved = v.get(&format!("{old}?next=/search"));
        assert_eq!(moved.status, 301);
        assert_eq!(moved.location.as_deref(), Some("/signup?next=/search"));
    }
    let pow = v.challenge(&[]);

    set_mode(&server, "invite");
    let invite = v.get("/signup");
    assert_eq!(invite.status, 200);
    assert!(
        invite.body.contains("Sign-up on Marquee is by invitation"),
        "{}",
        invite.body
    );
    assert!(!invite.body.contains("action=\"/signup\""));
    assert!(!v.get("/").body.contains(">Create account</a>"));
    assert!(!v.get("/login").body.contains(">Create account</a>"));
    let sent = v.sign_up_with(
        &pow,
        "ivy@example.com",
        &[("password", "a long new password here")],
        &[],
    );
    assert_eq!(sent.status, 200);
    assert!(!v.signed_in());

    set_mode(&server, "closed");
    let closed = v.get("/signup");
    assert_eq!(closed.status, 403);
    assert!(
        closed.body.contains("Sign-up on Marquee is closed"),
        "{}",
        closed.body
    );
    assert!(
        closed.body.contains("<header class=\"top\">"),
        "in the site's frame"
    );
    assert!(!closed.body.contains("action=\"/signup\""));
    let sent = v.sign_up_with(
        &pow,
        "ivy@example.com",
        &[("password", "a long new password here")],
        &[],
    );
    assert_eq!(sent.status, 403);
    assert!(!v.signed_in());
    assert!(member(&server, "ivy@example.com").is_none());
    assert_eq!(members(&server).len(), 1);

    // Open again: the same solved challenge was never spent, and works.
    set_mode(&server, "open");
    let made = v.sign_up_with(
        &pow,
        "ivy@example.com",
        &[("password", "a long new password here")],
        &[],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(made.body.contains(READY), "{}", made.body);
    assert!(member(&server, "ivy@example.com").is_some());
}

#[test]
fn proof_of_work_is_needed_and_spent_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let password = ("password", "a long new password here");
    let mut v = Visitor::new(LOCAL, server.url());
    // No solution at all.
    let bare = v.post("/signup", &[("email", "bot1@example.com"), password], &[]);
    assert_eq!(bare.status, 400, "{}", bare.body);
    assert!(
        bare.body
            .contains("The check that you are a person did not finish")
    );
    // A wrong number.
    let pow = v.challenge(&[]);
    let wrong = Pow {
        number: (pow.number + 1) % 50_000,
        ..pow.clone()
    };
    let refused = v.sign_up_with(&wrong, "bot2@example.com", &[password], &[]);
    assert_eq!(refused.status, 400);
    // A signature of nobody's making.
    let forged = Pow {
        signature: "00".repeat(32),
        ..pow.clone()
    };
    assert_eq!(
        v.sign_up_with(&forged, "bot3@example.com", &[password], &[])
            .status,
        400
    );
    assert_eq!(members(&server).len(), 1, "nothing made");
    // The right one works once; replayed, it is refused.
    let made = v.sign_up_with(&pow, "real@example.com", &[password], &[]);
    assert!(made.body.contains(READY), "{}", made.body);
    assert!(member(&server, "real@example.com").is_some());
    let mut replayer = Visitor::new(LOCAL, server.url());
    let replayed = replayer.sign_up_with(&pow, "bot4@example.com", &[password], &[]);
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(member(&server, "bot4@example.com").is_none());
    assert_eq!(members(&server).len(), 2);
}

#[test]
fn a_filled_honeypot_gets_the_answer_of_a_sign_up_and_makes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let password = ("password", "a long new password here");
    // A solved challenge, the trap filled: the answer a sign-up gets (the sign-in page,
    // keeping `next`), no session and no account.
    let mut bot = Visitor::new(LOCAL, server.url());
    let pow = bot.challenge(&[]);
    let trapped = bot.sign_up_with(
        &pow,
        "bot5@example.com",
        &[
            password,
            ("website", "http://spam.example"),
            ("next", "/search"),
        ],
        &[],
    );
    assert_eq!(trapped.status, 200, "{}", trapped.body);
    assert!(trapped.body.contains(READY), "{}", trapped.body);
    assert!(
        trapped
            .body
            .contains("name=\"next\" value=\"&#x2f;search\""),
        "{}",
        trapped.body
    );
    assert!(!bot.signed_in());
    assert!(member(&server, "bot5@example.com").is_none());
    assert_eq!(members(&server).len(), 1);
}

#[test]
fn sign_ups_are_throttled_per_address_and_per_ipv6_64() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let smtp = SmtpCapture::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: format!(
                "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{}",
                smtp.config()
            ),
            ..Options::default()
        },
    );
    let mut proxy = Visitor::new(LOCAL, server.url());
    let attempt = |proxy: &mut Visitor, client: &str, i: usize| {
        let via = [("x-forwarded-for", client)];
        let pow = proxy.challenge(&via);
        proxy.sign_up_with(&pow, &format!("p{i}@example.com"), &[], &via)
    };
    // Every request counts; the ten free ones, then a lockout with Retry-After.
    for i in 0..10 {
        let a = attempt(&mut proxy, "198.51.100.7", i);
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
    }
    let locked = attempt(&mut proxy, "198.51.100.7", 11);
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.header("retry-after").is_some());
    assert!(
        locked
            .body
            .contains("Too many accounts were asked for from your network")
    );
    // Another address is not held up.
    assert_eq!(attempt(&mut proxy, "198.51.100.8", 12).status, 200);
    // An IPv6 /64 counts as one address, whichever of its addresses asks.
    for i in 0..10 {
        let client = format!("2001:db8:1:2::{:x}", i + 1);
        assert_eq!(attempt(&mut proxy, &client, 100 + i).status, 200, "v6 {i}");
    }
    let locked = attempt(&mut proxy, "2001:db8:1:2:ffff::1", 200);
    assert_eq!(locked.status, 429);
    assert_eq!(attempt(&mut proxy, "2001:db8:1:3::1", 201).status, 200);
}

/// `GET /metrics`, one sample's value.
fn metric(server: &Server, name: &str) -> u64 {
    let (_, text) = crate::support::agent()
        .get(format!("{}/metrics", server.url()))
        .call()
        .map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap()))
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn a_flood_of_sign_ups_from_200_addresses_never_queues_a_members_sign_in() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    // Each stranger on its own address, its challenge solved beforehand.
    let flood: Vec<(Visitor, Pow)> = (0..200u32)
        .map(|i| {
            let from = Ipv4Addr::new(127, 0, 1 + (i / 200) as u8, 1 + (i % 200) as u8);
            let mut v = Visitor::new(from, server.url());
            let pow = v.challenge(&[]);
            (v, pow)
        })
        .collect();
    let sign_up_turns = "marquee_password_hashing_turns_total{purpose=\"sign_up\"}";
    let before = metric(&server, sign_up_turns);
    let threads: Vec<_> = flood
        .into_iter()
        .enumerate()
        .map(|(i, (mut v, pow))| {
            std::thread::spawn(move || {
                let email = format!("flood{i}@example.com");
                v.sign_up_with(
                    &pow,
                    &email,
                    &[("password", "a long new password here")],
                    &[],
                )
                .status
            })
        })
        .collect();
    // The flood is under way: sign-up hashing has started.
    for _ in 0..600 {
        if metric(&server, sign_up_turns) >= before + 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(metric(&server, sign_up_turns) >= before + 3, "no flood");
    let mut ann = Visitor::new(Ipv4Addr::new(127, 0, 9, 9), server.url());
    let signed = ann.post(
        "/login",
        &[("email", "ann@example.com"), ("password", PASSWORD)],
        &[],
    );
    assert_eq!(signed.status, 303, "{}", signed.body);
    let done_when_ann_got_in = metric(&server, sign_up_turns) - before;
    // Her turn came after at most the one sign-up that may hash at a time: counted by the
    // server for every sign-in.
    let ahead = metric(&server, "marquee_sign_in_most_sign_up_turns_ahead");
    assert!(
        ahead <= 1,
        "{ahead} sign-up hashes ran before the member's turn"
    );
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        done_when_ann_got_in < 200,
        "the flood was over before the member asked: {done_when_ann_got_in}"
    );
    assert_eq!(members(&server).len(), 201);
}

/// Receives webhook deliveries (answers 204) and keeps their bodies.
struct HookReceiver {
    url: String,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl HookReceiver {
    fn start() -> HookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Default::default();
        let kept = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    kept.lock().unwrap().push(body);
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        HookReceiver { url, got }
    }

    fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        for _ in 0..300 {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} deliveries, not {n}", self.got.lock().unwrap().len());
    }
}

/// Chromium at 390×844: the header shows "Sign in" and "Create account" on a phone, and a
/// stranger makes an account through the emailed link and lands on `next`, signed in.
#[test]
fn a_stranger_on_a_phone_signs_up_through_the_emailed_link() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let smtp = SmtpCapture::start();
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let link_file = tmp.path().join("link.txt");
    let base = server.url().to_string();
    let file = link_file.to_string_lossy().to_string();
    let browser = std::thread::spawn(move || {
        crate::player::browser_check(&["signup.mjs", &base, "pat@example.com", &file])
    });
    // The mail, unless the browser gave up first (then its report says why).
    for _ in 0..600 {
        if !smtp.mails().is_empty() || browser.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(mail) = smtp.mails().pop() {
        let link = link_in(&mail.data, "/signup/");
        std::fs::write(&link_file, format!("{}{link}", server.url())).unwrap();
    }
    let report = browser.join().unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let pat = member(&server, "pat@example.com").expect("made");
    assert_eq!(pat["email_verified"], true);
}
