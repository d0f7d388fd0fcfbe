//! Search that tolerates a typo, against the real server: "koral" finds the live "Coral"
//! title with "Did you mean Coral?", on the search page and in the results fetched as
//! the viewer types; a draft's words are never suggested; FTS syntax in the input stays
//! inert.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::data_with_ann;
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
