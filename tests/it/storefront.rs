//! The storefront in Chromium (tests/browser/storefront.mjs): an editor builds a series and
//! the home page from the dashboard; a signed-out visitor finds the series on the home page
//! and by search as they type, and plays episode 2; axe-core finds no serious violation on
//! the home, title and search pages.

use std::time::Duration;

use crate::accounts::{PASSWORD, created, data_with_ann};
use crate::support::{Options, Server, drop_into, make_clip};

#[test]
fn an_editor_builds_a_series_and_the_home_page_and_a_visitor_finds_and_plays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_with_ann(tmp.path(), &[]);
    created(&data, "ed@example.com", &["--role", "editor"]);
    let server = Server::start_with(
        &data,
        Options {
            draft_titles: true,
            ..Options::default()
        },
    );
    for (name, secs) in [("Fog take", 3.0), ("Keeper take", 3.5)] {
        let clip = tmp.path().join(format!("{}.mp4", name.replace(' ', "_")));
        make_clip(&clip, "640x360", 25, secs, true);
        drop_into(&server.inbox(), &clip);
        let asset = server.wait_finished(name, Duration::from_secs(120));
        assert_eq!(asset["status"], "ready", "{asset}");
    }
    let report = crate::player::browser_check(&[
        "storefront.mjs",
        server.url(),
        "ed@example.com",
        PASSWORD,
        "Fog take",
        "Keeper take",
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        [
            "series created",
            "episodes added",
            "published",
            "rails arranged",
            "home",
            "found by search",
            "title page",
            "played"
        ],
        "{report}"
    );
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(
        steps[1]["episodes"],
        serde_json::json!(["Fog", "The Keeper"])
    );
    assert_eq!(steps[2]["status"], "published", "{report}");
    assert_eq!(
        steps[3]["order"],
        serde_json::json!(["Tonight", "Editors’ picks", "New"]),
        "{report}"
    );
    assert_eq!(steps[4]["hero"], "Night Harbour", "{report}");
    assert!(
        steps[4]["onHome"]
            .as_array()
            .unwrap()
            .contains(&"Night Harbour".into()),
        "{report}"
    );
    assert_eq!(
        steps[6]["listed"],
        serde_json::json!(["Fog", "The Keeper"]),
        "{report}"
    );
    assert_eq!(steps[7]["heading"], "The Keeper", "{report}");
    for page in ["home", "search", "title"] {
        assert_eq!(
            report["axe"][page],
            serde_json::json!([]),
            "serious accessibility problems on the {page} page: {report}"
        );
    }
}
