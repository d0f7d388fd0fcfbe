//! Resumable uploads over tus 1.0.0: a clip sent in pieces becomes a ready asset, an upload
//! survives `kill -9` mid-body and resumes at the offset the server reports, and the
//! limits (offset, size, disk floor, owner, expiry, termination) hold. Uploaded playlists
//! read nothing outside their own file.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::hls_check::check_package;
use crate::support::{Options, Server, blake3_of, create_api_key, get_with, make_clip};

/// One answer: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn offset(&self) -> u64 {
        self.header("upload-offset")
            .unwrap_or_else(|| panic!("no Upload-Offset in a {} answer", self.status))
            .parse()
            .unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A tus request with `key`; `Tus-Resumable: 1.0.0` unless `headers` says otherwise.
fn tus(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {key}"));
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("tus-resumable"))
    {
        request = request.header("Tus-Resumable", "1.0.0");
    }
    for (name, value) in headers {
        if !value.is_empty() {
            request = request.header(*name, *value);
        }
    }
    let mut response = match body {
        Some(bytes) => agent.run(request.body(bytes.to_vec()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        response.body_mut().read_to_vec().unwrap_or_default()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn create(server: &Server, key: &str, size: usize, filename: &str) -> (Answer, String) {
    let metadata = format!(
        "filename {},filetype {}",
        STANDARD.encode(filename),
        STANDARD.encode("video/mp4")
    );
    let answer = tus(
        server,
        key,
        "POST",
        "/api/v1/uploads",
        &[
            ("Upload-Length", &size.to_string()),
            ("Upload-Metadata", &metadata),
        ],
        None,
    );
    let location = answer.header("location").unwrap_or_default().to_string();
    (answer, location)
}

fn patch(server: &Server, key: &str, location: &str, offset: u64, bytes: &[u8]) -> Answer {
    tus(
        server,
        key,
        "PATCH",
        location,
        &[
            ("Content-Type", "application/offset+octet-stream"),
            ("Upload-Offset", &offset.to_string()),
        ],
        Some(bytes),
    )
}

fn head(server: &Server, key: &str, location: &str) -> Answer {
    tus(server, key, "HEAD", location, &[], None)
}

fn part_files(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("uploads"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn upload_rows(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("marquee.db")).unwrap();
    db.query_row("SELECT count(*) FROM uploads", [], |r| r.get(0))
        .unwrap()
}

fn clip(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    make_clip(&path, "320x240", 25, 2.0, true);
    std::fs::read(path).unwrap()
}

#[test]
fn a_clip_uploaded_in_pieces_becomes_a_ready_asset_that_plays() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = clip(tmp.path(), "source.mp4");
    let server = Server::start(&tmp.path().join("data"), "");
    let key = server.key.clone();

    let caps = tus(&server, &key, "OPTIONS", "/api/v1/uploads", &[], None);
    assert_eq!(caps.status, 204);
    assert_eq!(caps.header("tus-version"), Some("1.0.0"));
    assert_eq!(caps.header("tus-max-size"), Some("20000000000"));
    let extensions = caps.header("tus-extension").unwrap();
    for ext in ["creation", "termination", "expiration"] {
        assert!(extensions.split(',').any(|e| e == ext), "{extensions}");
    }

    let (created, location) = create(&server, &key, bytes.len(), "Beach_day.mp4");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(created.header("tus-resumable"), Some("1.0.0"));
    let id = location.strip_prefix("/api/v1/uploads/").unwrap();
    assert_eq!(id.len(), 32, "128 random bits in hex: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // Protocol errors change nothing.
    let unversioned = tus(
        &server,
        &key,
        "PATCH",
        &location,
        &[
            ("Tus-Resumable", "0.2.2"),
            ("Content-Type", "application/offset+octet-stream"),
            ("Upload-Offset", "0"),
        ],
        Some(&bytes[..10]),
    );
    assert_eq!(unversioned.status, 412);
    assert_eq!(unversioned.header("tus-version"), Some("1.0.0"));
    let untyped = tus(
        &server,
        &key,
        "PATCH",
        &location,
        &[("Content-Type", "application/json"), ("Upload-Offset", "0")],
        Some(&bytes[..10]),
    );
    assert_eq!(untyped.status, 415);
    assert_eq!(head(&server, &key, &location).offset(), 0);

    // Three pieces; between them the server reports where it stands.
    let cuts = [0, bytes.len() / 3, bytes.len() * 2 / 3, bytes.len()];
    let mut last = None;
    for piece in cuts.windows(2) {
        let (from, to) = (piece[0], piece[1]);
        let status = head(&server, &key, &location);
        assert_eq!(status.status, 200);
        assert_eq!(status.offset(), from as u64);
        assert_eq!(
            status.header("upload-length"),
            Some(bytes.len().to_string().as_str())
        );
        assert_eq!(status.header("cache-control"), Some("no-store"));
        if from > 0 {
            // A piece sent at the wrong offset is refused and nothing of it is written.
            let wrong = patch(
                &server,
                &key,
                &location,
                from as u64 - 5,
                &bytes[from - 5..to],
            );
            assert_eq!(
                wrong.status,
                409,
                "{}",
                String::from_utf8_lossy(&wrong.body)
            );
            assert_eq!(wrong.json()["error"]["code"], "conflict");
            let part = server.data.join("uploads").join(format!("{id}.part"));
            assert_eq!(std::fs::metadata(&part).unwrap().len(), from as u64);
            assert_eq!(head(&server, &key, &location).offset(), from as u64);
        }
        let sent = patch(&server, &key, &location, from as u64, &bytes[from..to]);
        assert_eq!(sent.status, 204, "{}", String::from_utf8_lossy(&sent.body));
        assert_eq!(sent.offset(), to as u64);
        last = Some(sent);
    }
    let asset_id = last
        .unwrap()
        .header("marquee-asset-id")
        .expect("the last PATCH names the asset")
        .to_string();
    let (status, view) = server.get(&location);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["finished"], true);
    assert_eq!(view["asset_id"], asset_id.as_str());
    assert_eq!(view["offset"], bytes.len());
    assert_eq!(view["filename"], "Beach_day.mp4");
    assert_eq!(
        head(&server, &key, &location).header("marquee-asset-id"),
        Some(asset_id.as_str())
    );

    // Another key sees nothing of it and cannot touch it.
    let other = create_api_key(&server.data);
    for method in ["HEAD", "GET", "DELETE"] {
        assert_eq!(
            tus(&server, &other, method, &location, &[], None).status,
            404,
            "{method}"
        );
    }
    assert_eq!(
        patch(&server, &other, &location, bytes.len() as u64, b"").status,
        404
    );
    // A finished upload is not terminated: its file is the asset's source now.
    assert_eq!(
        tus(&server, &key, "DELETE", &location, &[], None).status,
        409
    );

    // The same ingest path as the inbox: titled from the file name, transcoded, served.
    let asset = server.wait_finished("Beach day", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset:#}\n{}", server.log());
    assert_eq!(asset["id"], asset_id.as_str());
    let dir = server.package_dir(&asset);
    check_package(&dir);
    let source = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("source."))
        .expect("the source moved into the package folder");
    assert_eq!(source.file_name(), "source.mp4");
    assert_eq!(
        blake3_of(&source.path()),
        blake3::hash(&bytes).to_hex().to_string()
    );
    let master = format!("{}{}", server.base, asset["playback_url"].as_str().unwrap());
    let (status, _) = get_with(&master, None);
    assert_eq!(status, 200);
    assert!(
        part_files(&server.data).is_empty(),
        "{:?}",
        part_files(&server.data)
    );

    // The same file again, in the creation request itself (creation-with-upload): a
    // duplicate, as in the inbox, set aside and pointing at the asset it duplicates.
    let metadata = format!("filename {}", STANDARD.encode("Copy.mp4"));
    let again = tus(
        &server,
        &key,
        "POST",
        "/api/v1/uploads",
        &[
            ("Upload-Length", &bytes.len().to_string()),
            ("Upload-Metadata", &metadata),
            ("Content-Type", "application/offset+octet-stream"),
        ],
        Some(&bytes),
    );
    assert_eq!(
        again.status,
        201,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.offset(), bytes.len() as u64);
    assert_eq!(again.header("marquee-asset-id"), Some(asset_id.as_str()));
    let (_, view) = server.get(again.header("location").unwrap());
    assert_eq!(
        (&view["duplicate"], &view["finished"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    assert_eq!(
        std::fs::read_dir(server.data.join("duplicates"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(server.assets().len(), 1);

    let openapi = server.get("/api/v1/openapi.json").1;
    let paths = &openapi["paths"];
    for method in ["post", "options"] {
        assert!(paths["/api/v1/uploads"][method].is_object(), "{method}");
    }
    for method in ["head", "patch", "delete", "get"] {
        assert!(
            paths["/api/v1/uploads/{id}"][method].is_object(),
            "{method}"
        );
    }
}

/// Starts a PATCH at `offset` that announces every byte left, and sends `part` of them.
fn start_patch(
    server: &Server,
    location: &str,
    offset: usize,
    rest: usize,
    part: &[u8],
) -> TcpStream {
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {rest}\r\n\r\n",
        server.key
    )
    .unwrap();
    stream.write_all(part).unwrap();
    stream
}

fn wait_for_offset(server: &Server, location: &str, what: &str, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let offset = head(server, &server.key, location).offset();
        if done(offset) {
            return offset;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the offset stayed {offset}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_upload_killed_mid_body_resumes_at_the_reported_offset_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = clip(tmp.path(), "resumed.mp4");
    // A stalled body is not ended by the server within this test: only the upload's own
    // syncing can make its bytes count.
    let mut server = Server::start_with(
        &tmp.path().join("data"),
        Options {
            tables: "[http]\nsend_timeout_secs = 600\n".into(),
            ..Options::default()
        },
    );
    let key = server.key.clone();
    let (created, location) = create(&server, &key, bytes.len(), "Resumed.mp4");
    assert_eq!(created.status, 201);
    let len = bytes.len();

    // Half, acknowledged.
    let half = len / 2;
    assert_eq!(
        patch(&server, &key, &location, 0, &bytes[..half]).offset(),
        half as u64
    );

    // A client that goes away mid-body loses nothing it sent.
    let eighth = len / 8;
    let stream = start_patch(
        &server,
        &location,
        half,
        len - half,
        &bytes[half..half + eighth],
    );
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    let kept = wait_for_offset(&server, &location, "after a disconnect", |o| {
        o > half as u64
    });
    assert_eq!(kept, (half + eighth) as u64);

    // A body that pauses has its bytes synced and counted; then the server is killed.
    let from = half + eighth;
    let sent = len / 4;
    let stream = start_patch(
        &server,
        &location,
        from,
        len - from,
        &bytes[from..from + sent],
    );
    wait_for_offset(&server, &location, "while the body pauses", |o| {
        o > from as u64
    });
    server.kill9();
    drop(stream);
    server.restart();

    let offset = head(&server, &key, &location).offset();
    assert!(
        offset > from as u64 && offset <= (from + sent) as u64,
        "resumes at {offset}, between {from} (acknowledged) and {} (sent)",
        from + sent
    );
    let done = patch(&server, &key, &location, offset, &bytes[offset as usize..]);
    assert_eq!(done.status, 204, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.offset(), len as u64);
    let asset = server.wait_finished("Resumed", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset:#}\n{}", server.log());
    check_package(&server.package_dir(&asset));
    assert_eq!(
        blake3_of(&server.package_dir(&asset).join("source.mp4")),
        blake3::hash(&bytes).to_hex().to_string(),
        "the resumed file is byte for byte the original"
    );
}

#[test]
fn limits_refuse_before_storing_and_termination_removes_the_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        Options {
            tables: "[uploads]\nmax_bytes = 1000000\n".into(),
            ..Options::default()
        },
    );
    let key = server.key.clone();
    let caps = tus(&server, &key, "OPTIONS", "/api/v1/uploads", &[], None);
    assert_eq!(caps.header("tus-max-size"), Some("1000000"));

    // Too big: refused before anything is stored.
    let (too_big, _) = create(&server, &key, 1_000_001, "huge.mp4");
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.json()["error"]["code"], "payload_too_large");
    assert!(
        too_big.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uploads.max_bytes"),
        "{}",
        too_big.json()
    );
    let malformed = tus(
        &server,
        &key,
        "POST",
        "/api/v1/uploads",
        &[("Upload-Length", "-5")],
        None,
    );
    assert_eq!(malformed.status, 400);
    let (empty, _) = create(&server, &key, 0, "empty.mp4");
    assert_eq!(empty.status, 400);
    assert_eq!(upload_rows(&server.data), 0);
    assert!(part_files(&server.data).is_empty());

    // A body longer than the upload is refused before a byte of it is written.
    let (_, small) = create(&server, &key, 100, "small.mp4");
    let overlong = patch(&server, &key, &small, 0, &[7u8; 150]);
    assert_eq!(overlong.status, 413);
    assert_eq!(head(&server, &key, &small).offset(), 0);

    // Termination removes the record and the bytes.
    let (_, location) = create(&server, &key, 5000, "dropped.mp4");
    assert_eq!(
        patch(&server, &key, &location, 0, &[1u8; 1000]).offset(),
        1000
    );
    let id = location.rsplit('/').next().unwrap();
    let part = server.data.join("uploads").join(format!("{id}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 1000);
    assert_eq!(
        tus(&server, &key, "DELETE", &location, &[], None).status,
        204
    );
    assert!(!part.exists());
    assert_eq!(head(&server, &key, &location).status, 404);
    assert_eq!(
        patch(&server, &key, &location, 1000, &[1u8; 10]).status,
        404
    );

    // Not enough space above the floor (ingest.min_free_mb): refused, nothing stored.
    let tight = Server::start_with(
        &tmp.path().join("tight"),
        Options {
            ingest: "min_free_mb = 100000000000\n".into(),
            ..Options::default()
        },
    );
    let (no_room, _) = create(&tight, &tight.key, 10, "tiny.mp4");
    assert_eq!(no_room.status, 507);
    assert_eq!(no_room.json()["error"]["code"], "insufficient_storage");
    assert_eq!(upload_rows(&tight.data), 0);
}

#[test]
fn an_unfinished_upload_expires_and_the_sweep_removes_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), "");
    let key = server.key.clone();
    let (_, stale) = create(&server, &key, 5000, "stale.mp4");
    let (_, fresh) = create(&server, &key, 5000, "fresh.mp4");
    for location in [&stale, &fresh] {
        assert_eq!(patch(&server, &key, location, 0, &[1u8; 700]).offset(), 700);
    }
    let expires = head(&server, &key, &stale);
    assert!(expires.header("upload-expires").unwrap().ends_with(" GMT"));
    let part = |location: &str| {
        server
            .data
            .join("uploads")
            .join(format!("{}.part", location.rsplit('/').next().unwrap()))
    };
    let (stale_part, fresh_part) = (part(&stale), part(&fresh));

    // The stale one was last touched longer ago than uploads.expire_hours allows.
    server.terminate();
    let db = rusqlite::Connection::open(server.data.join("marquee.db")).unwrap();
    let stale_id = stale.rsplit('/').next().unwrap();
    db.execute(
        "UPDATE uploads SET expires_at = strftime('%s','now') - 1 WHERE id = ?1",
        [stale_id],
    )
    .unwrap();
    drop(db);
    server.restart();

    let deadline = Instant::now() + Duration::from_secs(30);
    while stale_part.exists() {
        assert!(
            Instant::now() < deadline,
            "the expired upload's bytes were never swept"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(head(&server, &key, &stale).status, 404);
    assert_eq!(upload_rows(&server.data), 1);
    assert!(fresh_part.exists());
    assert_eq!(head(&server, &key, &fresh).offset(), 700);

    // Bytes gone from disk (cut by hand; a restore leaves uploads out) are never resumed
    // over: the upload goes on from what is there.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fresh_part)
        .unwrap()
        .set_len(300)
        .unwrap();
    assert_eq!(head(&server, &key, &fresh).offset(), 300);
    assert_eq!(patch(&server, &key, &fresh, 700, &[2u8; 10]).status, 409);
    assert_eq!(patch(&server, &key, &fresh, 300, &[2u8; 10]).offset(), 310);
}

#[test]
fn an_uploaded_playlist_fails_with_a_reason_and_reads_nothing_outside_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    // A playable clip outside the data dir: any playlist that reached it would be published.
    let secret = tmp.path().join("secret.mp4");
    make_clip(&secret, "160x120", 25, 2.0, false);
    let secret = secret.to_str().unwrap();
    let hls = |uri: &str| {
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n{uri}\n#EXT-X-ENDLIST\n"
        )
    };
    let concat = |path: &str| format!("ffconcat version 1.0\nfile '{path}'\nfile '{secret}'\n");
    let hls_reason =
        "playlists are not accepted: drop the media file itself (this is an HLS playlist)";
    let concat_reason =
        "playlists are not accepted: drop the media file itself (this is an FFmpeg concat list)";
    let files = [
        ("secret-path.m3u8", hls(secret), hls_reason),
        ("passwd-url.m3u8", hls("file:///etc/passwd"), hls_reason),
        ("passwd-list.mp4", concat("/etc/passwd"), concat_reason),
    ];

    let server = Server::start(&tmp.path().join("data"), "");
    let key = server.key.clone();
    for (name, body, _) in &files {
        let (created, location) = create(&server, &key, body.len(), name);
        assert_eq!(created.status, 201);
        let done = patch(&server, &key, &location, 0, body.as_bytes());
        assert_eq!(done.status, 204);
        assert!(done.header("marquee-asset-id").is_some());
    }
    for (name, _, reason) in &files {
        let title = name.rsplit_once('.').unwrap().0;
        let asset = server.wait_finished(title, Duration::from_secs(120));
        assert_eq!(asset["status"], "failed", "{title}: {asset:#}");
        assert_eq!(asset["error"], *reason, "{title}");
    }
    let published: Vec<_> = std::fs::read_dir(server.data.join("library"))
        .unwrap()
        .flatten()
        .collect();
    assert!(published.is_empty(), "{published:?}");
}

#[test]
fn a_patch_stops_with_507_when_the_disk_falls_below_the_floor_and_keeps_its_bytes() {
    use crate::ops::{Unmount, ballast, free_bytes, mount_tmpfs};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    if !mount_tmpfs(&data, 64) {
        eprintln!("skipped: cannot mount a small tmpfs to fill (needs root)");
        return;
    }
    let _unmount = Unmount(&data);
    let server = Server::start_with(
        &data,
        Options {
            ingest: "min_free_mb = 24\n".into(),
            ..Options::default()
        },
    );
    let key = server.key.clone();
    let size = 20_000_000;
    let (created, location) = create(&server, &key, size, "big.mp4");
    assert_eq!(created.status, 201);
    // Something else fills the disk to 30 MB free: the body takes it below the 24 MB floor.
    ballast(&data.join("ballast"), free_bytes(&data) - 30_000_000);
    let body = vec![3u8; 17_000_000];
    let stopped = patch(&server, &key, &location, 0, &body);
    assert_eq!(
        stopped.status,
        507,
        "{}",
        String::from_utf8_lossy(&stopped.body)
    );
    assert_eq!(stopped.json()["error"]["code"], "insufficient_storage");
    let kept = head(&server, &key, &location).offset();
    assert!(kept > 0 && kept <= body.len() as u64, "kept {kept}");
    let part = data
        .join("uploads")
        .join(format!("{}.part", location.rsplit('/').next().unwrap()));
    assert!(std::fs::metadata(&part).unwrap().len() >= kept);

    // Space returns: the upload goes on from what was kept.
    std::fs::remove_file(data.join("ballast")).unwrap();
    let rest = vec![3u8; size - kept as usize];
    let done = patch(&server, &key, &location, kept, &rest);
    assert_eq!(done.status, 204, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.offset(), size as u64);
}

#[test]
fn the_vendored_tus_js_client_uploads_from_chromium_and_resumes_after_an_abort() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("from_browser.mp4");
    make_clip(&clip, "320x240", 25, 2.0, true);
    let server = Server::start(&tmp.path().join("data"), "");
    let asset_file = tmp.path().join("asset.txt");
    let report = crate::player::browser_check(&[
        "tus-upload.mjs",
        &server.base,
        &server.key,
        clip.to_str().unwrap(),
        "Browser_upload.mp4",
        asset_file.to_str().unwrap(),
    ]);
    assert_eq!(
        crate::player::step_names(&report),
        ["loaded", "interrupted", "resumed", "finished"],
        "{report}"
    );
    let named = std::fs::read_to_string(&asset_file).unwrap();
    let asset = server.wait_finished("Browser upload", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset:#}");
    assert_eq!(asset["id"], named.as_str());
    assert_eq!(
        blake3_of(&server.package_dir(&asset).join("source.mp4")),
        blake3_of(&clip)
    );
}
