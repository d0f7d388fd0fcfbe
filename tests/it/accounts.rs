//! Accounts through the real server: the first-run setup link, `admin create` from the
//! shell, sign-in and its cookie, CSRF, brute-force throttling, and escaping.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use marquee::accounts::roles::{Permission, Role};

use crate::support::{Options, Server, SmtpCapture, bin};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A browser: keeps cookies, follows no redirects, shows every status.
pub(crate) struct Browser {
    base: String,
    agent: ureq::Agent,
    pub(crate) cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    headers: BTreeMap<String, String>,
    pub(crate) location: Option<String>,
    set_cookies: Vec<String>,
    pub(crate) body: String,
}

impl Page {
    /// A response header (lower-case name).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The value of the hidden `csrf` field of the page's first form.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Browser {
    pub(crate) fn new(base: &str) -> Browser {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            )
            .build()
            .new_agent();
        Browser {
            base: base.to_string(),
            agent,
            cookies: BTreeMap::new(),
        }
    }

    /// The `Cookie` header the browser sends.
    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, mut resp: ureq::http::Response<ureq::Body>) -> Page {
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            set_cookies,
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub(crate) fn get(&mut self, path: &str) -> Page {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .call()
            .unwrap();
        self.take(resp)
    }

    pub(crate) fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .send_form(form.iter().copied())
            .unwrap();
        self.take(resp)
    }

    /// A JSON post as a page's script sends it: the session cookie and `x-csrf-token`.
    pub(crate) fn post_json(&mut self, path: &str, csrf: &str, body: &str) -> Page {
        let resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie_header())
            .header("x-csrf-token", csrf)
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        self.take(resp)
    }

    /// Opens the sign-in page and submits it.
    pub(crate) fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.get("/login").csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
    }

    pub(crate) fn session(&self) -> Option<&String> {
        self.cookies
            .iter()
            .find(|(k, _)| k.ends_with("marquee_session"))
            .map(|(_, v)| v)
    }
}

