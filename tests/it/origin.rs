//! The built-in HLS origin, through the real server on a loopback port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Options, Server, drop_into, ffmpeg, first_video_segment, has_test_hooks, make_clip, open_fds,
    proc_status, read_response, rss_growth_mib,
};

/// A raw HTTP/1.1 exchange, so paths reach the server byte for byte (no client normalises them).
fn raw(server: &Server, request: &str) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

type Fetched = (u16, Vec<(String, String)>, Vec<u8>);
type Fetcher<'a> = dyn Fn(&str, &[(&str, &str)]) -> Fetched + 'a;

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Fetched {
    // `ureq::get` makes a new agent, so a new connection, for every call.
    fetch(&ureq::Agent::new_with_defaults(), server, path, headers)
}

fn fetch(agent: &ureq::Agent, server: &Server, path: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut req = agent
        .get(format!("{}{path}", server.base))
        .config()
        .http_status_as_error(false)
        .build();
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let hs = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.body_mut().read_to_vec().unwrap();
    (status, hs, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every package file with its type and cache rules, byte ranges and conditional requests,
/// through `get` (one connection per call, or one warm connection), answered by `path`
/// (`sendfile` or `actix`, as the debug build's `x-marquee-path` says; a release binary
/// sends no such header, so there only what is answered is checked, not by which path).
fn check_files(get: &Fetcher, base: &str, dir: &std::path::Path, path: &str) {
    // Content types and cache rules.
    for (file, ctype, cache) in [
        ("master.m3u8", "application/vnd.apple.mpegurl", "max-age=10"),
        (
            "video_360p/index.m3u8",
            "application/vnd.apple.mpegurl",
            "max-age=10",
        ),
        ("video_360p/init.mp4", "video/mp4", "immutable"),
        ("video_360p/seg_00000.m4s", "video/iso.segment", "immutable"),
        ("audio_0/seg_00000.m4s", "video/iso.segment", "immutable"),
        ("subs_0.vtt", "text/vtt", "max-age=3600"),
        ("poster.jpg", "image/jpeg", "max-age=3600"),
        ("thumbs/sprite_0.jpg", "image/jpeg", "max-age=3600"),
        ("thumbs.vtt", "text/vtt", "max-age=3600"),
    ] {
        let (status, headers, body) = get(
            &format!("{base}/{file}"),
            &[("Accept-Encoding", "gzip, br")],
        );
        assert_eq!(status, 200, "{file}");
        assert!(
            header(&headers, "content-type").unwrap().starts_with(ctype),
            "{file}: {headers:?}"
        );
        assert!(
            header(&headers, "cache-control").unwrap().contains(cache),
            "{file}: {headers:?}"
        );
        assert!(
            header(&headers, "content-encoding").is_none_or(|e| e == "identity"),
            "{file} was compressed"
        );
        assert_eq!(body, std::fs::read(dir.join(file)).unwrap(), "{file} body");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some("*"),
            "{file}"
        );
        assert_eq!(
            header(&headers, "x-content-type-options"),
            Some("nosniff"),
            "{file}"
        );
        if has_test_hooks() {
            assert_eq!(header(&headers, "x-marquee-path"), Some(path), "{file}");
        }
    }

    // Byte ranges: single, suffix, and past the end.
    let seg = format!("{base}/video_360p/seg_00000.m4s");
    let bytes = std::fs::read(dir.join("video_360p/seg_00000.m4s")).unwrap();
    let len = bytes.len();
    let (status, headers, body) = get(&seg, &[("Range", "bytes=100-199")]);
    assert_eq!(status, 206);
    assert_eq!(
        header(&headers, "content-range").unwrap(),
        format!("bytes 100-199/{len}")
    );
    assert_eq!(body, &bytes[100..200]);
    let (status, _, body) = get(&seg, &[("Range", "bytes=-50")]);
    assert_eq!(status, 206);
    assert_eq!(body, &bytes[len - 50..]);
    let (status, headers, _) = get(&seg, &[("Range", &format!("bytes={}-", len + 10))]);
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range").unwrap(),
        format!("bytes */{len}")
    );

    // Conditional requests.
    let (_, headers, _) = get(&seg, &[]);
    let etag = header(&headers, "etag").unwrap().to_string();
    let modified = header(&headers, "last-modified").unwrap().to_string();
    assert_eq!(get(&seg, &[("If-None-Match", &etag)]).0, 304);
    assert_eq!(get(&seg, &[("If-Modified-Since", &modified)]).0, 304);
    assert_eq!(get(&seg, &[("If-None-Match", "\"something-else\"")]).0, 200);
    let (_, headers, _) = get(&seg, &[("Range", "bytes=0-0")]);
    if has_test_hooks() {
        assert_eq!(header(&headers, "x-marquee-path"), Some(path));
    }
}

