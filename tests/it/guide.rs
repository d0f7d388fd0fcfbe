//! The dashboard that guides an operator: the grouped sidebar with "View site", sizes in
//! words, invitations that default to viewer with the staff roles explained, a notice after
//! every save, and staff previewing drafts on the watch page.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::paywall::csrf_meta;
use crate::settings::setting;
use crate::support::{Server, drop_into, first_video_segment, make_clip};

/// The sidebar of a dashboard page: each group's heading (`""` for the one above the
/// groups) with the labels of its links, in order.
fn sidebar(body: &str) -> Vec<(String, Vec<String>)> {
    let start = body.find("<nav class=\"dash-nav\"").expect("a sidebar");
    let nav = &body[start..start + body[start..].find("</nav>").unwrap()];
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for list in nav.split("<ul").skip(1) {
        let before = &nav[..nav.find(list).unwrap()];
        let heading = before
            .rfind("class=\"nav-group\"")
            .filter(|at| !before[*at..].contains("</ul>"))
            .map(|at| {
                let h = &before[at..];
                let h = &h[h.find('>').unwrap() + 1..];
                h[..h.find('<').unwrap()].to_owned()
            })
            .unwrap_or_default();
        let list = &list[..list.find("</ul>").unwrap()];
        let labels = list
            .split("<a href=")
            .skip(1)
            .map(|a| {
                let a = &a[a.find('>').unwrap() + 1..];
                a[..a.find('<').unwrap()].to_owned()
            })
            .collect();
        groups.push((heading, labels));
    }
    groups
}

fn owned(groups: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|(h, ls)| (h.to_string(), ls.iter().map(|l| l.to_string()).collect()))
        .collect()
}

#[test]
fn the_sidebar_groups_sections_by_role_and_links_to_the_site() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    created(&data, "sue@example.com", &["--role", "support"]);
    let server = Server::start(&data, "");

    let mut ann = signed_in(&server, "ann@example.com");
    let page = ann.get("/admin/titles");
    assert_eq!(page.status, 200);
    assert_eq!(
        sidebar(&page.body),
        owned(&[
            ("", &["Overview"]),
            ("Content", &["Media", "Titles", "Home page"]),
            (
                "Audience",
                &["Members", "Analytics", "Segments", "Campaigns"]
            ),
            ("Money", &["Paywall"]),
            (
                "System",
                &["Alerts", "API keys", "Webhooks", "Settings", "Audit log"]
            ),
        ]),
        "{}",
        page.body
    );
    let body = page.body.replace("&#x2f;", "/");
    assert!(
        body.contains("<a href=\"/\" target=\"_blank\" rel=\"noopener\">View site"),
        "{body}"
    );
    assert!(body.contains("href=\"/admin/titles\" aria-current=\"page\">Titles"));

    // An editor's sidebar has no Money or System group: none of their sections is theirs.
    let mut ed = signed_in(&server, "ed@example.com");
    assert_eq!(
        sidebar(&ed.get("/admin").body),
        owned(&[
            ("", &["Overview"]),
            ("Content", &["Media", "Titles", "Home page"]),
            ("Audience", &["Analytics"]),
        ])
    );
    let mut sue = signed_in(&server, "sue@example.com");
    assert_eq!(
        sidebar(&sue.get("/admin").body),
        owned(&[
            ("", &["Overview"]),
            ("Content", &["Media", "Titles", "Home page"]),
            (
                "Audience",
                &["Members", "Analytics", "Segments", "Campaigns"]
            ),
            ("Money", &["Paywall"]),
            ("System", &["Alerts", "Settings"]),
        ])
    );
    // "View site" opens the storefront.
    assert_eq!(sue.get("/").status, 200);
}

