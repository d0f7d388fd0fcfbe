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
    // `processing` is set when the job is claimed, a moment before its worker starts.
    while children_of(server.pid()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
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
        "DELETE /api/v1/api-keys/{id}",
        "DELETE /api/v1/assets/{id}",
        "DELETE /api/v1/collections/{id}",
        "DELETE /api/v1/invites/{id}",
        "DELETE /api/v1/members/{id}",
        "DELETE /api/v1/members/{id}/grants/{grant}",
        "DELETE /api/v1/rails/{id}",
        "DELETE /api/v1/titles/{id}",
        "DELETE /api/v1/titles/{id}/artwork/{kind}",
        "DELETE /api/v1/uploads/{id}",
        "DELETE /api/v1/webhooks/{id}",
        "GET /api/v1/api-keys",
        "GET /api/v1/assets",
        "GET /api/v1/assets/{id}",
        "GET /api/v1/audit",
        "GET /api/v1/code-batches",
        "GET /api/v1/code-batches/{id}/codes",
        "GET /api/v1/collections",
        "GET /api/v1/collections/{id}",
        "GET /api/v1/invites",
        "GET /api/v1/members",
        "GET /api/v1/members/{id}",
        "GET /api/v1/members/{id}/access/{title}",
        "GET /api/v1/members/{id}/grants",
        "GET /api/v1/offers",
        "GET /api/v1/openapi.json",
        "GET /api/v1/plans",
        "GET /api/v1/rails",
        "GET /api/v1/settings",
        "GET /api/v1/status",
        "GET /api/v1/titles",
        "GET /api/v1/titles/{id}",
        "GET /api/v1/titles/{id}/access",
        "GET /api/v1/uploads/{id}",
        "GET /api/v1/webhooks",
        "GET /api/v1/webhooks/{id}/deliveries",
        "HEAD /api/v1/uploads/{id}",
        "OPTIONS /api/v1/uploads",
        "PATCH /api/v1/assets/{id}",
        "PATCH /api/v1/collections/{id}",
        "PATCH /api/v1/members/{id}",
        "PATCH /api/v1/rails/{id}",
        "PATCH /api/v1/settings",
        "PATCH /api/v1/titles/{id}",
        "PATCH /api/v1/uploads/{id}",
        "PATCH /api/v1/webhooks/{id}",
        "POST /api/v1/api-keys",
        "POST /api/v1/assets/{id}/retry",
        "POST /api/v1/code-batches",
        "POST /api/v1/collections",
        "POST /api/v1/invites",
        "POST /api/v1/members/{id}/grants",
        "POST /api/v1/members/{id}/offers",
        "POST /api/v1/offers",
        "POST /api/v1/plans",
        "POST /api/v1/plans/{id}/migrate",
        "POST /api/v1/rails",
        "POST /api/v1/rails/order",
        "POST /api/v1/titles",
        "POST /api/v1/titles/{id}/publish",
        "POST /api/v1/titles/{id}/unpublish",
        "POST /api/v1/uploads",
        "POST /api/v1/webhooks",
        "POST /api/v1/webhooks/{id}/test",
        "PUT /api/v1/collections/{id}/access",
        "PUT /api/v1/offers/{id}",
        "PUT /api/v1/plans/{id}",
        "PUT /api/v1/titles/{id}/access",
        "PUT /api/v1/titles/{id}/artwork/{kind}",
        "PUT /api/v1/titles/{id}/seasons/{number}/access",
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
        // OPTIONS (tus discovery, a CORS preflight) is open and answers 204.
        let open = method == "OPTIONS" && status == 204;
        assert!(
            status == 200 || status == 401 || open,
            "{route} answered {status}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["schemas"]["AssetView"]["properties"]["playback_url"].is_object());
}

/// Any method, any path; status, headers (lower-case names) and the body as JSON (or Null).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> (u16, Vec<(String, String)>, Value) {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base));
    if let Some(key) = key {
        req = req.header("Authorization", format!("Bearer {key}"));
    }
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .build()
        .new_agent();
    let mut resp = agent.run(req.body(()).unwrap()).unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn every_answer_forbids_sniffing_and_api_errors_are_json() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let key = server.key.clone();
    for (method, path, key, status, code) in [
        ("GET", "/healthz", None, 200, None),
        ("GET", "/", None, 200, None),
        ("GET", "/api/v1/assets", Some(key.as_str()), 200, None),
        ("GET", "/api/v1/openapi.json", None, 200, None),
        ("GET", "/api/v1/assets", None, 401, Some("unauthorized")),
        (
            "GET",
            "/api/v1/assets?limit=0",
            Some(&key),
            400,
            Some("bad_request"),
        ),
        (
            "GET",
            "/api/v1/assets/nosuchasset",
            Some(&key),
            404,
            Some("not_found"),
        ),
        ("GET", "/api/v1/nosuch", None, 404, Some("not_found")),
        ("GET", "/api/v2/assets", Some(&key), 404, Some("not_found")),
        (
            "POST",
            "/api/v1/assets",
            Some(&key),
            405,
            Some("method_not_allowed"),
        ),
        (
            "PUT",
            "/api/v1/assets/abcd",
            Some(&key),
            405,
            Some("method_not_allowed"),
        ),
        (
            "GET",
            "/api/v1/assets/abcd/retry",
            Some(&key),
            405,
            Some("method_not_allowed"),
        ),
        (
            "POST",
            "/p/public/abcd1234/master.m3u8",
            None,
            405,
            Some("method_not_allowed"),
        ),
        (
            "GET",
            "/p/public/nosuchasset/master.m3u8",
            None,
            404,
            Some("not_found"),
        ),
        (
            "OPTIONS",
            "/p/public/nosuchasset/master.m3u8",
            None,
            204,
            None,
        ),
    ] {
        let (got, headers, body) = call(&server, method, path, key);
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            Some("nosniff"),
            "{method} {path}: {headers:?}"
        );
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "{method} {path}: {body}");
            assert!(
                body["error"]["message"].is_string(),
                "{method} {path}: {body}"
            );
        }
        if status == 405 && path.starts_with("/api/") {
            let allow = header(&headers, "allow").unwrap_or_default();
            assert!(
                !allow.is_empty() && !allow.contains(method),
                "{method} {path}: {allow}"
            );
        }
    }
}

#[test]
fn the_readme_lists_exactly_the_error_codes_the_api_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let (_, doc) = get_with(&format!("{}/api/v1/openapi.json", server.base), None);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode",
        "{schemas:#}"
    );
    let mut documented: Vec<String> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no ErrorCode enum: {schemas:#}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    documented.sort();

    // The README's list: "- `code` (status)" lines after "Errors are JSON".
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, section) = readme
        .split_once("Errors are JSON")
        .expect("the errors section");
    let mut listed: Vec<String> = section
        .lines()
        .skip_while(|l| !l.starts_with("- `"))
        .take_while(|l| l.starts_with("- `"))
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, documented);
}

#[test]
fn malformed_requests_are_logged_once_a_minute_per_client() {
    use std::io::{Read, Write};

    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    let addr = server.base.trim_start_matches("http://").to_string();
    for garbage in std::iter::repeat_n(
        [
            "GARBAGE\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n",
        ],
        10,
    )
    .flatten()
    {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(garbage.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            answer.starts_with(b"HTTP/1.1 400"),
            "{garbage:?}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(server.healthy());
    std::thread::sleep(Duration::from_millis(500));
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("actix_http") || l.contains("bad request"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("127.0.0.1") && lines[0].contains("WARN"),
        "{log}"
    );
}
