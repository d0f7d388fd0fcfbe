//! The analytics dashboards against the real server: beacons posted as a signed-in viewer
//! and an anonymous one show up as plays, viewers, watch time, quality and the funnel, in
//! each tab and in the CSV of its tables; roles see only their tabs; a title's name cannot
//! break out of the chart data; Chromium draws the charts.

use std::time::Duration;

use serde_json::json;

use crate::accounts::{Browser, PASSWORD, created, data_with_ann, signed_in};
use crate::support::{Server, drop_into, make_clip};

fn beacon(browser: &mut Browser, session: &str, title: &str, events: serde_json::Value) {
    let body = json!({"session": session, "title": title, "events": events}).to_string();
    let answer = browser.post_json("/beacon", "", &body);
    assert_eq!(answer.status, 204, "{}", answer.body);
}

/// The value of a headline figure on a page.
pub fn kpi(body: &str, label: &str) -> String {
    let at = body
        .find(&format!("<span class=\"label\">{label}</span>"))
        .unwrap_or_else(|| panic!("no {label} in {body}"));
    let rest = &body[at..];
    let start = rest.find("<strong class=\"value\">").unwrap() + "<strong class=\"value\">".len();
    rest[start..start + rest[start..].find('<').unwrap()].to_string()
}

#[test]
fn dashboards_show_what_players_reported_in_every_tab_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("analytics_clip.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("analytics clip", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A name with markup: it must stay text in the page and in the chart data.
    let hostile = "Harbour </script><script>alert(1)</script>";
    let (status, _) = server.call(
        "PATCH",
        &format!("/api/v1/titles/{id}"),
        Some(json!({"name": hostile})),
    );
    assert_eq!(status, 200);

    // Bob, signed in: a play with a first frame at 800 ms on 180p, 30 s watched, a
    // half-second stall, to the end. Someone anonymous: a play given up before it started,
    // and a visit.
    let mut bob = signed_in(&server, "bob@example.com");
    beacon(
        &mut bob,
        "bob-session-000001",
        &id,
        json!([
            {"kind": "page_load", "n": 1, "ms": 300},
            {"kind": "play_intent", "n": 2},
            {"kind": "first_frame", "n": 3, "ms": 800, "height": 180},
            {"kind": "heartbeat", "n": 4, "position": 1.0, "height": 180, "bitrate": 400000, "duration": 2.0},
            {"kind": "heartbeat", "n": 5, "position": 1.5, "height": 180, "bitrate": 400000, "duration": 2.0},
            {"kind": "heartbeat", "n": 6, "position": 1.9, "height": 180, "bitrate": 400000, "duration": 2.0},
            {"kind": "rebuffer", "n": 7, "ms": 500, "height": 180},
            {"kind": "complete", "n": 8}
        ]),
    );
    let mut anonymous = Browser::new(server.url());
    beacon(
        &mut anonymous,
        "anon-session-00001",
        &id,
        json!([{"kind": "play_intent", "n": 1}, {"kind": "exit_before_start", "n": 2, "ms": 4000}]),
    );
    beacon(
        &mut anonymous,
        "anon-visit-000001",
        "site",
        json!([{"kind": "visit", "n": 1}]),
    );

    let mut ann = signed_in(&server, "ann@example.com");
    let page = ann.get("/admin/analytics");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(kpi(&page.body, "Plays"), "2");
    assert_eq!(kpi(&page.body, "Unique viewers"), "2");
    assert_eq!(kpi(&page.body, "Completion"), "50.0 %");
    // The chart data is JSON the page carries, with the days and both plays.
    assert!(page.body.contains("id=\"charts-data\""));
    assert!(page.body.contains("\"label\":\"Plays\""));

    let page = ann.get("/admin/analytics?tab=quality");
    assert_eq!(page.status, 200);
    // One first frame in the 750–1000 ms bucket: its middle.
    assert_eq!(kpi(&page.body, "Time to first frame, p50"), "875 ms");
    // 0.5 s stalled of 30 s watched and 0.5 s stalled.
    assert_eq!(kpi(&page.body, "Rebuffering"), "1.6 %");
    assert_eq!(kpi(&page.body, "Exits before start"), "50.0 %");
    assert!(
        page.body.contains("<td>180p</td><td>1</td><td>875 ms</td>"),
        "by rendition, the plays that started on it"
    );
    let browsers = &page.body[page.body.find("id=\"table-browsers\"").unwrap()..];
    assert!(
        browsers[..browsers.find("</table>").unwrap()].contains("<td>2</td><td>875 ms</td>"),
        "by browser: {browsers}"
    );

    let page = ann.get("/admin/analytics?tab=content");
    assert_eq!(page.status, 200, "{}", server.log());
    assert!(
        !page.body.contains("</script><script>alert(1)"),
        "the name escaped"
    );
    assert!(page.body.contains("Harbour &lt;"), "the name as text");
    assert!(
        page.body.contains(r"Harbour \u003c/script>\u003cscript>"),
        "the name in the chart data"
    );
    assert!(page.body.contains("Drop-off: Harbour"));

    let page = ann.get("/admin/analytics?tab=funnel");
    assert_eq!(page.status, 200);
    assert_eq!(kpi(&page.body, "Visits"), "1");

    // CSV: the same numbers as the page.
    let today = ann.get("/admin/analytics/export.csv?tab=audience&table=days");
    assert_eq!(today.status, 200, "{}", today.body);
    let mut lines = today.body.lines();
    assert_eq!(
        lines.next(),
        Some("Day,Plays,Unique viewers,Watch time,Completion")
    );
    let plays: i64 = lines
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(plays, 2);
    let titles = ann.get("/admin/analytics/export.csv?tab=content&table=titles");
    assert!(
        titles.body.contains(&id),
        "the title's row: {}",
        titles.body
    );
    assert_eq!(
        ann.get("/admin/analytics/export.csv?tab=audience&table=nope")
            .status,
        400
    );

    // An editor reads audience figures but not money; a viewer reads nothing.
    let mut ed = signed_in(&server, "ed@example.com");
    assert_eq!(ed.get("/admin/analytics").status, 200);
    assert_eq!(ed.get("/admin/analytics?tab=business").status, 403);
    assert_eq!(
        ed.get("/admin/analytics/export.csv?tab=business&table=revenue")
            .status,
        403
    );
    assert_ne!(bob.get("/admin/analytics").status, 200);
    assert_eq!(ann.get("/admin/analytics?tab=business").status, 200);
    assert_eq!(
        ann.get("/admin/analytics?from=2026-02-01&to=2026-01-01")
            .status,
        400
    );

    // Chromium draws each chart.
    let report =
        crate::player::browser_check(&["analytics.mjs", server.url(), "ann@example.com", PASSWORD]);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["charts"].as_u64().unwrap() >= 2, "{report}");
}
