//! Settings kept in the database and applied without a restart; settings pinned by the
//! file or the environment; the audit log of changes.

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, data_with_ann};
use crate::hardening_settings::session_call;
use crate::support::{Options, Server, SmtpCapture};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// The entry for `key` in the settings API's list.
pub(crate) fn setting(list: &Value, key: &str) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in {list}"))
}

fn home_title(server: &Server) -> String {
    let mut browser = Browser::new(server.url());
    let body = browser.get("/").body;
    let at = body.find("<title>").unwrap() + "<title>".len();
    body[at..at + body[at..].find("</title>").unwrap()].to_string()
}

#[test]
fn the_site_name_changes_from_the_dashboard_at_once_and_stays_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let mut server = Server::start(&data, "");
    assert_eq!(home_title(&server), "Marquee");
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let page = ann.get("/admin/settings");
    assert_eq!(page.status, 200);
    // The test config sets the x264 preset in the file: shown pinned, read-only.
    assert!(page.body.contains("Pinned: set in "), "{}", page.body);
    let csrf = page.csrf();
    // Without the token nothing changes.
    assert_eq!(
        ann.post("/admin/settings", &[("site.name", "Nope")]).status,
        403
    );
    let saved = ann.post(
        "/admin/settings",
        &[("csrf", &csrf), ("site.name", "Ciné <Club>")],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(home_title(&server), "Ciné &lt;Club&gt;");
    let home = Browser::new(server.url()).get("/").body;
    assert!(
        home.contains("class=\"brand\" href=\"/\">Ciné &lt;Club&gt;</a>"),
        "{home}"
    );
    assert!(ann.get("/admin").body.contains("Ciné &lt;Club&gt;"));
    // An invalid value: a clear error and nothing saved.
    let bad = ann.post(
        "/admin/settings",
        &[
            ("csrf", &csrf),
            ("site.name", ""),
            ("uploads.max_bytes", "12"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Nothing was saved"), "{}", bad.body);
    assert_eq!(home_title(&server), "Ciné &lt;Club&gt;");
    server.terminate();
    server.restart();
    assert_eq!(home_title(&server), "Ciné &lt;Club&gt;");
    let (status, log) = server.call("GET", "/api/v1/audit?action=settings.", None);
    assert_eq!(status, 200, "{log}");
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["actor_label"], "ann@example.com");
    assert_eq!(
        log[0]["detail"],
        json!({"key": "site.name", "from": "Marquee", "to": "Ciné <Club>"})
    );
    // The restarted server listens on a new port.
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let page = ann.get("/admin/audit?action=settings.").body;
    assert!(page.contains("settings.update"), "{page}");
    let none = ann.get("/admin/audit?action=member.").body;
    assert!(!none.contains("settings.update"), "{none}");
    assert_eq!(ann.get("/admin/audit?from=someday").status, 400);
}

#[test]
fn a_pinned_setting_is_read_only_and_the_rest_apply_without_a_restart() {
    let smtp = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            env: vec![("MARQUEE_SITE__NAME".into(), "From Env".into())],
            ..Options::default()
        },
    );
    assert_eq!(home_title(&server), "From Env");
    let (_, list) = server.call("GET", "/api/v1/settings", None);
    let name = setting(&list, "site.name");
    assert_eq!(
        name["pinned"],
        "set by the environment variable MARQUEE_SITE__NAME"
    );
    let (status, refused) =
        server.call("PATCH", "/api/v1/settings", Some(json!({"site.name": "X"})));
    assert_eq!(status, 409, "{refused}");
    let (status, _) = server.call("PATCH", "/api/v1/settings", Some(json!({"no.such": 1})));
    assert_eq!(status, 400);
    // All or nothing: one bad value keeps the good one out too.
    let (status, _) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"uploads.max_bytes": 2_000_000, "smtp.port": 70000})),
    );
    assert_eq!(status, 400);
    assert_eq!(
        setting(
            &server.call("GET", "/api/v1/settings", None).1,
            "uploads.max_bytes"
        )["value"],
        20_000_000_000u64
    );

    // The upload limit applies to the next upload.
    let create = |size: &str| {
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/api/v1/uploads", server.url()))
            .header("Authorization", format!("Bearer {}", server.key))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", size)
            .body(())
            .unwrap();
        agent().run(request).unwrap().status().as_u16()
    };
    assert_eq!(create("3000000"), 201);
    let (status, _) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"uploads.max_bytes": 2_000_000})),
    );
    assert_eq!(status, 200);
    assert_eq!(create("3000000"), 413);

    // Email set up from the dashboard works at once; the password never shows.
    let port = smtp
        .config()
        .lines()
        .find(|l| l.starts_with("port"))
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    // Where email goes is the owner's to change, signed in (not a key's).
    let secret = "hunter2-smtp-password";
    let mut ann = Browser::new(server.url());
    assert_eq!(ann.sign_in("ann@example.com", PASSWORD).status, 303);
    let (status, after) = session_call(
        &server,
        &mut ann,
        "PATCH",
        "/api/v1/settings",
        json!({
            "smtp.host": "127.0.0.1", "smtp.port": port.parse::<u64>().unwrap(), "smtp.security": "none",
            "smtp.from": "TV <tv@example.com>", "smtp.username": "tv", "smtp.password": secret,
        }),
    );
    assert_eq!(status, 200, "{after}");
    assert!(!after.to_string().contains(secret));
    assert_eq!(setting(&after, "smtp.password")["is_set"], true);
    assert!(!ann.get("/admin/settings").body.contains(secret));
    // Clear the credentials (an empty value clears).
    let clear = json!({"smtp.username": "", "smtp.password": ""});
    let (status, after) = session_call(&server, &mut ann, "PATCH", "/api/v1/settings", clear);
    assert_eq!(status, 200, "{after}");
    assert_eq!(setting(&after, "smtp.password")["is_set"], false);
    let page = ann.get("/admin/settings");
    let sent = ann.post("/admin/settings/test-email", &[("csrf", &page.csrf())]);
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.body
            .contains("A test email was sent to ann@example.com"),
        "{}",
        sent.body
    );
    // The owners were told of the cleared credentials first, through the server as it was.
    let mail = smtp
        .wait_for(2)
        .into_iter()
        .find(|m| m.data.contains("Subject: Test email"))
        .unwrap();
    assert_eq!(mail.to, ["<ann@example.com>"]);
    assert!(
        mail.data.contains("Subject: Test email from From Env"),
        "{}",
        mail.data
    );
    let (_, log) = server.call("GET", "/api/v1/audit?limit=50", None);
    assert!(!log.to_string().contains(secret), "{log}");
    assert!(log.to_string().contains("(changed)"), "{log}");
    assert!(!server.log().contains(secret));
}
