//! Words viewers and operators read, against the real server. Search that tolerates a
//! typo: "koral" finds the live "Coral" title with "Did you mean Coral?", on the search
//! page and in the results fetched as the viewer types; a draft's words are never
//! suggested; FTS syntax in the input stays inert. Analytics: a few seconds watched read in
//! minutes, and no chart axis repeats a label.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{Browser, created, data_with_ann, signed_in};
use crate::analytics::kpi;
use crate::support::{Server, drop_into, make_clip};

fn drop_with_sidecar(server: &Server, tmp: &Path, stem: &str, secs: f64, sidecar: Value) -> String {
    let clip = tmp.join(format!("{stem}.mp4"));
    make_clip(&clip, "320x180", 25, secs, true);
    let json = tmp.join(format!("{stem}.json"));
    std::fs::write(&json, sidecar.to_string()).unwrap();
    drop_into(&server.inbox(), &json);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished(stem, Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    asset["id"].as_str().unwrap().to_owned()
}

fn search(server: &Server, query: &str) -> String {
    let (status, html) = server.page(&format!("/search?q={query}"));
    assert_eq!(status, 200, "{query}: {html}\n{}", server.log());
    html.replace("&#x2f;", "/")
}

#[test]
fn a_typo_finds_the_live_title_with_did_you_mean_and_never_a_drafts_words() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    // Published as soon as ready (the test servers' setting).
    let server = Server::start(&data, "");
    let coral = drop_with_sidecar(
        &server,
        tmp.path(),
        "coral",
        2.0,
        json!({"title": "Coral Reef", "synopsis": "Under the sea.", "tags": ["ocean"],
               "people": [{"name": "Marta Lindqvist", "role": "director"}]}),
    );
    // Drafts, one of whose words "koral" begins, one far from every live word.
    for name in ["Korall Secrets", "Marigold Orchard"] {
        let (status, draft) = server.call(
            "POST",
            "/api/v1/titles",
            Some(json!({"kind": "movie", "name": name})),
        );
        assert_eq!(status, 201, "{draft}");
    }

    // The exact search finds nothing; the page says what was probably meant and shows it,
    // and so do the results fetched as the viewer types.
    for query in ["koral", "koral&partial=1", "KORAL%20reef", "Lindkvist"] {
        let page = search(&server, query);
        assert!(page.contains(&format!("/title/{coral}")), "{query}: {page}");
        assert!(page.contains("Did you mean"), "{query}: {page}");
        assert!(!page.contains("Korall"), "{query}: {page}");
    }
    let page = search(&server, "koral");
    assert!(
        page.contains(r#"Did you mean <a href="/search?q=Coral">Coral</a>?"#),
        "{page}"
    );
    let page = search(&server, "lindkvist");
    assert!(page.contains(">Lindqvist</a>?"), "{page}");
    // Words as typed that find something are not second-guessed.
    let page = search(&server, "coral");
    assert!(page.contains(&format!("/title/{coral}")) && !page.contains("Did you mean"));

    // A draft's name is never suggested, nor shown.
    let page = search(&server, "marigald");
    assert!(
        !page.contains("Marigold") && !page.contains("Did you mean"),
        "{page}"
    );

    // FTS5 syntax around the typo is only punctuation: the same suggestion, no error.
    for hostile in [
        "%22koral%22",
        "koral*",
        "%28koral%29",
        "-koral",
        "%E2%80%AEkoral",
    ] {
        let page = search(&server, hostile);
        assert!(
            page.contains(&format!("/title/{coral}")) && page.contains("Did you mean"),
            "{hostile}: {page}"
        );
    }
    for hostile in ["NEAR(koral", "%22%22%22", "a%22%20OR%20%22b", "*", "%00"] {
        search(&server, hostile);
    }
}

fn beacon(browser: &mut Browser, session: &str, title: &str, events: Value) {
    let body = json!({"session": session, "title": title, "events": events}).to_string();
    let answer = browser.post_json("/beacon", "", &body);
    assert_eq!(answer.status, 204, "{}", answer.body);
}

/// A chart's axis from the page's chart data: its labels, checked to be all different.
fn distinct_labels(chart: &Value, axis: &str) -> Vec<String> {
    let labels: Vec<String> = chart[axis]["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("{axis} of {chart}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let mut seen = labels.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), labels.len(), "repeated {axis} labels: {chart}");
    assert!(labels.len() >= 2, "{chart}");
    labels
}

#[test]
fn a_few_seconds_watched_read_in_minutes_and_no_axis_label_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "bob@example.com", &["--role", "viewer"]);
    let server = Server::start(&data, "");
    let clip = tmp.path().join("seconds.mp4");
    make_clip(&clip, "320x180", 25, 2.0, true);
    drop_into(&server.inbox(), &clip);
    let id = server.wait_finished("seconds", Duration::from_secs(120))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A few seconds watched, one play.
    let mut bob = signed_in(&server, "bob@example.com");
    beacon(
        &mut bob,
        "bob-session-000001",
        &id,
        json!([
            {"kind": "play_intent", "n": 1},
            {"kind": "first_frame", "n": 2, "ms": 800, "height": 180},
            {"kind": "heartbeat", "n": 3, "position": 1.0, "height": 180, "bitrate": 400000, "duration": 2.0},
            {"kind": "heartbeat", "n": 4, "position": 1.9, "height": 180, "bitrate": 400000, "duration": 2.0},
            {"kind": "complete", "n": 5}
        ]),
    );

    let mut ann = signed_in(&server, "ann@example.com");
    let page = ann.get("/admin/analytics");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(kpi(&page.body, "Watch time"), "&lt; 1 min");
    assert!(!page.body.contains("0.0 h") && !page.body.contains("<td>0.0</td>"));
    assert!(page.body.contains("<td>&lt; 1 min</td>"), "the day's row");

    // The charts' axes as the page draws them: every label different, watch time in minutes.
    let start = page.body.find("id=\"charts-data\">").unwrap() + "id=\"charts-data\">".len();
    let end = start + page.body[start..].find("</script>").unwrap();
    let charts: Value = serde_json::from_str(&page.body[start..end]).unwrap();
    let charts = charts.as_array().unwrap();
    assert!(!charts.is_empty());
    for chart in charts {
        distinct_labels(chart, "y_axis");
        distinct_labels(chart, "x_axis");
    }
    let watch = charts.iter().find(|c| c["id"] == "watch").unwrap();
    let labels = distinct_labels(watch, "y_axis");
    assert!(labels.iter().all(|l| l.ends_with(" min")), "{labels:?}");
    let plays = charts.iter().find(|c| c["id"] == "plays").unwrap();
    assert_eq!(distinct_labels(plays, "y_axis"), ["0", "1"]);

    // The content tab's bars and drop-off share the rule.
    let page = ann.get("/admin/analytics?tab=content");
    assert!(page.body.contains("<td>&lt; 1 min</td>"), "the title's row");
    let start = page.body.find("id=\"charts-data\">").unwrap() + "id=\"charts-data\">".len();
    let end = start + page.body[start..].find("</script>").unwrap();
    let charts: Value = serde_json::from_str(&page.body[start..end]).unwrap();
    for chart in charts.as_array().unwrap() {
        distinct_labels(chart, "y_axis");
    }
}
