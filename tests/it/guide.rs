//! The dashboard that guides an operator: the grouped sidebar with "View site", sizes in
//! words, invitations that default to viewer with the staff roles explained, a notice after
//! every save, and staff previewing drafts on the watch page.

use crate::accounts::{created, data_with_ann, signed_in};
use crate::support::Server;

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