fn admin_create(data: &Path, email: &str, extra: &[&str], password: &str) -> Output {
    let mut child = Command::new(bin())
        .args(["admin", "create", "--email", email, "--data-dir"])
        .arg(data)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn created(data: &Path, email: &str, extra: &[&str]) {
    let out = admin_create(data, email, extra, PASSWORD);
    assert!(
        out.status.success(),
        "admin create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser signed in as `email` (with `PASSWORD`).
pub(crate) fn signed_in(server: &Server, email: &str) -> Browser {
    let mut browser = Browser::new(server.url());
    let answer = browser.sign_in(email, PASSWORD);
    assert_eq!(answer.status, 303, "{email}: {}", answer.body);
    browser
}

/// A data dir under `dir` whose owner `ann@example.com` was made with `admin create`
/// (`extra`: more of its arguments).
pub(crate) fn data_with_ann(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    created(&data, "ann@example.com", extra);
    data
}

/// The setup link's path, from the server's log.
fn setup_path(server: &Server) -> Option<String> {
    let log = server.log();
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    log.match_indices("/setup/")
        .filter_map(|(at, _)| log.get(at..at + "/setup/".len() + 43))
        .filter(|path| path["/setup/".len()..].chars().all(token_char))
        .last()
        .map(str::to_owned)
}

/// Waits for the setup link to be logged (the server logs it as it starts serving).
pub(crate) fn logged_setup_path(server: &Server) -> String {
    for _ in 0..100 {
        if let Some(path) = setup_path(server) {
            return path;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no setup link logged: {}", server.log());
}

#[test]
fn setup_link_works_once_and_signs_the_owner_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(&dir.path().join("data"), Options::default());
    let path = logged_setup_path(&server);
    let mut owner = Browser::new(server.url());
    let form = owner.get(&path);
    assert_eq!(form.status, 200, "{}", form.body);
    // The page with the token in its address is not cached, framed, or sent as a referrer.
    for (name, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", marquee::http::csp::PAGE_POLICY),
    ] {
        assert_eq!(
            form.headers.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
    // Bad input changes nothing: the passwords differ.
    let csrf = form.csrf();
    let refused = owner.post(
        &path,
        &[
            ("csrf", &csrf),
            ("email", "owner@example.com"),
            ("password", PASSWORD),
            ("confirm", "another password entirely"),
        ],
    );
    assert_eq!(refused.status, 400);
    assert!(owner.session().is_none());
    let done = owner.post(
        &path,
        &[
            ("csrf", &csrf),
            ("email", "Owner@Example.com"),
            ("name", "Olive"),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/admin"));
    let admin = owner.get("/admin");
    assert_eq!(admin.status, 200);
    assert!(
        admin.body.contains("Owner@example.com")
            && admin.body.contains("<span class=\"role\">Owner</span>")
    );

    // The link is spent: a second visitor can neither open nor use it.
    let mut second = Browser::new(server.url());
    assert_eq!(second.get(&path).status, 404);
    let csrf = second.get("/login").csrf();
    let again = second.post(
        &path,
        &[
            ("csrf", &csrf),
            ("email", "intruder@example.com"),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(again.status, 404);
    assert!(second.session().is_none());
    assert_eq!(second.sign_in("intruder@example.com", PASSWORD).status, 401);
    // The access log does not carry the token.
    let token = &path["/setup/".len()..];
    assert_eq!(server.log().matches(token).count(), 1, "{}", server.log());
    assert!(server.log().contains("/setup/[redacted]"));
    // With an owner, a restart issues no new link.
    assert!(server.terminate().success());
    server.restart();
    assert_eq!(setup_path(&server).as_deref(), Some(path.as_str()));
}

/// `marquee admin setup-link`, as install.sh runs it beside the running service (whose
/// address it reads from the settings, here from `MARQUEE_LISTEN`).
fn setup_link_command(server: &Server, data: &Path) -> String {
    let out = Command::new(bin())
        .args(["admin", "setup-link", "--data-dir"])
        .arg(data)
        .env("MARQUEE_LISTEN", server.url().trim_start_matches("http://"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn admin_setup_link_replaces_the_printed_link_until_an_owner_exists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, Options::default());
    let printed = logged_setup_path(&server);

    // A fresh link for the address the server answers on, alone on the last line; the one
    // the server printed stops working.
    let text = setup_link_command(&server, &data);
    let link = text.lines().last().unwrap();
    let path = link
        .strip_prefix(server.url())
        .unwrap_or_else(|| panic!("{link} is not on {}", server.url()));
    assert!(path.starts_with("/setup/") && path != printed, "{text}");
    let mut browser = Browser::new(server.url());
    assert_eq!(browser.get(&printed).status, 404);
    assert_eq!(browser.get(path).status, 200);

    // Once the owner exists it says where to sign in, and issues nothing.
    created(&data, "ann@example.com", &[]);
    let text = setup_link_command(&server, &data);
    assert!(
        text.contains(&format!("sign in at {}/login", server.url())) && !text.contains("/setup/"),
        "{text}"
    );
    assert_eq!(browser.get(path).status, 404);
}

#[test]
fn the_setup_link_names_https_under_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        Options {
            tls: true,
            ..Options::default()
        },
    );
    let path = logged_setup_path(&server);
    let https = server.https.as_deref().unwrap();
    assert!(
        server.log().contains(&format!("{https}{path}")),
        "{}",
        server.log()
    );
    let mut owner = Browser::new(https);
    assert_eq!(owner.get(&path).status, 200);
}

#[test]
fn admin_create_from_the_shell_then_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let short = admin_create(&data, "ann@example.com", &[], "too short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let bad_email = admin_create(&data, "ann at example.com", &[], PASSWORD);
    assert!(!bad_email.status.success());
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("email"));
    created(&data, "Ann@Example.com", &[]);
    let server = Server::start_with(&data, Options::default());
    // An owner exists, so no setup link.
    assert!(setup_path(&server).is_none(), "{}", server.log());

    let mut browser = Browser::new(server.url());
    // Signed out, the dashboard sends to sign-in.
    let out = browser.get("/admin");
    assert_eq!(out.status, 303);
    assert!(out.location.unwrap().starts_with("/login?next="));
    let wrong = browser.sign_in("ann@example.com", "not the password at all");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong email or password."));
    assert!(browser.session().is_none());
    let unknown = browser.sign_in("bob@example.com", PASSWORD);
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("Wrong email or password."));
    // The email compares case-insensitively, and `next` goes nowhere off this site.
    let csrf = browser.get("/login").csrf();
    let ok = browser.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("email", " ANN@example.com "),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ],
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/admin"));
    assert_eq!(browser.get("/admin").status, 200);
}

#[test]
fn the_session_cookie_changes_at_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let mut browser = Browser::new(server.url());
    // An attacker plants a session id in the browser before it signs in.
    let planted = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
    browser
        .cookies
        .insert("marquee_session".into(), planted.clone());
    assert_eq!(browser.sign_in("ann@example.com", PASSWORD).status, 303);
    let first = browser.session().unwrap().clone();
    assert_ne!(first, planted);
    // Signing in again gives a new session and ends the one the browser had.
    assert_eq!(browser.sign_in("ann@example.com", PASSWORD).status, 303);
    let second = browser.session().unwrap().clone();
    assert_ne!(second, first);
    let mut stale = Browser::new(server.url());
    stale.cookies.insert("marquee_session".into(), first);
    assert_eq!(stale.get("/admin").status, 303);
    assert_eq!(browser.get("/admin").status, 200);
}

#[test]
fn cookies_are_secure_with_the_host_prefix_only_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    for tls in [true, false] {
        let data = dir.path().join(format!("data-{tls}"));
        std::fs::create_dir_all(&data).unwrap();
        created(&data, "ann@example.com", &[]);
        let server = Server::start_with(
            &data,
            Options {
                tls,
                ..Options::default()
            },
        );
        let mut browser = Browser::new(server.url());
        let page = browser.sign_in("ann@example.com", PASSWORD);
        assert_eq!(page.status, 303, "{}", page.body);
        let cookie = page
            .set_cookies
            .iter()
            .find(|c| c.contains("marquee_session="))
            .unwrap();
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert_eq!(
            cookie.starts_with("__Host-marquee_session="),
            tls,
            "{cookie}"
        );
        assert_eq!(cookie.contains("Secure"), tls, "{cookie}");
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert_eq!(browser.get("/account").status, 200);
    }
}

#[test]
fn a_post_without_this_sessions_csrf_token_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "bob@example.com", &["--role", "editor"]);
    let server = Server::start_with(&data, Options::default());
    let mut ann = Browser::new(server.url());
    let mut bob = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).status, 303);
    let anns_token = ann.get("/account").csrf();
    let bobs_token = bob.get("/account").csrf();
    assert_ne!(anns_token, bobs_token);

    for form in [
        vec![],
        vec![("csrf", bobs_token.as_str())],
        vec![("csrf", "")],
    ] {
        let refused = ann.post("/account/sessions/end-all", &form);
        assert_eq!(refused.status, 403, "{form:?}");
        let refused = ann.post("/logout", &form);
        assert_eq!(refused.status, 403, "{form:?}");
    }
    // The token may come in the x-csrf-token header instead; another session's is refused.
    let resp = ann
        .agent
        .post(format!("{}/logout", ann.base))
        .header("Cookie", &ann.cookie_header())
        .header("x-csrf-token", &bobs_token)
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // Still signed in: nothing changed.
    assert_eq!(ann.get("/account").status, 200);
    // With its own token (here in the header; the form field is used by sign-out in
    // every_role_gets_what_the_permission_table_gives_it) the same request works.
    let resp = ann
        .agent
        .post(format!("{}/account/sessions/end-all", ann.base))
        .header("Cookie", &ann.cookie_header())
        .header("x-csrf-token", &anns_token)
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(ann.get("/account").status, 303);
    assert_eq!(bob.get("/account").status, 200);

    // The sign-in form needs its double-submit token too.
    let mut fresh = Browser::new(server.url());
    let no_token = fresh.post(
        "/login",
        &[("email", "ann@example.com"), ("password", PASSWORD)],
    );
    assert_eq!(no_token.status, 403);
    assert!(fresh.session().is_none());
}

