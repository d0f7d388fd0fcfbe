//! Sign-in, links and the client's address under attack (issue 22, items 2, 5, 8, 13):
//! the real binary, clients on distinct loopback addresses (127.0.0.N), a real nginx in
//! front, and the SMTP capture sink.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::accounts::{PASSWORD, created, data_with_ann};
use crate::install::free_port;
use crate::loopback::{Answer, Client};
use crate::support::{CapturedMail, Options, Server, SmtpCapture};

/// What these tests do as a client.
impl Client {
    fn sign_in(&mut self, email: &str, password: &str, headers: &[(&str, &str)]) -> u16 {
        self.post(
            "/login",
            &[("email", email), ("password", password)],
            headers,
        )
        .status
    }

    /// A form of a signed-in page, with the page's CSRF token.
    fn post_signed_in(&mut self, page: &str, path: &str) -> Answer {
        let body = self.get(page).body;
        let at = body.find("name=\"csrf\" value=\"").expect("no csrf field");
        let rest = &body[at + "name=\"csrf\" value=\"".len()..];
        let csrf = rest[..rest.find('"').unwrap()].to_string();
        let form = serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap();
        self.request("POST", path, &[], &form)
    }
}

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// nginx on a free loopback port in front of `upstream`, as the README's set-up: the
/// client's address appended to `X-Forwarded-For`.
struct Nginx {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let upstream = upstream.trim_start_matches("http://");
        let conf = format!(
            "worker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://{upstream};\n      proxy_set_header Host $host;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&file)
            .arg("-p")
            .arg(dir.path())
            .args(["-g", "daemon off;"])
            .spawn()
            .expect("nginx is installed (packaging/deps.sh test)");
        let error_log = dir.path().join("error.log");
        // Dropped on every path from here: a failed start stops nginx too.
        let nginx = Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(error_log).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master takes its workers down with it (SIGKILL would leave them).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

const WARNING: &str = "http.trusted_proxies is empty";

/// Item 2, through nginx: with `http.trusted_proxies` naming it, each client has its own
/// budget whatever `X-Forwarded-For` it sends itself; the owner's correct password gets
/// in after a flood of failures; the session records the client's address.
#[test]
fn behind_nginx_each_client_has_its_own_budget_when_the_proxy_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n".into(),
            ..Options::default()
        },
    );
    let nginx = Nginx::start(server.url());
    // 22 people on 22 addresses each mistype a made-up email once, each claiming in
    // X-Forwarded-For to be the same address: all refused as wrong, none throttled.
    for n in 2..24 {
        let mut client = Client::new(addr(n), &nginx.base);
        let email = format!("made-up-{n}@example.com");
        let status = client.sign_in(
            &email,
            "wrong password!!",
            &[("X-Forwarded-For", "6.6.6.6")],
        );
        assert_eq!(status, 401, "client 127.0.0.{n}");
    }
    // One attacker sends a different forged X-Forwarded-For each time: nginx appends the
    // real address, the server reads only that, and the attacker runs out of budget (20
    // failures are free, then each locks twice as long as the last, so one of the next
    // attempts lands inside a lock whatever the machine's speed).
    let mut attacker = Client::new(addr(50), &nginx.base);
    let mut attempts = 0;
    let throttled = loop {
        attempts += 1;
        let forged = format!("10.0.{attempts}.1, 198.51.100.{attempts}");
        let email = format!("guess-{attempts}@example.com");
        let status = attacker.sign_in(&email, "wrong password!!", &[("X-Forwarded-For", &forged)]);
        assert!(matches!(status, 401 | 429), "{status}");
        if status == 429 || attempts == 60 {
            break status;
        }
    };
    assert_eq!(
        throttled, 429,
        "forged X-Forwarded-For kept the attacker going"
    );
    assert!(attempts > 20, "throttled after only {attempts} attempts");
    // The owner, from her own address, is never refused because of all that.
    let mut owner = Client::new(addr(60), &nginx.base);
    assert_eq!(owner.sign_in("ann@example.com", PASSWORD, &[]), 303);
    // Her session records where she signed in from, not nginx's address.
    let account = owner.get("/account");
    assert_eq!(account.status, 200);
    assert!(account.body.contains("127.0.0.60"), "{}", account.body);
    assert!(
        !server.log().contains(WARNING),
        "warned with a proxy trusted"
    );
}

