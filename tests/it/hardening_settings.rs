//! Issue 22's settings and keys hardening through the real server: where email goes and
//! the public address are the owner's alone (an admin or a `settings:write` key moving
//! mail could receive the owner's reset link); moving mail clears the SMTP password and
//! tells the owners at the old address; the paywall's terms need `billing:write`; a key
//! made by a key never outlives it and is revoked with it; webhooks and alert webhooks go
//! only to public addresses unless the operator allows a range; every page carries a
//! Content-Security-Policy that the pages keep in Chromium.

use std::process::Command;

use serde_json::{Value, json};

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::support::{Server, SmtpCapture, apikey_create, bin, unix_now};

/// An API call as the dashboard's scripts make it: the session cookie and `x-csrf-token`.
pub(crate) fn session_call(
    server: &Server,
    browser: &mut Browser,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let csrf = browser.get("/account").csrf();
    let cookie = browser.cookie_header();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url()))
        .header("Cookie", cookie)
        .header("x-csrf-token", csrf)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .unwrap();
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .run(request)
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

/// A key from the shell with `scopes` (and `--expires-in` when given).
fn shell_key(server: &Server, scopes: &[&str], expires_in: Option<&str>) -> String {
    let mut args = vec!["--name", "narrow"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    if let Some(lifetime) = expires_in {
        args.extend(["--expires-in", lifetime]);
    }
    apikey_create(&server.data, &args)
}

fn setting(server: &Server, key: &str) -> Value {
    let (status, list) = server.call("GET", "/api/v1/settings", None);
    assert_eq!(status, 200, "{list}");
    crate::settings::setting(&list, key)
}

/// Email through `sink`, set by the owner from the dashboard's API.
fn mail_through(server: &Server, ann: &mut Browser, sink: &SmtpCapture, extra: Value) {
    let mut body = json!({
        "smtp.host": "127.0.0.1", "smtp.port": sink.port, "smtp.security": "none",
        "smtp.from": "TV <tv@example.com>",
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, answer) = session_call(server, ann, "PATCH", "/api/v1/settings", body);
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn admins_and_keys_cannot_move_mail_or_links_so_the_owners_reset_link_stays_home() {
    let home = SmtpCapture::start();
    let evil = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "adam@example.com", &["--role", "admin"]);
    let server = Server::start(&data, "");
    let mut ann = signed_in(&server, "ann@example.com");
    mail_through(&server, &mut ann, &home, json!({}));
    // Telling the owners of the first set-up went through the old settings: email was off.
    assert!(home.mails().is_empty());

    let narrow = shell_key(&server, &["settings:read", "settings:write"], None);
    let moves = [
        json!({"smtp.port": evil.port}),
        json!({"smtp.host": "localhost", "smtp.port": evil.port}),
        json!({"site.base_url": "https://evil.example"}),
        json!({"smtp.from": "Evil <x@evil.example>"}),
    ];
    for change in &moves {
        // A settings:write key, and a key with every scope.
        for key in [&narrow, &server.key] {
            let (status, answer) = server.call_as(key, "PATCH", "/api/v1/settings", change.clone());
            assert_eq!(status, 403, "{change}: {answer}");
            let message = answer.to_string();
            assert!(message.contains("only an owner, signed in"), "{message}");
        }
    }
    // An admin, from the API and from the dashboard.
    let mut adam = signed_in(&server, "adam@example.com");
    for change in &moves {
        let (status, answer) = session_call(
            &server,
            &mut adam,
            "PATCH",
            "/api/v1/settings",
            change.clone(),
        );
        assert_eq!(status, 403, "{change}: {answer}");
    }
    let page = adam.get("/admin/settings");
    assert!(
        page.body.contains("Only an owner changes this"),
        "{}",
        page.body
    );
    let port = evil.port.to_string();
    let refused = adam.post(
        "/admin/settings",
        &[
            ("csrf", &page.csrf()),
            ("smtp.port", &port),
            ("site.base_url", "https://evil.example"),
        ],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("Nothing was saved"),
        "{}",
        refused.body
    );
    // An admin still changes the rest, and a form that sends the email fields back
    // unchanged is no change of them.
    let home_port = home.port.to_string();
    let saved = adam.post(
        "/admin/settings",
        &[
            ("csrf", &page.csrf()),
            ("site.name", "Adam's"),
            ("smtp.port", &home_port),
            ("smtp.host", "127.0.0.1"),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Nothing moved.
    assert_eq!(setting(&server, "smtp.port")["value"], home.port);
    assert_eq!(setting(&server, "smtp.host")["value"], "127.0.0.1");
    assert_eq!(setting(&server, "site.base_url")["value"], "");
    assert_eq!(
        setting(&server, "smtp.from")["value"],
        "TV <tv@example.com>"
    );

    // The owner's reset link goes home, pointing at this server.
    let mut stranger = Browser::new(server.url());
    let csrf = stranger.get("/reset").csrf();
    let asked = stranger.post("/reset", &[("csrf", &csrf), ("email", "ann@example.com")]);
    assert_eq!(asked.status, 200, "{}", asked.body);
    let mail = home.wait_for(1).remove(0);
    assert_eq!(mail.to, ["<ann@example.com>"]);
    assert!(
        mail.data.contains(&format!("{}/reset/", server.url())),
        "{}",
        mail.data
    );
    assert!(!mail.data.contains("evil.example"), "{}", mail.data);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(evil.mails().is_empty(), "{:?}", evil.mails());
}

#[test]
fn the_owner_moves_mail_the_password_is_cleared_and_the_owners_are_told_at_the_old_address() {
    let home = SmtpCapture::start();
    let new = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "olga@example.com", &["--role", "owner"]);
    let server = Server::start(&data, "");
    let mut ann = signed_in(&server, "ann@example.com");
    let old_secret = "old-smtp-secret";
    mail_through(
        &server,
        &mut ann,
        &home,
        json!({"smtp.username": "tv", "smtp.password": old_secret}),
    );
    assert_eq!(setting(&server, "smtp.password")["is_set"], true);

    // Moving mail without a password: the stored one is not taken along.
    let (status, answer) = session_call(
        &server,
        &mut ann,
        "PATCH",
        "/api/v1/settings",
        json!({"smtp.port": new.port}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.to_string().contains("enter the password again"),
        "{answer}"
    );
    assert_eq!(setting(&server, "smtp.port")["value"], home.port);

    // Moved with the user name cleared: the password goes too.
    let (status, answer) = session_call(
        &server,
        &mut ann,
        "PATCH",
        "/api/v1/settings",
        json!({"smtp.port": new.port, "smtp.username": ""}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(setting(&server, "smtp.password")["is_set"], false);
    assert_eq!(setting(&server, "smtp.port")["value"], new.port);

    // Both owners were told, through the old server (signed in with the old password).
    let told = home.wait_for(2);
    let mut to: Vec<String> = told.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["<ann@example.com>", "<olga@example.com>"]);
    for mail in &told {
        assert_eq!(mail.auth.as_deref(), Some("tv old-smtp-secret"));
        assert!(mail.data.contains("smtp.port"), "{}", mail.data);
        assert!(
            mail.data.contains("smtp.password: cleared"),
            "{}",
            mail.data
        );
        assert!(
            mail.data.contains("ann@example.com changed"),
            "{}",
            mail.data
        );
    }
    // From now on mail goes to the new server, with no password.
    let mut stranger = Browser::new(server.url());
    let csrf = stranger.get("/reset").csrf();
    stranger.post("/reset", &[("csrf", &csrf), ("email", "ann@example.com")]);
    let reset = new.wait_for(1).remove(0);
    assert!(reset.data.contains("/reset/"), "{}", reset.data);
    assert_eq!(reset.auth, None);
    assert!(new.mails().iter().all(|m| !m.data.contains(old_secret)));

    // Plain SMTP only to this machine.
    for host in ["mail.example.com", "10.0.0.1", "[::2]"] {
        let (status, answer) = session_call(
            &server,
            &mut ann,
            "PATCH",
            "/api/v1/settings",
            json!({"smtp.host": host, "smtp.security": "none"}),
        );
        assert_eq!(status, 400, "{host}: {answer}");
        assert!(
            answer
                .to_string()
                .contains("only for a relay on this machine"),
            "{answer}"
        );
    }
    assert_eq!(setting(&server, "smtp.host")["value"], "127.0.0.1");
}

#[test]
fn plain_smtp_to_another_machine_is_refused_in_the_settings_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("marquee.toml"),
        "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\nfrom = \"tv@example.com\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["apikey", "create", "--name", "x", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("only for a relay on this machine"),
        "{stderr}"
    );
}

#[test]
fn the_paywalls_terms_need_billing_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let settings_only = shell_key(&server, &["settings:read", "settings:write"], None);
    let with_billing = shell_key(
        &server,
        &["settings:read", "settings:write", "billing:write"],
        None,
    );
    for change in [
        json!({"paywall.rental_hours": 1000}),
        json!({"paywall.past_due_grace_days": 30}),
        json!({"paywall.token_ttl_secs": 86_400}),
        json!({"paywall.purchase_token_ttl_secs": 86_400}),
    ] {
        let (status, answer) =
            server.call_as(&settings_only, "PATCH", "/api/v1/settings", change.clone());
        assert_eq!(status, 403, "{change}: {answer}");
        assert!(
            answer
                .to_string()
                .contains("needs the permission billing:write"),
            "{answer}"
        );
    }
    assert_eq!(setting(&server, "paywall.rental_hours")["value"], 48);
    // Other settings stay settings:write's.
    let (status, answer) = server.call_as(
        &settings_only,
        "PATCH",
        "/api/v1/settings",
        json!({"transcode.audio_kbps": 96}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call_as(
        &with_billing,
        "PATCH",
        "/api/v1/settings",
        json!({"paywall.rental_hours": 1000}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(setting(&server, "paywall.rental_hours")["value"], 1000);
}

#[test]
fn a_key_made_by_a_key_never_outlives_it_and_is_revoked_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let parent = shell_key(&server, &["apikeys:write", "assets:read"], Some("1h"));
    let listed = |key: &str, id: i64| -> Value {
        let (status, list) = server.call_as(key, "GET", "/api/v1/api-keys", None);
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .cloned()
            .unwrap()
    };
    let make = |by: &str, days: Option<i64>| -> Value {
        let mut body = json!({"name": "copy", "scopes": ["apikeys:write", "assets:read"]});
        if let Some(d) = days {
            body["expires_in_days"] = json!(d);
        }
        let (status, made) = server.call_as(by, "POST", "/api/v1/api-keys", body);
        assert_eq!(status, 201, "{made}");
        made
    };
    let child = make(&parent, None);
    let parent_expiry = child["expires_at"].as_i64().expect("the child expires");
    assert!(parent_expiry <= unix_now() + 3600, "{child}");
    let child_key = child["key"].as_str().unwrap().to_string();
    let grandchild = make(&child_key, Some(3650));
    assert_eq!(grandchild["expires_at"].as_i64(), Some(parent_expiry));
    let grandchild_key = grandchild["key"].as_str().unwrap().to_string();
    assert_eq!(
        listed(&server.key, grandchild["id"].as_i64().unwrap())["parent_id"],
        child["id"]
    );

    for key in [&child_key, &grandchild_key] {
        let (status, answer) = server.call_as(key, "GET", "/api/v1/assets", None);
        assert_eq!(status, 200, "{answer}");
    }

    // Revoking the parent (the one key named "narrow") revokes both copies at once.
    let (_, keys) = server.call_as(&server.key, "GET", "/api/v1/api-keys", None);
    let parent_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "narrow")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(child["parent_id"], parent_id);
    let (status, _) = server.call_as(
        &server.key,
        "DELETE",
        &format!("/api/v1/api-keys/{parent_id}"),
        Value::Null,
    );
    assert_eq!(status, 204);
    for key in [&parent, &child_key, &grandchild_key] {
        let (status, answer) = server.call_as(key, "GET", "/api/v1/assets", None);
        assert_eq!(status, 401, "{answer}");
    }
    let (status, _) = server.call_as(&server.key, "GET", "/api/v1/assets", None);
    assert_eq!(status, 200);
    assert!(listed(&server.key, grandchild["id"].as_i64().unwrap())["revoked_at"].is_i64());
}

/// An HTTP receiver on 127.0.0.1 answering every POST with `status` and `body`.
struct Receiver {
    port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    fn start(status: u16, body: &'static str) -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let counted = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut payload = vec![0; length];
                let _ = reader.read_exact(&mut payload);
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut out = conn;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Receiver { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Sends a test event to endpoint `id` and waits for its delivery's outcome.
fn test_delivery(server: &Server, id: &Value) -> Value {
    let (status, answer) = server.call("POST", &format!("/api/v1/webhooks/{id}/test"), None);
    assert!(status < 300, "{answer}");
    for _ in 0..100 {
        let (_, log) = server.call("GET", &format!("/api/v1/webhooks/{id}/deliveries"), None);
        if let Some(d) = log.as_array().and_then(|l| l.first())
            && (d["attempts"].as_i64() > Some(0) && d["state"] != "pending"
                || d["last_error"].is_string())
        {
            return d.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no delivery to {id}");
}

#[test]
fn webhooks_and_alerts_go_only_to_public_addresses_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let mut server = Server::start(&data, "");
    let receiver = Receiver::start(204, "");
    let internal = [
        format!("http://127.0.0.1:{}/hook", receiver.port),
        "http://10.0.0.1/".to_string(),
        "http://[::1]/".to_string(),
        "http://[::ffff:127.0.0.1]/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://localhost:{}/", receiver.port),
    ];
    for url in &internal {
        let (status, answer) = server.call("POST", "/api/v1/webhooks", Some(json!({"url": url})));
        assert_eq!(status, 400, "{url}: {answer}");
        assert!(
            answer
                .to_string()
                .contains("webhooks go only to public addresses"),
            "{answer}"
        );
    }
    let (_, list) = server.call("GET", "/api/v1/webhooks", None);
    assert_eq!(list, json!([]));
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get("/admin/alerts").csrf();
    let refused = ann.post(
        "/admin/alerts",
        &[
            ("csrf", &csrf),
            ("metric", "ttff_p95"),
            ("threshold", "2000"),
            ("min_plays", "3"),
            ("channel", "webhook"),
            ("target", &internal[0]),
        ],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("public addresses"),
        "{}",
        refused.body
    );
    server.terminate();

    // Allowed by the operator: delivery works; a receiver's error body stays out of the log.
    let config = data.join("marquee.toml");
    let plain = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{plain}\n[webhooks]\nretry_secs = [1]\nallow_private = [\"127.0.0.1/32\"]\n"),
    )
    .unwrap();
    server.restart();
    let failing = Receiver::start(500, "db password=hunter2 at internal-billing:5432");
    let add = |url: String| {
        let (status, endpoint) = server.call("POST", "/api/v1/webhooks", Some(json!({"url": url})));
        assert_eq!(status, 201, "{endpoint}");
        endpoint["id"].clone()
    };
    let good = add(format!("http://localhost:{}/hook", receiver.port));
    let bad = add(format!("http://127.0.0.1:{}/hook", failing.port));
    let delivered = test_delivery(&server, &good);
    assert_eq!(delivered["state"], "delivered", "{delivered}");
    assert_eq!(receiver.hits(), 1);
    let failed = test_delivery(&server, &bad);
    assert_eq!(failed["last_status"], 500, "{failed}");
    assert_eq!(failed["last_error"], "answered 500", "{failed}");
    let page = signed_in(&server, "ann@example.com")
        .get("/admin/webhooks")
        .body;
    assert!(!page.contains("hunter2"), "{page}");
    server.terminate();

    // The allowance taken away: the saved name is refused when it is resolved.
    std::fs::write(&config, &plain).unwrap();
    server.restart();
    let refused = test_delivery(&server, &good);
    assert_ne!(refused["state"], "delivered", "{refused}");
    let error = refused["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused: localhost resolves to"),
        "{refused}"
    );
    assert_eq!(receiver.hits(), 1);
}

#[test]
fn every_page_carries_a_content_security_policy_that_the_pages_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("Harbour_Tour.mp4");
    crate::support::make_clip(&clip, "640x360", 30, 8.0, true);
    crate::support::drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("Harbour Tour", std::time::Duration::from_secs(120));
    assert_eq!(asset["status"], "ready");
    let id = asset["id"].as_str().unwrap();
    let (title, watch) = (format!("/title/{id}"), format!("/watch/{id}"));

    let mut ann = signed_in(&server, "ann@example.com");
    let mut anonymous = Browser::new(server.url());
    let signed_out = [
        "/",
        "/login",
        "/reset",
        "/search?q=harbour",
        &title,
        &watch,
        "/title/nosuchtitle",
    ];
    let staff = [
        "/account",
        "/admin",
        "/admin/media",
        "/admin/analytics",
        "/admin/settings",
        "/admin/members",
    ];
    let pages = signed_out
        .iter()
        .map(|p| (p, anonymous.get(p)))
        .chain(staff.iter().map(|p| (p, ann.get(p))))
        .collect::<Vec<_>>();
    for (path, page) in &pages {
        let policy = page.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path} ({}): {policy:?}",
                page.status
            );
        }
    }
    // Not on what is not a page.
    let ready = crate::support::agent()
        .get(format!("{}/readyz", server.url()))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert!(ready.headers().get("content-security-policy").is_none());

    // In Chromium, no page breaks it: the storefront, the title, search, the watch page
    // playing its media, and every dashboard section.
    let report = crate::player::browser_check(&[
        "csp.mjs",
        server.url(),
        "ann@example.com",
        crate::accounts::PASSWORD,
        &title,
        &watch,
    ]);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["played"].as_f64().unwrap() > 1.5, "{report}");
}
