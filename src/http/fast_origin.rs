//! The origin's fast path for plain-HTTP connections: segments go from the page cache to
//! the socket with `sendfile(2)`, as nginx does, instead of being read into memory and
//! copied into actix-web's write buffer (which halves throughput at full load).
//!
//! Every accepted connection starts here. Requests are *peeked*, not read, so nothing is
//! consumed until this path is sure it will answer: a simple `GET`/`HEAD`/`OPTIONS` under
//! `/p/` that `playback::response` can answer. Anything else (another path, a body, a
//! partial or odd request head, an error answer) hands the untouched connection to
//! actix-web for the rest of its life, so every protocol corner stays actix-web's job.

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use crate::client_addr::TrustedProxies;
use crate::playback::Origin;
use crate::playback::response::{self, OriginBody, OriginMethod, OriginResponse};

/// Takes a connection over for good: actix-web's HTTP/1 service.
pub type Handoff = Rc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = ()>>>>;

/// The same limits actix-web applies: a new connection must send its first request head
/// within `FIRST_REQUEST`; an idle keep-alive connection is closed after `KEEP_ALIVE`.
pub const FIRST_REQUEST: Duration = Duration::from_secs(5);
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Closing a socket with unread bytes in it makes the kernel reset the connection and drop
/// whatever it had not sent yet. So after an answer with `connection: close`, what the
/// client still sends is read away until it closes too, within these bounds (nginx's
/// lingering close: 5 s between reads, 30 s in all).
const LINGER_QUIET: Duration = Duration::from_secs(5);
const LINGER_TOTAL: Duration = Duration::from_secs(30);
const LINGER_BYTES: usize = 1024 * 1024;
/// Request heads for segments are a few hundred bytes; a longer one goes to actix-web.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 48;

/// A request head this path answers itself.
struct OriginRequest {
    method: OriginMethod,
    path: String,
    headers: http::HeaderMap,
    /// The lines of the trusted proxies' forwarding header, for the client's address.
    forwarded: Vec<Vec<u8>>,
    head_len: usize,
    http10: bool,
    keep_alive: bool,
}

/// Serves origin requests on `stream` one at a time (the next request is not even looked at
/// until the answer to this one has been written), handing it to actix-web when something
/// else comes. A client that accepts no bytes for `send_timeout` is dropped.
pub async fn serve_connection(
    mut stream: TcpStream,
    origin: Arc<Origin>,
    proxies: &TrustedProxies,
    handoff: Handoff,
    send_timeout: Duration,
) {
    let mut head = vec![0u8; MAX_HEAD];
    let mut wait = FIRST_REQUEST;
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    loop {
        let peeked = match timeout(wait, stream.peek(&mut head)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        let Some(request) = parse_head(&head[..peeked], proxies.header()) else {
            return handoff(stream).await;
        };
        let client =
            peer.map(|peer| proxies.client(peer, request.forwarded.iter().map(Vec::as_slice)));
        let answer = match origin
            .respond_to(client, request.method, &request.path, &request.headers)
            .await
        {
            Ok(answer) => answer,
            // Error answers (404 and the like) are rendered by actix-web, in one format.
            Err(_) => return handoff(stream).await,
        };
        if consume(&mut stream, request.head_len).await.is_err()
            || send_response(&stream, answer, &request, send_timeout)
                .await
                .is_err()
        {
            return;
        }
        if !request.keep_alive {
            return close_after_answer(stream).await;
        }
        wait = KEEP_ALIVE;
    }
}

/// `None` for anything this path does not answer itself.
fn parse_head(bytes: &[u8], forwarded_header: &str) -> Option<OriginRequest> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return None,
    };
    let method = OriginMethod::parse(parsed.method?)?;
    let path = parsed.path?;
    if !path.starts_with("/p/") {
        return None;
    }
    let http10 = parsed.version? == 0;
    let mut headers = http::HeaderMap::new();
    let mut forwarded = Vec::new();
    let mut keep_alive = !http10;
    let mut hosts = 0;
    for h in parsed.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => hosts += 1,
            "content-length" if h.value.trim_ascii() == b"0" => {}
            // A body, an upgrade or an expectation: actix-web's job.
            "content-length" | "transfer-encoding" | "upgrade" | "expect" => return None,
            "connection" => {
                for token in h.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                        keep_alive = true;
                    }
                }
            }
            name if name == forwarded_header => forwarded.push(h.value.to_vec()),
            name if response::REQUEST_HEADERS.contains(&name) => {
                headers.append(
                    http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                    http::HeaderValue::from_bytes(h.value).ok()?,
                );
            }
            _ => {}
        }
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host gets 400, which
    // actix-web answers.
    if !http10 && hosts != 1 || hosts > 1 {
        return None;
    }
    Some(OriginRequest {
        method,
        path: path.to_string(),
        headers,
        forwarded,
        head_len,
        http10,
        keep_alive,
    })
}