/// Item 2, the other way: with no proxy trusted the whole internet behind nginx shares
/// one budget (a new made-up email from a new client is throttled), the server says so in
/// its log — and still, a correct password for an account nobody guessed at gets in.
#[test]
fn behind_nginx_without_trusted_proxies_clients_share_one_budget_but_the_owner_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let nginx = Nginx::start(server.url());
    // Different people on different addresses, one made-up email each: after 20, the
    // newcomers are throttled — they all count as nginx's address.
    let mut first_throttled = None;
    for n in 2..80 {
        let mut client = Client::new(addr(n), &nginx.base);
        let email = format!("made-up-{n}@example.com");
        let status = client.sign_in(&email, "wrong password!!", &[]);
        assert!(matches!(status, 401 | 429), "{status}");
        if status == 429 {
            first_throttled = Some(n);
            break;
        }
    }
    let n = first_throttled.expect("one budget for everyone behind the proxy");
    assert!(n > 21, "throttled at client 127.0.0.{n}");
    let mut owner = Client::new(addr(60), &nginx.base);
    assert_eq!(owner.sign_in("ann@example.com", PASSWORD, &[]), 303);
    let log = server.log();
    assert_eq!(log.matches(WARNING).count(), 1, "{log}");
}

/// A link in a captured email: the path after the server's address.
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

/// Waits until the mail sink has been quiet for a second, then returns what came.
fn settled(smtp: &SmtpCapture) -> Vec<CapturedMail> {
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = smtp.mails().len();
        if now == last {
            return smtp.mails();
        }
        last = now;
    }
}

fn with_smtp(data: &Path, smtp: &SmtpCapture) -> Server {
    Server::start_with(
        data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    )
}

/// Item 5, and the security test's finding A: strangers asking for Ann's links and resets
/// from many addresses get the usual answer and spend the email's shared mail budget; her
/// own requests from the browser she signed in with (its device cookie, kept at sign-out)
/// draw on that device's own budget and still send. Her password works there throughout,
/// however many strangers guessed it.
#[test]
fn asking_for_someone_elses_links_blocks_neither_their_links_nor_their_password() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = with_smtp(&data, &smtp);
    let mut ann = Client::new(addr(100), server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD, &[]), 303);
    assert!(
        ann.cookies.contains_key("marquee_device"),
        "{:?}",
        ann.cookies
    );
    assert_eq!(ann.post_signed_in("/account", "/logout").status, 303);
    assert!(
        ann.cookies.contains_key("marquee_device"),
        "sign-out kept it"
    );
    for n in 2..22 {
        let mut stranger = Client::new(addr(n), server.url());
        let path = if n % 2 == 0 { "/login/link" } else { "/reset" };
        let answer = stranger.post(path, &[("email", "ann@example.com")], &[]);
        assert_eq!(
            answer.status, 200,
            "{path} from 127.0.0.{n}: {}",
            answer.body
        );
        // The same answer past the budget as before it.
        assert!(answer.body.contains("is on its way"), "{}", answer.body);
        // And some guess her password.
        let status = stranger.sign_in("ann@example.com", &format!("guess {n} guess {n}"), &[]);
        assert!(matches!(status, 401 | 429), "{status}");
    }
    let mails = settled(&smtp);
    assert_eq!(
        mails_to(&smtp, "ann@example.com").len(),
        5,
        "the per-email budget: {} emails",
        mails.len()
    );
    // A newcomer without her device cookie gets the same answer and no email.
    let mut newcomer = Client::new(addr(101), server.url());
    let asked = newcomer.post("/reset", &[("email", "ann@example.com")], &[]);
    assert_eq!(asked.status, 200);
    settled(&smtp);
    assert_eq!(mails_to(&smtp, "ann@example.com").len(), 5);
    // Ann's own requests, from her browser, are sent.
    let asked = ann.post("/reset", &[("email", "ann@example.com")], &[]);
    assert_eq!(asked.status, 200, "Ann's own request is not refused");
    let asked = ann.post("/login/link", &[("email", "ann@example.com")], &[]);
    assert_eq!(asked.status, 200);
    settled(&smtp);
    let to_ann = mails_to(&smtp, "ann@example.com");
    assert_eq!(to_ann.len(), 7, "Ann's own two requests were not sent");
    let newest = &to_ann[5..];
    assert_eq!(
        newest.iter().filter(|m| m.data.contains("/reset/")).count(),
        1
    );
    assert_eq!(
        newest
            .iter()
            .filter(|m| m.data.contains("/login/link/"))
            .count(),
        1
    );
    let mail = newest.iter().find(|m| m.data.contains("/reset/")).unwrap();
    let reset = link_in(mail, "/reset/");
    assert_eq!(ann.get(&reset).status, 200, "her reset link works");
    for _ in 0..3 {
        assert_eq!(ann.sign_in("ann@example.com", PASSWORD, &[]), 303);
    }
}