/// Files the package writer did not make: 404 on a new connection (the sendfile path tries
/// first) and on one actix-web owns.
fn check_not_served(server: &Server, paths: &[String]) {
    let warm = ureq::Agent::new_with_defaults();
    assert_eq!(fetch(&warm, server, "/healthz", &[]).0, 200);
    for path in paths {
        assert_eq!(get(server, path, &[]).0, 404, "{path}, new connection");
        assert_eq!(
            fetch(&warm, server, path, &[]).0,
            404,
            "{path}, through actix-web"
        );
    }
}

#[test]
fn origin_serves_packages_correctly_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("show.mp4");
    make_clip(&clip, "640x360", 30, 6.0, true);
    std::fs::write(
        tmp.path().join("show.en.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nHi\n",
    )
    .unwrap();
    let server = Server::start(&tmp.path().join("data"), "");
    drop_into(&server.inbox(), &tmp.path().join("show.en.srt"));
    drop_into(&server.inbox(), &clip);
    std::fs::write(tmp.path().join("broken.mp4"), b"definitely not a video").unwrap();
    drop_into(&server.inbox(), &tmp.path().join("broken.mp4"));
    // A fragmented MP4 named like a segment: published as `source.m4s` in its package.
    let fragmented = tmp.path().join("clip.m4s");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
        fragmented.to_str().unwrap(),
    ]);
    drop_into(&server.inbox(), &fragmented);
    let asset = server.wait_finished("show", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready");
    let failed = server.wait_finished("broken", Duration::from_secs(60));
    assert_eq!(failed["status"], "failed");
    let id = asset["id"].as_str().unwrap();
    let dir = server.package_dir(&asset);
    let base = format!("/p/public/{id}");
    assert_eq!(asset["playback_url"], format!("{base}/master.m3u8"));

    // The sendfile fast path serves connections that only fetch from the origin; a
    // connection that asked for anything else is actix-web's. Both must answer alike.
    check_files(&|path, hs| get(&server, path, hs), &base, &dir, "sendfile");
    let warm = ureq::Agent::new_with_defaults();
    assert_eq!(fetch(&warm, &server, "/healthz", &[]).0, 200);
    check_files(
        &|path, hs| fetch(&warm, &server, path, hs),
        &base,
        &dir,
        "actix",
    );
    let seg = format!("{base}/video_360p/seg_00000.m4s");
    let len = std::fs::read(dir.join("video_360p/seg_00000.m4s"))
        .unwrap()
        .len();

    // HEAD: headers, no body.
    let (status, text) = raw(
        &server,
        &format!("HEAD {seg} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("content-length: {len}\r\n")),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n"), "HEAD returned a body");
    // The same after the connection went to actix-web.
    let (_, text) = raw(
        &server,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nHEAD {seg} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ),
    );
    let (_, second) = text.split_once("ok\n").expect("the health answer first");
    assert!(second.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        second
            .to_ascii_lowercase()
            .contains(&format!("content-length: {len}\r\n")),
        "{text}"
    );
    assert!(second.ends_with("\r\n\r\n"), "HEAD returned a body");

    // CORS: preflight, and the header on a plain request.
    let (status, text) = raw(
        &server,
        &format!(
            "OPTIONS {seg} HTTP/1.1\r\nHost: t\r\nOrigin: https://player.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status == 200 || status == 204, "preflight: {text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("access-control-allow-origin:"), "{text}");
    assert!(
        lower.contains("access-control-allow-headers:") && lower.contains("range"),
        "{text}"
    );
    let (_, headers, _) = get(&server, &seg, &[("Origin", "https://player.example")]);
    assert!(
        header(&headers, "access-control-allow-origin").is_some(),
        "{headers:?}"
    );

    // Nothing outside the package's public files, however the path is spelled.
    std::fs::create_dir_all(
        server
            .data
            .join("library")
            .join(failed["id"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::write(
        server
            .data
            .join("library")
            .join(failed["id"].as_str().unwrap())
            .join("master.m3u8"),
        "#EXTM3U\n",
    )
    .unwrap();
    let attacks = [
        format!("{base}/../../marquee.db"),
        format!("{base}/..%2f..%2fmarquee.db"),
        format!("{base}/%2e%2e/%2e%2e/marquee.db"),
        format!("{base}/%252e%252e/%252e%252e/marquee.db"),
        format!("{base}/video_360p/../source.mp4"),
        format!("{base}/video_360p%2f..%2fsource.mp4"),
        format!("{base}/source.mp4"),
        format!("{base}/package.json"),
        format!("{base}/sidecars/show.en.srt"),
        format!("/p/public/..%2flibrary/{id}/master.m3u8"),
        format!("/p/other-token/{id}/master.m3u8"),
        format!("/p/public/{}/master.m3u8", failed["id"].as_str().unwrap()),
        "/p/public/nosuchasset/master.m3u8".to_string(),
    ];
    for path in attacks {
        let (status, text) = raw(
            &server,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        );
        // A token that is not one is refused as such; everything else is not there.
        let refused = path.contains("other-token") && status == 403;
        assert!(
            status == 404 || status == 400 || refused,
            "{path} answered {status}:\n{text}"
        );
    }

    // Only the files the package writer made: not a source named like a segment, nor
    // anything put into a package folder afterwards, on either path.
    let clip = server.wait_finished("clip", Duration::from_secs(60));
    assert_eq!(clip["status"], "ready", "{clip}");
    let clip_dir = server.package_dir(&clip);
    let clip_base = format!("/p/public/{}", clip["id"].as_str().unwrap());
    assert!(clip_dir.join("source.m4s").is_file());
    assert_eq!(
        get(&server, &format!("{clip_base}/master.m3u8"), &[]).0,
        200
    );
    let planted = [
        "video_360p/seg_09999.m4s",
        "video_360p/extra.m3u8",
        "notes.vtt",
    ];
    for file in planted {
        std::fs::copy(dir.join("video_360p/seg_00000.m4s"), dir.join(file)).unwrap();
    }
    let mut not_served: Vec<String> = planted.iter().map(|f| format!("{base}/{f}")).collect();
    not_served.push(format!("{clip_base}/source.m4s"));
    check_not_served(&server, &not_served);
    for file in planted {
        std::fs::remove_file(dir.join(file)).unwrap();
    }

    // An independent client: the ffmpeg program plays the master playlist over HTTP and
    // decodes every rendition.
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-i",
            &format!("{}{base}/master.m3u8", server.base),
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg over HTTP: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,width,height",
            "-of",
            "csv=p=0",
            &format!("{}{base}/master.m3u8", server.base),
        ])
        .output()
        .unwrap();
    let streams = String::from_utf8_lossy(&probe.stdout);
    assert!(
        streams.contains("video,640,360")
            && streams.contains("video,426,240")
            && streams.contains("audio"),
        "{streams}"
    );

    // Packages made before manifests listed their files are listed on the next start.
    let mut server = server;
    server.terminate();
    let ids = [id.to_string(), clip["id"].as_str().unwrap().to_string()];
    for (asset, folder) in ids.iter().zip([&dir, &clip_dir]) {
        let path = folder.join("package.json");
        let legacy =
            without_file_lists(serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap());
        std::fs::write(&path, legacy.to_string()).unwrap();
        set_stored_manifest(&server, asset, &legacy);
    }
    server.restart();
    check_files(&|path, hs| get(&server, path, hs), &base, &dir, "sendfile");
    assert_eq!(
        get(&server, &format!("{clip_base}/master.m3u8"), &[]).0,
        200
    );
    check_not_served(&server, &[format!("{clip_base}/source.m4s")]);
    for (asset, folder) in ids.iter().zip([&dir, &clip_dir]) {
        let written: Value =
            serde_json::from_slice(&std::fs::read(folder.join("package.json")).unwrap()).unwrap();
        assert!(
            written["files"].as_array().is_some_and(|f| !f.is_empty()),
            "{written}"
        );
        assert!(
            written["video"][0]["segments"].as_u64() > Some(0),
            "{written}"
        );
        assert_eq!(stored_manifest(&server, asset), written);
    }
}

/// A manifest as versions before the file lists wrote it.
fn without_file_lists(mut manifest: Value) -> Value {
    manifest.as_object_mut().unwrap().remove("files");
    for kind in ["video", "audio"] {
        for rendition in manifest[kind].as_array_mut().unwrap() {
            rendition.as_object_mut().unwrap().remove("segments");
        }
    }
    manifest
}

fn stored_manifest(server: &Server, asset: &str) -> Value {
    let db = rusqlite::Connection::open(server.data.join("marquee.db")).unwrap();
    let text: String = db
        .query_row("SELECT manifest FROM assets WHERE id = ?1", [asset], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn set_stored_manifest(server: &Server, asset: &str, manifest: &Value) {
    let db = rusqlite::Connection::open(server.data.join("marquee.db")).unwrap();
    db.execute(
        "UPDATE assets SET manifest = ?2 WHERE id = ?1",
        [asset, &manifest.to_string()],
    )
    .unwrap();
}

/// A server with one ready package whose first video segment is made `size` bytes long (it
/// keeps its name, so it is still a file the package writer made). Returns the server, the
/// segment's URL path and its file in the library.
fn big_segment_server(
    tmp: &std::path::Path,
    http_config: &str,
    size: usize,
) -> (Server, String, std::path::PathBuf) {
    let clip = tmp.join("big.mp4");
    make_clip(&clip, "320x240", 30, 2.0, false);
    let server = Server::start_with(
        &tmp.join("data"),
        Options {
            tables: format!("[http]\n{http_config}\n"),
            ..Options::default()
        },
    );
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("big", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    let (url, file) = first_video_segment(&server, &asset);
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, bytes).unwrap();
    (server, url, file)
}

/// A raw connection whose receive buffer is small, so a client that does not read stalls
/// the server quickly.
fn connect_small(server: &Server) -> TcpStream {
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Moves `stream` to actix-web by asking it for something else first.
fn go_through_actix(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(stream).1, b"ok\n");
}

#[test]
fn readers_that_stall_cost_bounded_memory_and_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let size = 4 << 20;
    let (server, url, _) = big_segment_server(tmp.path(), "send_timeout_secs = 2", size);
    let pid = server.pid();
    // One whole fetch first, so the caches and the database pool are warm.
    assert_eq!(get(&server, &url, &[]).2.len(), size);
    let (rss_before, fds_before) = (proc_status(pid, "VmRSS:"), open_fds(pid));

    // 100 connections on each path pipeline four requests for the segment and never read.
    let pipelined = format!("GET {url} HTTP/1.1\r\nHost: t\r\n\r\n").repeat(4);
    let mut clients = Vec::new();
    for i in 0..200 {
        let mut client = connect_small(&server);
        if i % 2 == 0 {
            go_through_actix(&mut client);
        }
        client.write_all(pipelined.as_bytes()).unwrap();
        clients.push(client);
    }
    // The server drops them once they have not read for the send timeout. (A few file
    // descriptors of slack: the database pool may open a connection meanwhile.)
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut peak = 0;
    while open_fds(pid) > fds_before + 4 {
        peak = peak.max(proc_status(pid, "VmRSS:"));
        assert!(
            std::time::Instant::now() < deadline,
            "{} connections still open; RSS {peak} KiB",
            open_fds(pid) - fds_before
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let grown_mib = peak.saturating_sub(rss_before) / 1024;
    eprintln!("RSS {rss_before} KiB before, {peak} KiB at the peak");
    assert!(
        grown_mib < 80,
        "stalled readers grew the server by {grown_mib} MiB"
    );
    // Each got less than it asked for, and the connection ended.
    for mut client in clients {
        let mut sink = Vec::new();
        let _ = client.read_to_end(&mut sink);
        assert!(sink.len() < 4 * size, "a stalled connection got everything");
    }
    assert!(server.healthy());
}

#[test]
fn deep_pipelines_and_trickled_heads_on_actix_web_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, url, _) = big_segment_server(tmp.path(), "send_timeout_secs = 3", 1 << 20);
    let pid = server.pid();
    assert_eq!(get(&server, &url, &[]).2.len(), 1 << 20);
    let rss_before = proc_status(pid, "VmRSS:");

    // A head sent a byte at a time after the first request: dropped, not kept forever.
    let mut trickler = connect_small(&server);
    go_through_actix(&mut trickler);
    let mut writer = trickler.try_clone().unwrap();
    std::thread::spawn(move || {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n".repeat(10) {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });

    // 40 connections on actix-web pipeline 2,000 requests each and never read.
    let pipelined = format!("GET {url} HTTP/1.1\r\nHost: t\r\n\r\n").repeat(2000);
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut client = connect_small(&server);
        go_through_actix(&mut client);
        client.set_nonblocking(true).unwrap();
        let mut sent = 0;
        while sent < pipelined.len() {
            match client.write(&pipelined.as_bytes()[sent..]) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        clients.push(client);
    }
    let grown_mib = rss_growth_mib(pid, rss_before);
    assert!(
        grown_mib < 80,
        "pipelined requests grew the server by {grown_mib} MiB"
    );

    // The trickled head is refused well before it is whole (3 s a line, 10 lines).
    trickler
        .set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    let mut rest = Vec::new();
    match trickler.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the trickled head was still being read: {e}"
        ),
    }
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(server.healthy());
}

#[test]
fn a_file_truncated_under_a_response_does_not_take_the_server_down() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let tmp = tempfile::tempdir().unwrap();
    let size = 8 << 20;
    let (server, url, file) = big_segment_server(tmp.path(), "", size);
    let content = std::fs::read(&file).unwrap();
    // Viewers on both paths keep fetching the segment...
    let stop = Arc::new(AtomicBool::new(false));
    let viewers: Vec<_> = (0..8)
        .map(|i| {
            let (stop, url) = (stop.clone(), url.clone());
            let addr = server.base.trim_start_matches("http://").to_string();
            std::thread::spawn(move || {
                let mut fetched = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut client) = TcpStream::connect(&addr) else {
                        return fetched;
                    };
                    client
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    if i % 4 != 0 {
                        go_through_actix(&mut client);
                    }
                    let request = format!("GET {url} HTTP/1.1\r\nHost: t\r\n\r\n");
                    // Until the connection breaks on a file that shrank mid-response.
                    while !stop.load(Ordering::Relaxed)
                        && client.write_all(request.as_bytes()).is_ok()
                    {
                        let mut sink = vec![0u8; size + 1024];
                        match client.read(&mut sink) {
                            Ok(n) if n > 0 => fetched += 1,
                            _ => break,
                        }
                        // Read the rest of this answer, whatever it is.
                        let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
                        while let Ok(n) = client.read(&mut sink) {
                            if n == 0 {
                                break;
                            }
                        }
                        let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
                    }
                }
                fetched
            })
        })
        .collect();
    // ...while an operator's rsync rewrites it in place, again and again.
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, &content).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for viewer in viewers {
        let _ = viewer.join();
    }
    assert!(server.healthy(), "the server died: {}", server.log());
}