/// The value of the input named `name` on a page.
fn input_value(body: &str, name: &str) -> String {
    let at = body
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} field: {body}"));
    let rest = &body[at..];
    let rest = &rest[rest.find("value=\"").unwrap() + "value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[test]
fn sizes_show_in_megabytes_and_gigabytes_and_are_typed_that_way() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    let server = Server::start(&data, "");
    let upload_limit = || {
        setting(
            &server.call("GET", "/api/v1/settings", None).1,
            "uploads.max_bytes",
        )["value"]
            .as_u64()
            .unwrap()
    };
    // 20 GiB, set through the API as a number.
    let (status, answer) = server.call(
        "PATCH",
        "/api/v1/settings",
        Some(json!({"uploads.max_bytes": 21_474_836_480u64})),
    );
    assert_eq!(status, 200, "{answer}");

    let mut ann = signed_in(&server, "ann@example.com");
    let page = ann.get("/admin/settings");
    assert_eq!(input_value(&page.body, "uploads.max_bytes"), "21.5 GB");
    assert!(!page.body.contains("21474836480"), "{}", page.body);
    assert!(
        page.body.contains(">Largest upload</label>"),
        "{}",
        page.body
    );
    let media = ann.get("/admin/media").body;
    assert!(media.contains("(at most 21.5 GB)"), "{media}");
    let overview = ann.get("/admin").body;
    assert!(
        [" KB", " MB", " GB", " TB"]
            .iter()
            .any(|u| overview.contains(u)),
        "disk space in words: {overview}"
    );

    // Saving the page as shown keeps the exact limit.
    let csrf = page.csrf();
    let kept = ann.post(
        "/admin/settings",
        &[("csrf", &csrf), ("uploads.max_bytes", "21.5 GB")],
    );
    assert_eq!(kept.location.as_deref(), Some("/admin/settings?saved=0"));
    assert_eq!(upload_limit(), 21_474_836_480);
    // A size typed in words is what is stored.
    let typed = ann.post(
        "/admin/settings",
        &[("csrf", &csrf), ("uploads.max_bytes", "1.5 gb")],
    );
    assert_eq!(typed.status, 303, "{}", typed.body);
    assert_eq!(upload_limit(), 1_500_000_000);
    assert_eq!(
        input_value(&ann.get("/admin/settings").body, "uploads.max_bytes"),
        "1.5 GB"
    );
    // Bad input is refused in words and changes nothing.
    let bad = ann.post(
        "/admin/settings",
        &[("csrf", &csrf), ("uploads.max_bytes", "lots")],
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("a size from 1 MB to 17.6 TB, like 20 GB or 500 MB"),
        "{}",
        bad.body
    );
    assert_eq!(upload_limit(), 1_500_000_000);
}

#[test]
fn invitations_default_to_viewer_and_explain_each_role() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "al@example.com", &["--role", "admin"]);
    let server = Server::start(&data, "");
    let mut ann = signed_in(&server, "ann@example.com");
    let page = ann.get("/admin/members").body;
    let invite = &page[page.find("action=\"/admin/members/invite\"").unwrap()..];
    let invite = &invite[..invite.find("</form>").unwrap()];
    assert!(
        invite.contains("<option value=\"viewer\" selected>Viewer</option>"),
        "{invite}"
    );
    assert_eq!(invite.matches(" selected").count(), 1, "{invite}");
    // Each role the owner may give, in words, as the permission table has it.
    let help = |page: &str| -> Vec<(String, String)> {
        let at = page
            .find("class=\"roles-help\"")
            .expect("the roles explained");
        let help = &page[at..at + page[at..].find("</details>").unwrap()];
        help.split("<dt>")
            .skip(1)
            .map(|d| {
                let (name, rest) = d.split_once("</dt>").unwrap();
                let what = &rest[rest.find("<dd>").unwrap() + 4..rest.find("</dd>").unwrap()];
                (name.to_owned(), what.to_owned())
            })
            .collect()
    };
    let roles = help(&page);
    let names: Vec<&str> = roles.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Owner", "Administrator", "Editor", "Support", "Viewer"]
    );
    let of = |name: &str| roles.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(
        of("Editor"),
        "May upload, rename and delete videos; edit and publish titles, collections and the \
         home page; see analytics."
    );
    assert_eq!(
        of("Support"),
        "May see the videos; see titles and the home page; look up members; see the \
         settings; see plans, prices and what members bought; see analytics."
    );
    assert!(of("Owner").contains("change where email goes"), "{roles:?}");
    assert!(!of("Administrator").contains("change where email goes"));
    assert!(of("Administrator").contains("change the settings"));
    assert_eq!(
        of("Viewer"),
        "Watches the site like any member; no dashboard."
    );
    // An admin may not give owner or admin, and is told only of the roles they may give.
    let mut al = signed_in(&server, "al@example.com");
    let page = al.get("/admin/members").body;
    let names: Vec<String> = help(&page).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Editor", "Support", "Viewer"]);

    // The default, sent as the form sends it, invites a viewer.
    let csrf = ann.get("/admin/members").csrf();
    let sent = ann.post(
        "/admin/members/invite",
        &[
            ("csrf", &csrf),
            ("email", "cus@example.com"),
            ("role", "viewer"),
        ],
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    let (_, invites) = server.call("GET", "/api/v1/invites", None);
    let invite = invites
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "cus@example.com")
        .unwrap_or_else(|| panic!("{invites}"));
    assert_eq!(invite["role"], "viewer");
}

/// The confirmation a dashboard page shows after a save, if any.
fn saved_notice(body: &str) -> Option<String> {
    let at = body.find("data-saved>")? + "data-saved>".len();
    Some(body[at..at + body[at..].find("</p>").unwrap()].to_owned())
}