#[test]
fn a_brute_force_is_locked_out_and_the_real_user_gets_in_after_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: "[accounts]\nlockout_max_secs = 3\n".into(),
            ..Options::default()
        },
    );
    let mut attacker = Browser::new(server.url());
    let csrf = attacker.get("/login").csrf();
    let mut throttled = 0;
    for i in 0..100 {
        let guess = format!("guess number {i} for ann");
        let page = attacker.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", &guess),
            ],
        );
        assert!(matches!(page.status, 401 | 429), "{}", page.status);
        assert!(
            page.set_cookies
                .iter()
                .all(|c| !c.contains("marquee_session"))
        );
        throttled += usize::from(page.status == 429);
    }
    assert!(
        throttled > 50,
        "only {throttled} of 100 guesses were throttled"
    );
    // Right now even the right password waits, and the page says for how long.
    let mut ann = Browser::new(server.url());
    let waiting = ann.sign_in("ann@example.com", PASSWORD);
    assert_eq!(waiting.status, 429);
    let text = waiting
        .body
        .split("Try again in ")
        .nth(1)
        .expect("no wait given");
    let secs: u64 = text.split(' ').next().unwrap().parse().unwrap();
    assert!((1..=3).contains(&secs), "{secs}");
    assert!(ann.session().is_none());
    // Once the configured window has passed, the real user gets in.
    std::thread::sleep(Duration::from_secs(secs + 1));
    let ok = ann.sign_in("ann@example.com", PASSWORD);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ann.get("/admin").status, 200);
}