/// Wrong passwords for `email` from fresh addresses, starting at 127.0.0.`next`, until one
/// is refused with a wait of at least `min_wait` s (a short pause between guesses lets
/// each short lock pass, so the next failure doubles it). Returns the next free address.
fn lock_email(url: &str, email: &str, mut next: u8, min_wait: u64) -> u8 {
    loop {
        assert!(next < 250, "the email never locked for {min_wait} s");
        let mut guesser = Client::new(addr(next), url);
        next += 1;
        let answer = guesser.post(
            "/login",
            &[("email", email), ("password", "guess guess guess")],
            &[],
        );
        assert!(matches!(answer.status, 401 | 429), "{}", answer.status);
        if answer.status == 429 {
            let wait: u64 = answer
                .body
                .split("Try again in ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse().ok())
                .expect("no wait given");
            if wait >= min_wait {
                return next;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The security test's findings B and C: guessers at Ann's password from ever new
/// addresses get the email's few free checked guesses between them, then clients without
/// her device cookie are refused without a check (429, no argon2) — the right password
/// from a new browser too. Ann, on the browser she signed in with before, mistypes once
/// during the guessing and then gets in all the same.
#[test]
fn guessing_from_many_addresses_locks_new_browsers_but_not_the_owners_device() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let mut ann = Client::new(addr(200), server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD, &[]), 303);
    assert_eq!(ann.post_signed_in("/account", "/logout").status, 303);
    // The email's 5 free failures, and the sixth, which starts the lock: all checked.
    for n in 2..8 {
        let mut guesser = Client::new(addr(n), server.url());
        let status = guesser.sign_in("ann@example.com", &format!("guess {n} guess {n}"), &[]);
        assert_eq!(status, 401, "guess from 127.0.0.{n}");
    }
    // Twenty more guessers, each on an address of their own, straight after: (nearly) all
    // refused unchecked, where each used to get a checked guess of its own.
    let mut refused = 0;
    for n in 8..28 {
        let mut guesser = Client::new(addr(n), server.url());
        let status = guesser.sign_in("ann@example.com", &format!("guess {n} guess {n}"), &[]);
        assert!(matches!(status, 401 | 429), "{status}");
        refused += usize::from(status == 429);
        if n == 10 {
            // Ann's typo, from her usual browser and address, while the guessing goes on.
            assert_eq!(ann.sign_in("ann@example.com", "a typo in it!", &[]), 401);
        }
    }
    assert!(
        refused >= 10,
        "only {refused} of 20 guesses refused unchecked"
    );
    lock_email(server.url(), "ann@example.com", 28, 5);
    let mut new_browser = Client::new(addr(120), server.url());
    assert_eq!(
        new_browser.sign_in("ann@example.com", PASSWORD, &[]),
        429,
        "a browser Ann never signed in with waits out the lock"
    );
    // Another browser at her very address is a new browser all the same.
    let mut same_address = Client::new(addr(200), server.url());
    assert_eq!(same_address.sign_in("ann@example.com", PASSWORD, &[]), 429);
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD, &[]), 303);
}

/// Signing out everywhere forgets the account's devices: Ann's browser is then judged as
/// a stranger's, until a sign-in (here with a reset link) makes it known again.
#[test]
fn signing_out_everywhere_forgets_devices_and_a_reset_makes_a_new_one() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = with_smtp(&data, &smtp);
    let mut ann = Client::new(addr(100), server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD, &[]), 303);
    assert_eq!(
        ann.post_signed_in("/account", "/account/sessions/end-all")
            .status,
        303
    );
    lock_email(server.url(), "ann@example.com", 2, 5);
    assert_eq!(
        ann.sign_in("ann@example.com", PASSWORD, &[]),
        429,
        "the forgotten device still counted as hers"
    );
    assert_eq!(
        ann.post("/reset", &[("email", "ann@example.com")], &[])
            .status,
        200
    );
    settled(&smtp);
    let to_ann = mails_to(&smtp, "ann@example.com");
    assert_eq!(to_ann.len(), 1);
    let reset = link_in(&to_ann[0], "/reset/");
    let new_password = "a brand new password";
    let form = [("password", new_password), ("confirm", new_password)];
    let done = ann.post(&reset, &form, &[]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(ann.post_signed_in("/account", "/logout").status, 303);
    lock_email(server.url(), "ann@example.com", 100, 5);
    assert_eq!(ann.sign_in("ann@example.com", new_password, &[]), 303);
}