#[test]
fn every_save_is_confirmed_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let server = Server::start(&data, "");
    let mut ann = signed_in(&server, "ann@example.com");
    let csrf = ann.get("/admin").csrf();
    assert_eq!(saved_notice(&ann.get("/admin/titles").body), None);

    // Posts `form` to `path`, follows the redirect, and gives the page's confirmation.
    let mut save = |path: &str, form: &[(&str, &str)]| -> (String, Option<String>) {
        let mut form = form.to_vec();
        form.push(("csrf", &csrf));
        let answer = ann.post(path, &form);
        assert_eq!(answer.status, 303, "{path}: {}", answer.body);
        let to = answer.location.unwrap();
        let page = ann.get(&to);
        assert_eq!(page.status, 200, "{to}");
        (to, saved_notice(&page.body))
    };

    let (title, said) = save(
        "/admin/titles",
        &[("name", "Night Train"), ("kind", "movie")],
    );
    assert_eq!(said.as_deref(), Some("Saved: the title is created."));
    let title = title.split('?').next().unwrap().to_owned();
    let (_, said) = save(&format!("{title}/unpublish"), &[]);
    assert_eq!(
        said.as_deref(),
        Some("Unpublished: viewers no longer see this title.")
    );
    let (to, said) = save(&format!("{title}/delete"), &[]);
    assert!(to.starts_with("/admin/titles?saved="), "{to}");
    assert_eq!(said.as_deref(), Some("The title is deleted."));

    let (_, said) = save("/admin/rails", &[("name", "Fresh"), ("kind", "newest")]);
    assert_eq!(
        said.as_deref(),
        Some("Saved: the rail is added to the home page.")
    );

    let (_, said) = save(
        "/admin/alerts",
        &[
            ("metric", "ttff_p95"),
            ("threshold", "2000"),
            ("min_plays", "3"),
            ("channel", "email"),
            ("target", "ops@example.com"),
        ],
    );
    assert_eq!(said.as_deref(), Some("Saved: the alert is added."));
    let (_, said) = save("/admin/alerts/check", &[]);
    assert_eq!(said.as_deref(), Some("The alerts are being checked now."));

    let (_, members) = server.get("/api/v1/members?q=ed@example.com");
    let ed = members["items"][0]["id"].as_i64().unwrap();
    let (_, said) = save(&format!("/admin/members/{ed}/role"), &[("role", "support")]);
    assert_eq!(said.as_deref(), Some("Saved: the role is changed."));
    let (_, said) = save(&format!("/admin/members/{ed}/disable"), &[]);
    assert_eq!(
        said.as_deref(),
        Some("The account is disabled and signed out.")
    );

    // A `saved` that names no save shows nothing, and never echoes what it was given.
    for hostile in ["nope", "%3Cscript%3Ealert(1)%3C/script%3E", "title%22"] {
        let page = ann.get(&format!("/admin/titles?saved={hostile}")).body;
        assert_eq!(saved_notice(&page), None, "{hostile}");
        assert!(!page.contains("<script>alert"), "{page}");
    }
}

/// The `data-src` of a watch page's player (its playback URL), if it has one.
fn player_src(body: &str) -> Option<String> {
    let at = body.find("data-src=\"")? + "data-src=\"".len();
    Some(body[at..at + body[at..].find('"').unwrap()].replace("&#x2f;", "/"))
}