#[test]
fn markup_in_names_and_emails_renders_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let script = "<script>alert(1)</script>";
    let data = data_with_ann(dir.path(), &["--name", script]);
    // An address cannot carry markup at all.
    assert!(
        !admin_create(&data, "<script>@example.com", &[], PASSWORD)
            .status
            .success()
    );
    let server = Server::start_with(&data, Options::default());
    let mut browser = Browser::new(server.url());
    // The email typed is shown again after a failed sign-in.
    let typed = "\"><script>alert(2)</script>";
    let page = browser.sign_in(typed, PASSWORD);
    assert_eq!(page.status, 401);
    assert!(!page.body.contains("<script>alert(2)"), "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(2)"),
        "{}",
        page.body
    );
    assert_eq!(browser.sign_in("ann@example.com", PASSWORD).status, 303);
    for path in ["/admin", "/account"] {
        let page = browser.get(path);
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(script), "{path}: {}", page.body);
        assert!(
            page.body.contains("&lt;script&gt;alert(1)"),
            "{path}: {}",
            page.body
        );
    }
}

/// Every signed-in page and the permission it needs (`None`: any signed-in person), as the
/// handlers' signatures say (`Admin<perm::…>` or `Viewer`).
const PAGES: &[(&str, Option<Permission>)] = &[
    ("/admin", Some(Permission::DashboardView)),
    ("/account", None),
];

#[test]
fn every_role_gets_what_the_permission_table_gives_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    for role in Role::ALL {
        created(
            &data,
            &format!("{role}@example.com"),
            &["--role", role.as_str()],
        );
    }
    let server = Server::start_with(&data, Options::default());
    let mut signed_out = Browser::new(server.url());
    for (page, _) in PAGES {
        let answer = signed_out.get(page);
        assert_eq!(answer.status, 303, "{page}");
        assert!(answer.location.unwrap().starts_with("/login?next="));
    }
    for role in Role::ALL {
        let mut browser = Browser::new(server.url());
        let signed_in = browser.sign_in(&format!("{role}@example.com"), PASSWORD);
        assert_eq!(signed_in.status, 303, "{role}: {}", signed_in.body);
        for (page, permission) in PAGES {
            let allowed = permission.is_none_or(|p| role.may(p));
            let answer = browser.get(page);
            assert_eq!(
                answer.status,
                if allowed { 200 } else { 403 },
                "{role} on {page}"
            );
        }
        // Signing out ends the session for good.
        let csrf = browser.get("/account").csrf();
        let cookies = browser.cookies.clone();
        assert_eq!(browser.post("/logout", &[("csrf", &csrf)]).status, 303);
        assert!(browser.session().is_none());
        assert_eq!(browser.get("/account").status, 303);
        // A copy of the old cookie no longer signs anyone in.
        browser.cookies = cookies;
        assert_eq!(browser.get("/account").status, 303);
    }
}

/// The sign-in link in a captured email (quoted-printable line breaks undone).
fn emailed_link(mail: &crate::support::CapturedMail) -> String {
    let text = mail.data.replace("=\r\n", "");
    let at = text
        .find("http")
        .unwrap_or_else(|| panic!("no link in {text}"));
    let link = text[at..].split_whitespace().next().unwrap().to_string();
    assert!(link.contains("/login/link/"), "{link}");
    link
}

/// Asks for a sign-in link for `email` on the sign-in page.
fn ask_for_link(browser: &mut Browser, email: &str) -> Page {
    let csrf = browser.get("/login").csrf();
    browser.post("/login/link", &[("csrf", &csrf), ("email", email)])
}