fn open_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("marquee.db")).unwrap()
}

fn db_path(data: &Path) -> PathBuf {
    data.join("marquee.db")
}

/// Item 8: a signed-in viewer pressing "send me a confirmation link" over and over gets
/// the budget's worth of emails, and no token row past it; spent links are purged.
#[test]
fn verification_emails_are_throttled_and_spent_links_purged() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "vi@example.com", &["--role", "viewer"]);
    // Spent links from an earlier life: used, and expired; and one still live.
    {
        let db = open_db(&data);
        let vi: i64 = db
            .query_row(
                "SELECT id FROM users WHERE email = 'vi@example.com'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        for (hash, kind, expires, used) in [
            ("used", "magic_link", i64::MAX, Some(1)),
            ("expired", "reset_password", 1, None),
            ("live", "verify_email", i64::MAX, None),
        ] {
            db.execute(
                "INSERT INTO one_time_tokens (token_hash, kind, user_id, created_at, expires_at, used_at)
                 VALUES (?1, ?2, ?3, 0, ?4, ?5)",
                rusqlite::params![hash, kind, vi, expires, used],
            )
            .unwrap();
        }
    }
    let server = with_smtp(&data, &smtp);
    let mut vi = Client::new(addr(7), server.url());
    assert_eq!(vi.sign_in("vi@example.com", PASSWORD, &[]), 303);
    let mut later = 0;
    for _ in 0..20 {
        let answer = vi.post_signed_in("/account", "/account/verify-email");
        assert_eq!(answer.status, 303);
        later += usize::from(answer.location.as_deref() == Some("/account?verify=later"));
    }
    settled(&smtp);
    assert_eq!(mails_to(&smtp, "vi@example.com").len(), 5);
    assert_eq!(later, 15);
    let page = vi.get("/account?verify=later");
    assert!(page.body.contains("ask again later"), "{}", page.body);
    let db = open_db(&data);
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count(
            "SELECT count(*) FROM one_time_tokens WHERE kind = 'verify_email' AND token_hash <> 'live'"
        ),
        5
    );
    // The upkeep at start removed the spent links and kept the live one.
    assert_eq!(
        count("SELECT count(*) FROM one_time_tokens WHERE token_hash IN ('used', 'expired')"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM one_time_tokens WHERE token_hash = 'live'"),
        1
    );
    assert!(db_path(&data).exists());
}

