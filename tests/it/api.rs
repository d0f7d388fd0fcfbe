//! The operator API beyond listing: edit, delete, retry, and the OpenAPI document.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, blake3_of, children_of, drop_into, get_with, make_clip};

fn send(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let url = format!("{}{path}", server.base);
    let auth = format!("Bearer {}", server.key);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = match (method, body) {
        ("PATCH", Some(b)) => agent
            .patch(&url)
            .header("Authorization", &auth)
            .content_type("application/json")
            .send(b),
        ("POST", _) => agent.post(&url).header("Authorization", &auth).send_empty(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        _ => panic!("unsupported"),
    }
    .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        resp.body_mut().read_json::<Value>().unwrap_or(Value::Null),
    )
}

fn wait_status(server: &Server, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, a) = server.get(&format!("/api/v1/assets/{id}"));
        if a["status"] == status {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {status}: {a:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn assets_can_be_edited_retried_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("talk.mp4");
    make_clip(&clip, "320x240", 30, 3.0, true);
    let long = tmp.path().join("long.mp4");
    make_clip(&long, "1280x720", 30, 20.0, true);
    std::fs::write(tmp.path().join("junk.mp4"), b"not a video at all").unwrap();
    let server = Server::start(&tmp.path().join("data"), "preset = \"veryfast\"\n");
    drop_into(&server.inbox(), &clip);
    drop_into(&server.inbox(), &tmp.path().join("junk.mp4"));
    let ready = server.wait_finished("talk", Duration::from_secs(60));
    let failed = server.wait_finished("junk", Duration::from_secs(60));
    let (id, failed_id) = (
        ready["id"].as_str().unwrap().to_string(),
        failed["id"].as_str().unwrap().to_string(),
    );

    // PATCH: edits apply; bad edits change nothing and say why.
    let (status, body) = send(
        &server,
        "PATCH",
        &format!("/api/v1/assets/{id}"),
        Some(r#"{"title":"  Keynote  ","description":"Opening talk"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["title"].as_str(), body["description"].as_str()),
        (Some("Keynote"), Some("Opening talk"))
    );
    for bad in [
        r#"{"title":""}"#,
        r#"{"colour":"red"}"#,
        "{not json",
        &json!({"title": "x".repeat(201)}).to_string(),
    ] {
        let (status, body) = send(&server, "PATCH", &format!("/api/v1/assets/{id}"), Some(bad));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    assert_eq!(
        server.get(&format!("/api/v1/assets/{id}")).1["title"],
        "Keynote"
    );
    assert_eq!(
        send(&server, "PATCH", "/api/v1/assets/nosuchasset", Some("{}")).0,
        404
    );

    // Retry: only failed assets; the job runs again and fails again for the same reason.
    let (status, body) = send(&server, "POST", &format!("/api/v1/assets/{id}/retry"), None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) = send(
        &server,
        "POST",
        &format!("/api/v1/assets/{failed_id}/retry"),
        None,
    );
    assert_eq!(status, 202, "{body}");
    assert!(
        body["status"] == "queued" || body["status"] == "processing",
        "{body}"
    );
    let again = wait_status(&server, &failed_id, "failed");
    assert_eq!(again["error"], failed["error"]);

    // DELETE a ready asset: gone from the API and the origin at once, source kept in the trash.
    let playback = ready["playback_url"].as_str().unwrap().to_string();
    assert_eq!(get_with(&format!("{}{playback}", server.base), None).0, 200);
    let source_hash = blake3_of(&server.package_dir(&ready).join("source.mp4"));
    let (status, body) = send(&server, "DELETE", &format!("/api/v1/assets/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get(&format!("/api/v1/assets/{id}")).0, 404);
    assert_eq!(get_with(&format!("{}{playback}", server.base), None).0, 404);
    assert!(!server.package_dir(&ready).exists());
    assert_eq!(
        blake3_of(&server.data.join("trash").join(&id).join("source.mp4")),
        source_hash
    );
    assert_eq!(
        send(&server, "DELETE", &format!("/api/v1/assets/{id}"), None).0,
        404
    );

    // DELETE while transcoding stops the worker and keeps the source.
    drop_into(&server.inbox(), &long);
    let deadline = Instant::now() + Duration::from_secs(60);
    let busy = loop {
        if let Some(a) = server
            .asset_titled("long")
            .filter(|a| a["status"] == "processing")
        {
            break a;
        }
        assert!(Instant::now() < deadline, "long never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    let busy_id = busy["id"].as_str().unwrap();
    assert_eq!(children_of(server.pid()).len(), 1, "one worker expected");
    assert_eq!(
        send(
            &server,
            "DELETE",
            &format!("/api/v1/assets/{busy_id}"),
            None
        )
        .0,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !children_of(server.pid()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "worker still running after delete"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        blake3_of(&server.data.join("trash").join(busy_id).join("long.mp4")),
        blake3_of(&long)
    );
    std::thread::sleep(Duration::from_secs(7)); // past a rescan: the deleted file is not picked up again
    assert!(server.asset_titled("long").is_none());
    assert!(server.healthy());
}

#[test]
fn openapi_document_lists_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let (status, doc) = get_with(&format!("{}/api/v1/openapi.json", server.base), None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut listed: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    listed.sort();
    let expected = [
        "DELETE /api/v1/assets/{id}",
        "GET /api/v1/assets",
        "GET /api/v1/assets/{id}",
        "GET /api/v1/openapi.json",
        "PATCH /api/v1/assets/{id}",
        "POST /api/v1/assets/{id}/retry",
    ];
    assert_eq!(listed, expected);
    // Every listed route exists on the server (an unknown route would 404 with no JSON error).
    for route in expected {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "nosuchasset");
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", server.base))
            .body(())
            .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let status = agent.run(req).unwrap().status().as_u16();
        assert!(status == 200 || status == 401, "{route} answered {status}");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["schemas"]["AssetView"]["properties"]["playback_url"].is_object());
}