/// Ends the connection after a `connection: close` answer without losing any of it: the
/// write side is shut (the client sees the end after the last byte), then whatever the
/// client still sends is read and dropped until it closes, so that no unread bytes are left
/// to make the kernel reset the connection while the answer is still in flight.
async fn close_after_answer(mut stream: TcpStream) {
    if rustix::net::shutdown(stream.as_fd(), rustix::net::Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + LINGER_TOTAL;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let quiet = (Instant::now() + LINGER_QUIET).min(until);
        match timeout_at(quiet, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Reads away the request head that was only peeked at so far.
async fn consume(stream: &mut TcpStream, mut len: usize) -> std::io::Result<()> {
    let mut sink = [0u8; 1024];
    while len > 0 {
        let want = len.min(sink.len());
        let n = stream.read(&mut sink[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        len -= n;
    }
    Ok(())
}

/// The `date:` header line, formatted once a second per worker thread.
struct DateLine {
    second: u64,
    line: String,
}

impl DateLine {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.line.is_empty() {
            self.second = second;
            self.line = format!("date: {}\r\n", httpdate::fmt_http_date(now));
        }
        &self.line
    }
}

thread_local! {
    static DATE: RefCell<DateLine> = const {
        RefCell::new(DateLine { second: 0, line: String::new() })
    };
}

fn status_line(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP/1.1 {status} {reason}\r\n")
}

async fn send_response(
    stream: &TcpStream,
    answer: OriginResponse,
    request: &OriginRequest,
    send_timeout: Duration,
) -> std::io::Result<()> {
    let mut head = status_line(answer.status);
    DATE.with_borrow_mut(|date| head.push_str(date.now()));
    // Debug builds say which path answered, so tests can tell.
    #[cfg(debug_assertions)]
    head.push_str("x-marquee-path: sendfile\r\n");
    for (name, value) in &answer.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    if !request.keep_alive {
        head.push_str("connection: close\r\n");
    } else if request.http10 {
        head.push_str("connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    match answer.body {
        OriginBody::Empty => send_all(stream, head.as_bytes(), false, send_timeout).await,
        OriginBody::File { file, offset, len } => {
            // MSG_MORE: the head leaves in the same packet as the first body bytes.
            send_all(stream, head.as_bytes(), true, send_timeout).await?;
            send_file(stream, &file, offset, len, send_timeout).await
        }
    }
}

async fn send_all(
    stream: &TcpStream,
    mut bytes: &[u8],
    more: bool,
    send_timeout: Duration,
) -> std::io::Result<()> {
    let flags = if more {
        rustix::net::SendFlags::MORE
    } else {
        rustix::net::SendFlags::empty()
    };
    while !bytes.is_empty() {
        let sent = stalled_after(
            send_timeout,
            stream.async_io(Interest::WRITABLE, || {
                Ok(rustix::net::send(stream.as_fd(), bytes, flags)?)
            }),
        )
        .await?;
        bytes = &bytes[sent..];
    }
    Ok(())
}

async fn send_file(
    stream: &TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    len: u64,
    send_timeout: Duration,
) -> std::io::Result<()> {
    let end = offset + len;
    while offset < end {
        let sent = stalled_after(
            send_timeout,
            stream.async_io(Interest::WRITABLE, || {
                let mut at = offset;
                let count = usize::try_from(end - offset).unwrap_or(usize::MAX);
                Ok(rustix::fs::sendfile(
                    stream.as_fd(),
                    file.as_fd(),
                    Some(&mut at),
                    count,
                )?)
            }),
        )
        .await?;
        if sent == 0 {
            // The file shrank under us; the promised length cannot be kept.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        offset += sent as u64;
    }
    Ok(())
}

async fn stalled_after<T>(
    limit: Duration,
    io: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    timeout(limit, io)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_simple_origin_requests_stay_on_the_fast_path() {
        let ok = |head: &str| parse_head(head.as_bytes(), "x-forwarded-for");
        let r =
            ok("GET /p/public/abcd/master.m3u8 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n")
                .unwrap();
        assert_eq!(r.method, OriginMethod::Get);
        assert!(r.keep_alive && !r.http10);
        assert_eq!(r.headers.get("range").unwrap(), "bytes=0-1");
        let r = ok("HEAD /p/x HTTP/1.0\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        let r = ok("GET /p/x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(r.keep_alive);
        let r = ok("GET /p/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        assert!(ok("GET /p/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").is_some());
        for handed_off in [
            "GET /watch/x HTTP/1.1\r\n\r\n",
            "POST /p/x HTTP/1.1\r\n\r\n",
            "GET /p/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /p/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /p/x HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /p/x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /p/x HTTP/1.1\r\nHost: x\r\n",
            "GET /p/x HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET /p/x HTTP/1.1\r\n\r\n",
            "GET /p/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET /p/x HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            "\r\n\r\n",
        ] {
            assert!(ok(handed_off).is_none(), "{handed_off:?}");
        }
    }

    /// Reads one response: its head, and as many body bytes as Content-Length says.
    async fn read_response(client: &mut TcpStream) -> (String, Vec<u8>) {
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            assert_eq!(client.read(&mut byte).await.unwrap(), 1, "{bytes:?}");
            bytes.push(byte[0]);
        }
        let head = String::from_utf8(bytes).unwrap().to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0; len];
        client.read_exact(&mut body).await.unwrap();
        (head, body)
    }

    #[tokio::test]
    async fn origin_requests_stay_on_the_fast_path_until_something_else_comes() {
        use crate::db::Db;

        use std::cell::Cell;
        use tokio::io::AsyncWriteExt;

        let tmp = tempfile::tempdir().unwrap();
        let package = tmp.path().join("library/abcd1234/video_360p");
        std::fs::create_dir_all(&package).unwrap();
        let segment: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(package.join("seg_00000.m4s"), &segment).unwrap();
        let db = Db::open(&tmp.path().join("marquee.db")).unwrap();
        let manifest = serde_json::json!({
            "duration_secs": 1.0, "master": "master.m3u8", "audio": [], "subtitles": [],
            "poster": null, "thumbnails": null, "files": ["master.m3u8"],
            "video": [{"playlist": "video_360p/index.m3u8", "width": 640, "height": 360,
                "frame_rate": 30.0, "bandwidth": 1, "average_bandwidth": 1,
                "codecs": "avc1.64001e", "segments": 1}],
        });
        db.write_blocking(move |c| {
            c.execute(
                "INSERT INTO assets (id, title, status, source_path, source_size, source_mtime, manifest, created_at, updated_at)
                 VALUES ('abcd1234', 't', 'ready', 'x', 0, 0, ?1, 0, 0)",
                [manifest.to_string()],
            )?;
            c.execute(
                "INSERT INTO titles (id, kind, name, asset_id, status, live_from, created_at, updated_at)
                 VALUES ('abcd1234', 'movie', 't', 'abcd1234', 'published', 0, 0, 0)",
                [],
            )
            .map_err(crate::db::DbError::from)
        })
        .unwrap();
        let origin = Arc::new(Origin::open(&tmp.path().join("library"), db).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handed_off = Rc::new(Cell::new(false));
        let flag = handed_off.clone();
        let handoff: Handoff = Rc::new(move |mut stream: TcpStream| {
            flag.set(true);
            Box::pin(async move {
                let mut sink = [0u8; 4096];
                let _ = stream.read(&mut sink).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nhandoff")
                    .await;
            })
        });
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let server = tokio::task::spawn_local(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    let proxies = TrustedProxies::default();
                    serve_connection(stream, origin, &proxies, handoff, Duration::from_secs(30))
                        .await;
                });
                let mut client = TcpStream::connect(addr).await.unwrap();
                let url = "/p/public/abcd1234/video_360p/seg_00000.m4s";

                // Whole file, pipelined with a range request: both answered in order.
                client
                    .write_all(
                        format!(
                            "GET {url} HTTP/1.1\r\nHost: t\r\n\r\nGET {url} HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await
                    .unwrap();
                let (head, body) = read_response(&mut client).await;
                assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
                assert!(head.contains("content-type: video/iso.segment\r\n"), "{head}");
                assert!(head.contains("date: "), "{head}");
                assert_eq!(body, segment);
                let (head, body) = read_response(&mut client).await;
                assert!(head.starts_with("http/1.1 206"), "{head}");
                assert_eq!(body, &segment[segment.len() - 10..]);

                // A conditional request with the tag just given: 304, no body.
                let etag = head
                    .lines()
                    .find_map(|l| l.strip_prefix("etag: "))
                    .unwrap()
                    .to_string();
                client
                    .write_all(
                        format!("GET {url} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes(),
                    )
                    .await
                    .unwrap();
                let (head, _) = read_response(&mut client).await;
                assert!(head.starts_with("http/1.1 304"), "{head}");
                assert!(!handed_off.get(), "origin requests must not leave the fast path");

                // Anything else: the connection goes to the web application.
                client
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                    .await
                    .unwrap();
                let (_, body) = read_response(&mut client).await;
                assert_eq!(body, b"handoff");
                assert!(handed_off.get());
                server.await.unwrap();
            })
            .await;
    }
}