#[test]
fn staff_preview_drafts_and_no_one_else_gets_a_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    created(&data, "vic@example.com", &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("Secret_cut.mp4");
    make_clip(&clip, "320x240", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("Secret cut", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset:#}");
    // New media has a movie of the same id; taken back to a draft.
    let id = asset["id"].as_str().unwrap().to_owned();
    let (status, answer) = server.call("POST", &format!("/api/v1/titles/{id}/unpublish"), None);
    assert_eq!(status, 200, "{answer}");
    let (_, title) = server.get(&format!("/api/v1/titles/{id}"));
    assert_eq!(title["status"], "draft", "{title}");
    let (segment, _) = first_video_segment(&server, &asset);
    let rendition_file = segment.trim_start_matches(&format!("/p/public/{id}/"));

    // A visitor and a viewer: 404 for the pages and for every byte, poster included.
    let mut visitor = Browser::new(server.url());
    let mut vic = signed_in(&server, "vic@example.com");
    for who in [&mut visitor, &mut vic] {
        assert_eq!(who.get(&format!("/title/{id}")).status, 404);
        assert_eq!(who.get(&format!("/watch/{id}")).status, 404);
        assert_eq!(who.get(&format!("/p/public/{id}/master.m3u8")).status, 404);
        assert_eq!(who.get(&segment).status, 404);
        assert_eq!(who.get(&format!("/p/public/{id}/poster.jpg")).status, 404);
        assert_ne!(who.get(&format!("/admin/media/{id}/poster")).status, 200);
    }

    // An editor previews it, with the band, and the player plays under their own token.
    let mut ed = signed_in(&server, "ed@example.com");
    let page = ed.get(&format!("/title/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("data-preview>Draft: only staff see this.</p>"),
        "{}",
        page.body
    );
    let watch = ed.get(&format!("/watch/{id}"));
    assert_eq!(watch.status, 200, "{}", watch.body);
    assert!(
        watch
            .body
            .contains("data-preview>Draft: only staff see this.</p>"),
        "{}",
        watch.body
    );
    assert_eq!(watch.header("cache-control"), Some("no-store"));
    let src = player_src(&watch.body).expect("a player");
    assert!(src.ends_with(&format!("/{id}/master.m3u8")), "{src}");
    assert!(!src.starts_with("/p/public/"), "{src}");
    let master = ed.get(&src);
    assert_eq!(master.status, 200);
    assert!(master.body.contains("#EXTM3U"), "{}", master.body);
    let token_segment = src.replace("master.m3u8", rendition_file);
    assert_eq!(ed.get(&token_segment).status, 200);
    // The poster frame comes from the dashboard, for staff.
    let body = watch.body.replace("&#x2f;", "/");
    assert!(
        body.contains(&format!("poster=\"/admin/media/{id}/poster\"")),
        "{body}"
    );
    let poster = ed.get(&format!("/admin/media/{id}/poster"));
    assert_eq!(poster.status, 200);
    assert_eq!(poster.header("content-type"), Some("image/jpeg"));
    let media = ed.get("/admin/media").body.replace("&#x2f;", "/");
    assert!(
        media.contains(&format!("src=\"/admin/media/{id}/poster\"")),
        "{media}"
    );
    // The player's heartbeat and renewal keep the preview going.
    let csrf = csrf_meta(&ed.get(&format!("/watch/{id}")).body);
    assert_eq!(
        ed.post_json(&format!("/watch/{id}/heartbeat"), &csrf, "{}")
            .status,
        204
    );
    let renewed = ed.post_json(&format!("/watch/{id}/pass"), &csrf, "{}");
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert!(
        renewed.body.contains(&format!("/{id}/")),
        "{}",
        renewed.body
    );

    // The staff token opens nothing to anyone else: not to a viewer, not without a session.
    assert_ne!(vic.get(&src).status, 200);
    assert_ne!(vic.get(&token_segment).status, 200);
    assert_ne!(Browser::new(server.url()).get(&token_segment).status, 200);
    // A viewer's own heartbeat and renewal for the draft are refused.
    let vic_csrf = vic.get("/account").csrf();
    assert_ne!(
        vic.post_json(&format!("/watch/{id}/pass"), &vic_csrf, "{}")
            .status,
        200
    );
}

#[test]
fn an_editor_previews_an_encrypted_premium_draft_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    created(&data, "vic@example.com", &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("Members_cut.mp4");
    make_clip(&clip, "640x360", 25, 6.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("Members cut", Duration::from_secs(120));
    let id = asset["id"].as_str().unwrap();
    let (status, _) = server.call(
        "PUT",
        &format!("/api/v1/titles/{id}/access"),
        Some(json!({"level": {"kind": "registered"}})),
    );
    assert_eq!(status, 200);
    let (status, _) = server.call("POST", &format!("/api/v1/titles/{id}/unpublish"), None);
    assert_eq!(status, 200);
    let dir = server.package_dir(&asset);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(dir.join("master.m3u8")).is_ok_and(|m| m.contains("evideo_")) {
        assert!(std::time::Instant::now() < deadline, "not encrypted");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A member who may watch registered titles once they are out gets nothing of the draft.
    let mut vic = signed_in(&server, "vic@example.com");
    assert_eq!(vic.get(&format!("/watch/{id}")).status, 404);
    for file in ["master.m3u8", "key.bin", "poster.jpg"] {
        assert_eq!(
            vic.get(&format!("/p/public/{id}/{file}")).status,
            404,
            "{file}"
        );
    }

    let report = crate::player::browser_check(&[
        "guide.mjs",
        server.url(),
        id,
        "ed@example.com",
        crate::accounts::PASSWORD,
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        ["band", "played", "renewed", "title page", "poster"],
        "{report}"
    );
    assert_eq!(report["steps"][0]["band"], "Draft: only staff see this.");
    assert_eq!(report["steps"][3]["band"], "Draft: only staff see this.");
}
