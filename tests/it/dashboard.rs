//! The dashboard's Overview and Media sections against the real server: what each page
//! shows for each asset state, and rename / retry / delete through the forms, with CSRF,
//! roles and the audit log.

use std::path::Path;
use std::time::Duration;

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::support::{Server, drop_into, make_clip};

/// The audit log's rows as `(actor_label, action, target, detail)`, oldest first.
fn audit(data: &Path) -> Vec<(String, String, String, String)> {
    let conn = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT actor_label, action, target, detail FROM audit_log WHERE action LIKE 'asset.%' ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

const SCRIPT: &str = "<script>alert(1)</script>";
const SCRIPT_TEXT: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

#[test]
fn media_pages_show_each_state_and_change_assets_with_csrf_roles_and_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "sue@example.com", &["--role", "support"]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("Good_clip.mp4");
    make_clip(&clip, "320x240", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let junk = tmp.path().join("Broken_file.mp4");
    std::fs::write(&junk, vec![0x42u8; 4096]).unwrap();
    drop_into(&server.inbox(), &junk);
    let ready = server.wait_finished("Good clip", Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready:#}");
    let failed = server.wait_finished("Broken file", Duration::from_secs(60));
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let (ready_id, failed_id) = (
        ready["id"].as_str().unwrap().to_owned(),
        failed["id"].as_str().unwrap().to_owned(),
    );
    let reason = failed["error"].as_str().unwrap().to_owned();

    let mut ann = signed_in(&server, "ann@example.com");
    let list = ann.get("/admin/media");
    assert_eq!(list.status, 200);
    // minijinja writes `/` inside attribute values as `&#x2f;`.
    let body = &list.body.replace("&#x2f;", "/");
    assert!(
        body.contains(&format!("href=\"/admin/media/{ready_id}\">Good clip</a>")),
        "{body}"
    );
    assert!(
        body.contains(&format!("/admin/media/{ready_id}/poster")),
        "poster: {body}"
    );
    assert!(body.contains("240p"), "renditions: {body}");
    assert!(body.contains("0:02"), "duration: {body}");
    let escaped_reason = reason.replace('\'', "&#x27;").replace('"', "&quot;");
    assert!(body.contains(&escaped_reason), "reason {reason}: {body}");
    assert!(body.contains(&format!("action=\"/admin/media/{failed_id}/retry\"")));
    assert!(body.contains("data-confirm=\"Delete"), "{body}");
    // Filters: by status and by title.
    let only_failed = ann.get("/admin/media?status=failed").body;
    assert!(only_failed.contains("Broken file") && !only_failed.contains("Good clip"));
    let by_title = ann.get("/admin/media?q=GOOD").body;
    assert!(by_title.contains("Good clip") && !by_title.contains("Broken file"));
    assert_eq!(ann.get("/admin/media?status=nope").status, 400);

    // The overview: counts, the failed ingest with its reason and a retry button.
    let overview = ann.get("/admin").body;
    assert!(overview.contains("<strong>1</strong> ready"), "{overview}");
    assert!(overview.contains("<strong>1</strong> failed"), "{overview}");
    assert!(overview.contains(&escaped_reason), "{overview}");
    assert!(
        overview.contains("name=\"back\" value=\"overview\""),
        "{overview}"
    );
    assert!(overview.contains("free on disk"), "{overview}");
    assert!(
        overview.contains("sue@example.com"),
        "recent sign-ups: {overview}"
    );

    // Support may look but not touch: no buttons, and the posts are refused.
    let mut sue = signed_in(&server, "sue@example.com");
    let seen = sue.get("/admin/media");
    assert_eq!(seen.status, 200);
    assert!(!seen.body.contains("/delete\""), "{}", seen.body);
    let csrf = seen.csrf();
    let refused = sue.post(
        &format!("/admin/media/{ready_id}/rename"),
        &[("csrf", &csrf), ("title", "Sue was here")],
    );
    assert_eq!(refused.status, 403);
    assert_eq!(
        sue.post(
            &format!("/admin/media/{ready_id}/delete"),
            &[("csrf", &csrf)]
        )
        .status,
        403
    );

    // Without the token, or with another session's, nothing changes.
    let ann_csrf = ann.get(&format!("/admin/media/{ready_id}")).csrf();
    let path = format!("/admin/media/{ready_id}/rename");
    assert_eq!(ann.post(&path, &[("title", "No token")]).status, 403);
    assert_eq!(
        ann.post(&path, &[("csrf", &csrf), ("title", "Sue's token")])
            .status,
        403
    );
    assert_eq!(
        server.asset_titled("Good clip").unwrap()["id"],
        ready_id.as_str()
    );

    // Rename; markup in the title renders as text on every page.
    let renamed = ann.post(
        &path,
        &[
            ("csrf", &ann_csrf),
            ("title", SCRIPT),
            ("description", "about"),
        ],
    );
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    assert_eq!(
        renamed.location.as_deref(),
        Some(format!("/admin/media/{ready_id}?saved=media").as_str())
    );
    assert_eq!(server.asset_titled(SCRIPT).unwrap()["description"], "about");
    // The storefront shows titles, not asset names: the catalog tests check it there.
    for page in [
        "/admin/media".to_owned(),
        format!("/admin/media/{ready_id}"),
    ] {
        let shown = ann.get(&page).body;
        assert!(!shown.contains(SCRIPT), "{page}: {shown}");
        assert!(
            shown.replace("&#x2f;", "/").contains(SCRIPT_TEXT),
            "{page}: {shown}"
        );
    }
    let too_long = "x".repeat(201);
    assert_eq!(
        ann.post(&path, &[("csrf", &ann_csrf), ("title", &too_long)])
            .status,
        400
    );

    // Retry from the overview returns there; the asset is queued again (and fails again).
    let retried = ann.post(
        &format!("/admin/media/{failed_id}/retry"),
        &[("csrf", &ann_csrf), ("back", "overview")],
    );
    assert_eq!(retried.status, 303, "{}", retried.body);
    assert_eq!(
        retried.location.as_deref(),
        Some("/admin?saved=media-retried")
    );
    let again = server.wait_finished("Broken file", Duration::from_secs(60));
    assert_eq!(again["status"], "failed");
    // Retrying a ready asset is a conflict, said plainly.
    let conflict = ann.post(
        &format!("/admin/media/{ready_id}/retry"),
        &[("csrf", &ann_csrf)],
    );
    assert_eq!(conflict.status, 409);
    assert!(
        conflict.body.contains("only a failed asset can be retried"),
        "{}",
        conflict.body
    );

    // Delete: the asset is gone from the list and the API, and stops playing.
    let deleted = ann.post(
        &format!("/admin/media/{ready_id}/delete"),
        &[("csrf", &ann_csrf)],
    );
    assert_eq!(deleted.status, 303);
    assert_eq!(
        deleted.location.as_deref(),
        Some("/admin/media?saved=media-deleted")
    );
    assert!(server.asset_titled(SCRIPT).is_none());
    assert_eq!(ann.get(&format!("/admin/media/{ready_id}")).status, 404);
    assert_eq!(
        ann.get(&format!("/p/public/{ready_id}/master.m3u8")).status,
        404
    );

    let log = audit(&data);
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|(who, what, target, _)| (who.as_str(), what.as_str(), target.as_str()))
        .collect();
    let target = format!("asset:{ready_id}");
    assert_eq!(
        actions,
        [
            ("ann@example.com", "asset.rename", target.as_str()),
            ("ann@example.com", "asset.delete", target.as_str()),
        ]
    );
    assert!(log[0].3.contains("\"from\":\"Good clip\""), "{}", log[0].3);
}

#[test]
fn signed_out_and_viewers_are_kept_out_of_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "vic@example.com", &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let mut anon = Browser::new(server.url());
    let out = anon.get("/admin/media");
    assert_eq!(out.status, 303);
    assert_eq!(
        out.location.as_deref(),
        Some("/login?next=%2Fadmin%2Fmedia")
    );
    let mut vic = signed_in(&server, "vic@example.com");
    assert_eq!(vic.get("/admin/media").status, 403);
    assert_eq!(vic.get("/admin").status, 403);
}