#[test]
fn connection_close_answers_arrive_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, url, file) = big_segment_server(tmp.path(), "", 8 << 20);
    let expected = std::fs::read(&file).unwrap();
    for request in [
        format!("GET {url} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        format!("GET {url} HTTP/1.0\r\n\r\n"),
    ] {
        let mut client = connect_small(&server);
        // More bytes follow the request the server will answer last.
        client
            .write_all(format!("{request}GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        // A slow client: the server has long written everything it could by now.
        std::thread::sleep(Duration::from_secs(1));
        let (head, body) = read_response(&mut client);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            body == expected,
            "got {} of {} bytes",
            body.len(),
            expected.len()
        );
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap(), 0, "after close");
    }
}

#[test]
fn an_http11_request_without_exactly_one_host_gets_400() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("hostless.mp4");
    make_clip(&clip, "320x240", 30, 1.0, false);
    let server = Server::start(&tmp.path().join("data"), "");
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("hostless", Duration::from_secs(60));
    let master = asset["playback_url"].as_str().unwrap().to_string();
    // RFC 9112 §3.2: 400 without a Host, or with two; HTTP/1.0 needs none.
    for (request, expected) in [
        (
            format!("GET {master} HTTP/1.1\r\nConnection: close\r\n\r\n"),
            400,
        ),
        (
            format!("GET {master} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"),
            400,
        ),
        (format!("GET {master} HTTP/1.0\r\n\r\n"), 200),
        (
            format!("GET {master} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
            200,
        ),
    ] {
        assert_eq!(raw(&server, &request).0, expected, "{request:?}");
    }
}
