//! The built-in HLS origin, through the real server on a loopback port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support::{Server, drop_into, make_clip};

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
/// through `get` (one connection per call, or one warm connection).
fn check_files(get: &Fetcher, base: &str, dir: &std::path::Path) {
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
    check_files(&|path, hs| get(&server, path, hs), &base, &dir);
    let warm = ureq::Agent::new_with_defaults();
    assert_eq!(fetch(&warm, &server, "/healthz", &[]).0, 200);
    check_files(&|path, hs| fetch(&warm, &server, path, hs), &base, &dir);
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
        assert!(
            status == 404 || status == 400,
            "{path} answered {status}:\n{text}"
        );
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
}