/// The acceptance walk in Chromium: setup link → owner → upload → ready (live) →
/// invite an editor → rename the site → the editor accepts and sees the dashboard.
#[test]
fn an_operator_runs_the_service_from_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("Acceptance_clip.mp4");
    make_clip(&clip, "320x240", 25, 2.0, true);
    let server = Server::start(&tmp.path().join("data"), "");
    let setup = crate::accounts::logged_setup_path(&server);
    let report = crate::player::browser_check(&[
        "dashboard.mjs",
        server.url(),
        &setup,
        clip.to_str().unwrap(),
        "Acceptance clip",
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        [
            "owner created",
            "uploaded",
            "ready",
            "invited",
            "published",
            "site renamed",
            "editor signed in"
        ],
        "{report}"
    );
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[2]["title"], "Acceptance clip", "{report}");
    assert_eq!(steps[4]["was"], "published", "{report}");
    assert_eq!(steps[5]["title"], "Acceptance TV", "{report}");
    // The editor sees media but not members or settings.
    assert_eq!(
        steps[6]["nav"],
        serde_json::json!(["Overview", "Media", "Titles", "Home page", "Analytics"]),
        "{report}"
    );
    let asset = server.asset_titled("Acceptance clip").unwrap();
    assert_eq!(asset["status"], "ready");
    let (_, members) = server.get("/api/v1/members?role=editor");
    assert_eq!(members["items"][0]["email"], "ed@example.com");
}