/// Item 13: a password reset voids the account's other reset links and its sign-in links;
/// "sign out everywhere" voids its sign-in links.
#[test]
fn links_do_not_outlive_a_reset_or_signing_out_everywhere() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "vi@example.com", &["--role", "viewer"]);
    let server = with_smtp(&data, &smtp);
    let mut ann = Client::new(addr(8), server.url());
    for path in ["/reset", "/reset", "/login/link"] {
        assert_eq!(
            ann.post(path, &[("email", "ann@example.com")], &[]).status,
            200
        );
    }
    let mails = smtp.wait_for(3);
    let resets: Vec<String> = mails
        .iter()
        .filter(|m| m.data.contains("/reset/"))
        .map(|m| link_in(m, "/reset/"))
        .collect();
    let sign_in_link = link_in(
        mails
            .iter()
            .find(|m| m.data.contains("/login/link/"))
            .unwrap(),
        "/login/link/",
    );
    assert_eq!(resets.len(), 2);
    assert_eq!(ann.get(&resets[1]).status, 200, "live before the reset");
    assert_eq!(ann.get(&sign_in_link).status, 200, "live before the reset");
    let new_password = "a brand new password 42";
    let reset = ann.post(
        &resets[0],
        &[("password", new_password), ("confirm", new_password)],
        &[],
    );
    assert_eq!(reset.status, 303, "{}", reset.body);
    // The other reset link may not set yet another password; the sign-in link is gone.
    assert_eq!(ann.get(&resets[1]).status, 404);
    let again = ann.post(
        &resets[1],
        &[
            ("password", "yet another password"),
            ("confirm", "yet another password"),
        ],
        &[],
    );
    assert_eq!(again.status, 404);
    let mut stranger = Client::new(addr(9), server.url());
    assert_eq!(stranger.post(&sign_in_link, &[], &[]).status, 404);
    assert!(stranger.get("/account").status != 200);
    assert_eq!(
        Client::new(addr(10), server.url()).sign_in("ann@example.com", new_password, &[]),
        303
    );

    // Sign out everywhere.
    let mut vi = Client::new(addr(11), server.url());
    assert_eq!(vi.sign_in("vi@example.com", PASSWORD, &[]), 303);
    assert_eq!(
        vi.post("/login/link", &[("email", "vi@example.com")], &[])
            .status,
        200
    );
    let mail = smtp
        .wait_for(4)
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.contains("vi@")))
        .unwrap();
    let link = link_in(&mail, "/login/link/");
    assert_eq!(
        vi.get(&link).status,
        200,
        "live before signing out everywhere"
    );
    let out = vi.post_signed_in("/account", "/account/sessions/end-all");
    assert_eq!(out.status, 303);
    assert_eq!(vi.get(&link).status, 404);
    assert_eq!(vi.post(&link, &[], &[]).status, 404);
}

/// Sends a webhook's head and all but `held_back` bytes of its 512 KiB body at once, then
/// a byte every 5 s, reading meanwhile; the answer's status line, if any, once the server
/// closed the connection. Panics if it is still open after two minutes (the old rule, an
/// average since the first byte, kept it ~1,000 s).
fn front_loaded_then_trickled(to: SocketAddr, held_back: usize) -> Option<String> {
    const BODY: usize = 512 * 1024;
    let mut stream = TcpStream::connect(to).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST /stripe/webhook HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n\
         Stripe-Signature: t=1,v1=00\r\nContent-Length: {BODY}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![b' '; BODY - held_back]).unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(120) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // A reset can also surface here, on the write: the server is gone either way.
                if stream.write_all(b" ").is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "a trickled webhook body still held its connection after {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&answer).to_string();
    text.lines().next().map(str::to_owned)
}

/// Issue 22 (High): a webhook body sent almost whole and then a byte at a time held its
/// connection and the 512 KiB read so far for ~1,000 s, with Stripe switched off too;
/// 800 such connections took the server to 900 MB. Now it is dropped within a window of
/// the request gate (or the handler's deadline), and Stripe's own deliveries still work.
#[test]
fn a_trickled_webhook_body_is_dropped_and_stripes_deliveries_still_work() {
    let tmp = tempfile::tempdir().unwrap();
    let stripe = crate::stripe_standin::Standin::start();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: stripe.config(),
            ..Options::default()
        },
    );
    let to: SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();
    // Several at once, each holding 512 KiB less 200 bytes (1,000 s of trickling).
    let trickles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || front_loaded_then_trickled(to, 200)))
        .collect();
    for trickle in trickles {
        let status = trickle.join().unwrap();
        // Either the handler's 408 came first, or the gate ended it without an answer.
        if let Some(status) = status {
            assert!(status.contains(" 408 "), "{status}");
        }
    }

    // A whole body sent at once is read and judged: a forged one is refused in words.
    let hook = format!("{}/stripe/webhook", server.url());
    let forged = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&hook)
        .header("Stripe-Signature", "t=1,v1=00")
        .send(&" ".repeat(500 * 1024))
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    // Stripe's delivery of an event, signed: taken.
    let event = serde_json::json!({
        "id": "evt_gate_1", "object": "event", "type": "customer.created",
        "created": 1_700_000_000, "data": {"object": {"id": "cus_gate_1", "object": "customer"}}
    });
    assert_eq!(crate::stripe_standin::Standin::deliver(&hook, &event), 200);
}