#[test]
fn an_emailed_link_signs_a_viewer_in_once() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    created(&data, "vi@example.com", &["--role", "viewer"]);
    let options = Options {
        tables: smtp.config(),
        ..Options::default()
    };
    let server = Server::start_with(&data, options.clone());
    let mut browser = Browser::new(server.url());
    assert!(
        browser
            .get("/login")
            .body
            .contains("Email me a sign-in link")
    );

    let asked = ask_for_link(&mut browser, "VI@example.com");
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("a sign-in link is on its way"));
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, ["<vi@example.com>"]);
    assert_eq!(mail.from, "<tv@example.com>");
    assert!(
        mail.data.contains("Subject: Your sign-in link"),
        "{}",
        mail.data
    );
    let link = emailed_link(&mail);
    let path = link
        .strip_prefix(server.url())
        .unwrap_or_else(|| panic!("{link} is not on {}", server.url()))
        .to_string();

    // Opening the link (as a mail scanner would) signs no one in and uses nothing up.
    for _ in 0..2 {
        let opened = browser.get(&path);
        assert_eq!(opened.status, 200);
        assert!(browser.session().is_none());
    }
    let planted = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
    browser
        .cookies
        .insert("marquee_session".into(), planted.clone());
    let csrf = browser.get(&path).csrf();
    let confirmed = browser.post(&path, &[("csrf", &csrf)]);
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    // No `next`: a viewer's home, the storefront.
    assert_eq!(confirmed.location.as_deref(), Some("/"));
    assert_ne!(browser.session(), Some(&planted));
    let account = browser.get("/account");
    assert_eq!(account.status, 200);
    assert!(account.body.contains("vi@example.com"));

    // The access log names the path, never the token.
    let token = &path["/login/link/".len()..];
    assert!(!server.log().contains(token), "{}", server.log());
    assert!(server.log().contains("/login/link/[redacted]"));

    // Used once: a second use, in another browser, is refused.
    let mut other = Browser::new(server.url());
    assert_eq!(other.get(&path).status, 404);
    let csrf = other.get("/login").csrf();
    assert_eq!(other.post(&path, &[("csrf", &csrf)]).status, 404);
    assert!(other.session().is_none());

    // An unknown email gets the same answer and no email; a known one asked after it
    // gets the next one.
    let mut stranger = Browser::new(server.url());
    let unknown = ask_for_link(&mut stranger, "nobody@example.com");
    assert_eq!(unknown.status, asked.status);
    assert_eq!(
        unknown.body.replace("nobody@example.com", "EMAIL"),
        asked
            .body
            .replace("VI@example.com", "EMAIL")
            .replace(&asked.csrf(), &unknown.csrf())
    );
    ask_for_link(&mut stranger, "vi@example.com");
    std::thread::sleep(Duration::from_millis(500));
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[1].to, ["<vi@example.com>"]);
    drop(server);

    // A link opened after its time is refused.
    let options = Options {
        env: vec![("MARQUEE_ACCOUNTS__MAGIC_LINK_SECS".into(), "1".into())],
        ..options
    };
    let server = Server::start_with(&data, options);
    let mut late = Browser::new(server.url());
    assert_eq!(ask_for_link(&mut late, "vi@example.com").status, 200);
    let link = emailed_link(&smtp.wait_for(3)[2]);
    let path = link.strip_prefix(server.url()).unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2500));
    let csrf = late.get("/login").csrf();
    assert_eq!(late.post(&path, &[("csrf", &csrf)]).status, 404);
    assert!(late.session().is_none());
}

#[test]
fn without_smtp_no_link_is_sent_and_the_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(&data, Options::default());
    let mut browser = Browser::new(server.url());
    assert!(
        !browser
            .get("/login")
            .body
            .contains("Email me a sign-in link")
    );
    let asked = ask_for_link(&mut browser, "ann@example.com");
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("a sign-in link is on its way"));
    assert!(
        server
            .log()
            .contains("email not sent: SMTP is not configured"),
        "{}",
        server.log()
    );
}

#[test]
fn asking_for_links_is_throttled_and_leaves_the_password_alone() {
    let smtp = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_ann(dir.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let mut browser = Browser::new(server.url());
    // One address: 20 requests are free, then each locks for twice as long as the last:
    // one of the next requests lands inside a lock, whatever the machine's speed. Ann's
    // email gets only its small mail budget of them.
    let mut asked = 0;
    let throttled = loop {
        let page = ask_for_link(&mut browser, "ann@example.com");
        asked += 1;
        if page.status == 429 || asked == 30 {
            break page;
        }
        assert_eq!(page.status, 200);
    };
    assert_eq!(
        throttled.status, 429,
        "not throttled after {asked} requests"
    );
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(asked > 20, "throttled after only {asked} requests");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(smtp.wait_for(5).len(), 5, "past the mail budget, no email");
    // Password sign-in counts its own failures.
    assert_eq!(browser.sign_in("ann@example.com", PASSWORD).status, 303);
}
