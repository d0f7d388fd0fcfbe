//! Members and invitations against the real server: invite with and without email, accept,
//! roles, disable, delete, the rules that keep an owner, the API, and the audit log.

use serde_json::{Value, json};

use crate::accounts::{Browser, PASSWORD, created, data_with_ann, signed_in};
use crate::support::{Options, Server, SmtpCapture};

/// An HTTP client that hands back every status instead of failing on 4xx.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// The value of the read-only invitation link field.
fn shown_link(body: &str) -> String {
    let at = body
        .find("id=\"invite-link\"")
        .unwrap_or_else(|| panic!("no link shown: {body}"));
    let before = &body[..at];
    let value = before.rfind("value=\"").unwrap() + "value=\"".len();
    before[value..before[value..].find('"').unwrap() + value]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The id of the member with `email` from the API.
fn member_id(server: &Server, email: &str) -> i64 {
    let (status, page) = server.get(&format!("/api/v1/members?q={email}"));
    assert_eq!(status, 200, "{page}");
    page["items"][0]["id"].as_i64().unwrap()
}

fn accept(server: &Server, link: &str, name: &str) -> Browser {
    let path = link
        .strip_prefix(server.url())
        .unwrap_or_else(|| panic!("{link}"));
    let mut browser = Browser::new(server.url());
    let form = browser.get(path);
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    let done = browser.post(
        path,
        &[
            ("csrf", &csrf),
            ("name", name),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    browser
}

#[test]
fn an_invited_editor_without_email_gets_the_link_from_the_admin_and_lands_in_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get("/admin/members").csrf();
    let invited = ann.post(
        "/admin/members/invite",
        &[
            ("csrf", &csrf),
            ("email", "Ed@Example.COM"),
            ("role", "editor"),
        ],
    );
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert!(
        invited.body.contains("Email is not set up"),
        "{}",
        invited.body
    );
    let link = shown_link(&invited.body);
    assert!(
        link.starts_with(&format!("{}/invite/", server.url())),
        "{link}"
    );
    assert!(
        server
            .log()
            .contains("invitation not emailed: SMTP is not configured"),
        "{}",
        server.log()
    );
    assert!(
        !server.log().contains(&link),
        "the log must not hold the link"
    );
    assert!(
        ann.get("/admin/members").body.contains("Ed@example.com"),
        "pending invite listed"
    );

    let mut ed = accept(&server, &link, "Ed <b>");
    // Signed in as an editor: media yes, members no.
    assert_eq!(ed.get("/admin/media").status, 200);
    assert_eq!(ed.get("/admin/members").status, 403);
    let (_, page) = server.get("/api/v1/members?role=editor");
    assert_eq!(page["items"][0]["email"], "Ed@example.com");
    assert_eq!(page["items"][0]["email_verified"], true);
    // The link worked once.
    let mut again = Browser::new(server.url());
    let path = link.strip_prefix(server.url()).unwrap();
    assert_ne!(again.get(path).status, 200);
    // The editor's name renders as text in the list.
    let list = ann.get("/admin/members").body;
    assert!(
        list.contains("Ed &lt;b&gt;") && !list.contains("Ed <b>"),
        "{list}"
    );
    // Without email, a password reset link for the editor is shown to the admin to pass on.
    let ed_id = member_id(&server, "ed@example.com");
    let sent = ann.post(
        &format!("/admin/members/{ed_id}/reset-link"),
        &[("csrf", &csrf)],
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    let at = sent
        .body
        .find("id=\"reset-link\"")
        .unwrap_or_else(|| panic!("{}", sent.body));
    let before = &sent.body[..at];
    let value = before.rfind("value=\"").unwrap() + "value=\"".len();
    let reset = before[value..value + before[value..].find('"').unwrap()].replace("&#x2f;", "/");
    let reset_path = reset.strip_prefix(server.url()).unwrap().to_string();
    assert!(reset_path.starts_with("/reset/"), "{reset_path}");
    assert_eq!(Browser::new(server.url()).get(&reset_path).status, 200);
    assert!(server.log().contains("password reset link not emailed"));
    // Inviting an existing account is refused, plainly.
    let taken = ann.post(
        "/admin/members/invite",
        &[
            ("csrf", &csrf),
            ("email", "ed@example.com"),
            ("role", "viewer"),
        ],
    );
    assert_eq!(taken.status, 400);
    assert!(taken.body.contains("already exists"), "{}", taken.body);
}

#[test]
fn invitations_by_api_are_emailed_and_the_rules_keep_an_owner() {
    let smtp = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "adam@example.com", &["--role", "admin"]);
    created(&data, "sue@example.com", &["--role", "support"]);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let post = |path: &str, body: Value| -> (u16, Value) {
        let mut resp = agent()
            .post(format!("{}{path}", server.url()))
            .header("Authorization", &format!("Bearer {}", server.key))
            .send_json(body)
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    };
    let (status, made) = post(
        "/api/v1/invites",
        json!({"email": "vi@example.com", "role": "viewer"}),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["emailed"], true);
    assert!(made["link"].is_null());
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, ["<vi@example.com>"]);
    let text = mail.data.replace("=\r\n", "");
    let link = text[text.find("http").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut vi = accept(&server, &link, "Vi");
    assert_eq!(vi.get("/admin").status, 403);
    assert_eq!(vi.get("/account").status, 200);
    // A key acts as far as an admin: it cannot make owners.
    let (status, refused) = post(
        "/api/v1/invites",
        json!({"email": "o2@example.com", "role": "owner"}),
    );
    assert_eq!(status, 403, "{refused}");

    // Pages: an admin cannot touch the owner; the owner cannot change themselves.
    let ann_id = member_id(&server, "ann@example.com");
    let sue_id = member_id(&server, "sue@example.com");
    let mut adam = signed_in(&server, "adam@example.com");
    let csrf = adam.get("/admin/members").csrf();
    let refused = adam.post(
        &format!("/admin/members/{ann_id}/role"),
        &[("csrf", &csrf), ("role", "viewer")],
    );
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("only an owner"), "{}", refused.body);
    let mut ann = signed_in(&server, "ann@example.com");
    let own = ann.get(&format!("/admin/members/{ann_id}"));
    assert!(!own.body.contains("Change role"), "{}", own.body);
    let csrf = own.csrf();
    let refused = ann.post(
        &format!("/admin/members/{ann_id}/delete"),
        &[("csrf", &csrf)],
    );
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("yourself"), "{}", refused.body);
    // Support reads members but changes nothing.
    let mut sue = signed_in(&server, "sue@example.com");
    assert_eq!(sue.get("/admin/members").status, 200);
    let sue_csrf = sue.get("/admin/members").csrf();
    assert_eq!(
        sue.post(
            &format!("/admin/members/{sue_id}/role"),
            &[("csrf", &sue_csrf), ("role", "admin")]
        )
        .status,
        403
    );

    // The owner changes Sue's role, then disables her: her session ends.
    let done = ann.post(
        &format!("/admin/members/{sue_id}/role"),
        &[("csrf", &csrf), ("role", "editor")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let done = ann.post(
        &format!("/admin/members/{sue_id}/disable"),
        &[("csrf", &csrf)],
    );
    assert_eq!(done.status, 303);
    assert_eq!(
        sue.get("/admin/media").status,
        303,
        "a disabled member's session ends"
    );
    assert_eq!(sue.sign_in("sue@example.com", PASSWORD).status, 401);
    // Delete through the API.
    let resp = agent()
        .delete(format!("{}/api/v1/members/{sue_id}", server.url()))
        .header("Authorization", &format!("Bearer {}", server.key))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(server.get(&format!("/api/v1/members/{sue_id}")).0, 404);

    let conn = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    let actions: Vec<String> = conn
        .prepare("SELECT action || ' ' || actor_label || ' ' || target FROM audit_log WHERE action LIKE 'member.%' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let invite_target = format!("invite:{}", made["id"]);
    let sue_target = format!("member:{sue_id}");
    assert_eq!(
        actions,
        [
            format!("member.invite tests {invite_target}"),
            format!("member.role ann@example.com {sue_target}"),
            format!("member.disable ann@example.com {sue_target}"),
            format!("member.delete tests {sue_target}"),
        ]
    );
}

/// The first link in a captured email (quoted-printable line breaks undone), as a path.
fn emailed_path(server: &Server, mail: &crate::support::CapturedMail) -> String {
    let text = mail.data.replace("=\r\n", "");
    let link = text[text.find("http").unwrap_or_else(|| panic!("{text}"))..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    link.strip_prefix(server.url())
        .unwrap_or_else(|| panic!("{link}"))
        .to_string()
}

#[test]
fn a_password_reset_link_works_once_and_ends_the_other_sessions() {
    let smtp = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let mut elsewhere = signed_in(&server, "ann@example.com");
    assert_eq!(elsewhere.get("/account").status, 200);
    let mut browser = Browser::new(server.url());
    let ask = |browser: &mut Browser, email: &str| {
        let csrf = browser.get("/reset").csrf();
        browser.post("/reset", &[("csrf", &csrf), ("email", email)])
    };
    // An unknown address gets the same answer, and no email.
    let unknown = ask(&mut browser, "nobody@example.com");
    assert_eq!(unknown.status, 200);
    let known = ask(&mut browser, "ANN@example.com");
    assert_eq!(known.status, 200);
    assert_eq!(
        unknown.body.replace("nobody@example.com", ""),
        known.body.replace("ANN@example.com", "")
    );
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, ["<ann@example.com>"]);
    assert!(mail.data.contains("Subject: Reset your password"));
    let path = emailed_path(&server, &mail);
    assert!(path.starts_with("/reset/"), "{path}");
    // Opening it (as a mail scanner would) uses nothing up.
    assert_eq!(Browser::new(server.url()).get(&path).status, 200);
    let form = browser.get(&path);
    let csrf = form.csrf();
    let new_password = "a brand new password here";
    let short = browser.post(
        &path,
        &[("csrf", &csrf), ("password", "short"), ("confirm", "short")],
    );
    assert_eq!(short.status, 400);
    let done = browser.post(
        &path,
        &[
            ("csrf", &csrf),
            ("password", new_password),
            ("confirm", new_password),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        browser.get("/admin").status,
        200,
        "signed in with the new password"
    );
    assert_eq!(
        elsewhere.get("/account").status,
        303,
        "other sessions ended"
    );
    assert_ne!(browser.get(&path).status, 200, "the link works once");
    let mut fresh = Browser::new(server.url());
    assert_eq!(fresh.sign_in("ann@example.com", PASSWORD).status, 401);
    assert_eq!(fresh.sign_in("ann@example.com", new_password).status, 303);
    assert_eq!(smtp.mails().len(), 1, "no mail for the unknown address");
}

#[test]
fn an_email_address_is_verified_by_its_link_once() {
    let smtp = SmtpCapture::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start_with(
        &data,
        Options {
            tables: smtp.config(),
            ..Options::default()
        },
    );
    let mut ann = signed_in(&server, "ann@example.com");
    let account = ann.get("/account");
    assert!(
        account.body.contains("not confirmed yet"),
        "{}",
        account.body
    );
    let sent = ann.post("/account/verify-email", &[("csrf", &account.csrf())]);
    assert_eq!(sent.status, 303);
    assert_eq!(sent.location.as_deref(), Some("/account?verify=sent"));
    let path = emailed_path(&server, &smtp.wait_for(1).remove(0));
    assert!(path.starts_with("/verify/"), "{path}");
    // A GET alone verifies nothing.
    assert_eq!(ann.get(&path).status, 200);
    let (_, before) = server.get("/api/v1/members?q=ann");
    assert_eq!(before["items"][0]["email_verified"], false);
    let mut other = Browser::new(server.url());
    let csrf = other.get(&path).csrf();
    let confirmed = other.post(&path, &[("csrf", &csrf)]);
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body.contains("is confirmed"));
    let (_, after) = server.get("/api/v1/members?q=ann");
    assert_eq!(after["items"][0]["email_verified"], true);
    assert!(
        ann.get("/account")
            .body
            .contains("Your email address is confirmed")
    );
    assert_ne!(
        other.post(&path, &[("csrf", &csrf)]).status,
        200,
        "works once"
    );
}
