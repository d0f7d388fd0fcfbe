//! What a client may make actix-web hold while it does not read or does not finish.
//!
//! actix-web's HTTP/1 dispatcher reads up to 128 KiB ahead and decodes every complete
//! request in it before it checks its pipelining limit, so 2,000 pipelined `GET`s (60 bytes
//! each) become 2,000 decoded request heads (about 12 MB) for one client that never reads.
//! It also times only the first request head of a connection, so a later head sent a byte
//! at a time keeps the connection forever. `RequestGate` sits between the socket and
//! actix-web and, with httparse (the parser actix-web uses), passes on
//! - one request head at a time: the next one only after actix-web has written something
//!   since (an answer to the previous one), so at most one undecoded head waits here and
//!   actix-web's own limit of 16 queued requests holds;
//! - the body that head announces (`Content-Length`, chunked) without waiting, so uploads
//!   and `Expect: 100-continue` work as before.
//!
//! A head must arrive whole within `HEAD_TIMEOUT` of its first byte, a body (or a stream
//! after an upgrade) must not stall for `idle`, and a body must keep up `MIN_BODY_RATE`
//! (a body trickled a byte at a time would otherwise hold a connection, a file descriptor
//! and what a handler buffered of it, for hours); each ends the connection, as any other
//! I/O error does. The rate is kept as a bucket of slack: a body starts with `BODY_GRACE`
//! worth of it, time drains it at `MIN_BODY_RATE`, its bytes fill it, but never beyond
//! `idle` worth. So a body may fall behind the rate for at most `idle` at any point, and
//! one sent almost whole at once and then trickled is cut within `idle` (30 s by default),
//! not after its size over the rate (~1,000 s for 512 KiB at 512 B/s). Bytes the rules do not recognise (a malformed head, say) pass
//! through unchanged: actix-web answers them 400 and stops reading.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A request head has this long from its first byte to its last (nginx allows 60 s; a real
/// head is one packet).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head accepted (nginx's default is four 8 KiB lines).
pub const MAX_HEAD: usize = 32 * 1024;
/// As actix-web: a head with more headers is its 431 to answer.
const MAX_HEADERS: usize = 96;
const READ_CHUNK: usize = 8 * 1024;
/// A request body's slowest rate, in bytes a second, kept over any stretch longer than
/// the slack (see the module comment): a 4 kbit/s link still makes it.
pub const MIN_BODY_RATE: u64 = 512;
/// The slack a body starts with: its first bytes may take this long.
pub const BODY_GRACE: Duration = Duration::from_secs(20);

pub struct RequestGate<T> {
    io: T,
    idle: Duration,
    /// Read from the socket, not yet passed on; the first `releasable` bytes may go.
    pending: Vec<u8>,
    releasable: usize,
    expect: Expect,
    /// Whether the next head may go: closed when one goes, opened by a write.
    turn_open: bool,
    /// The reader waiting for the turn.
    parked: Option<Waker>,
    deadline: Option<Deadline>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The body now coming: its slack in bytes, and when that was last brought up to date.
    body_slack: Option<(u64, Instant)>,
}

/// What the next bytes from the client are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Head,
    Body(u64),
    Chunked(Chunk),
    /// Everything to the end: a stream after an upgrade or `CONNECT`, or what actix-web
    /// will refuse.
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
    SizeLine,
    Data(u64),
    DataEnd,
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Deadline {
    /// Fixed at the first byte of a head.
    Head(Instant),
    /// Moved on by every byte.
    Idle,
}

/// The outcome of looking at `pending`.
enum Step {
    Release(usize),
    NeedBytes,
    WaitForTurn,
}

impl<T> RequestGate<T> {
    /// `idle`: how long a request body may stall.
    pub fn new(io: T, idle: Duration) -> Self {
        RequestGate {
            io,
            idle,
            pending: Vec::new(),
            releasable: 0,
            expect: Expect::Head,
            turn_open: true,
            parked: None,
            deadline: None,
            timer: None,
            body_slack: None,
        }
    }

    /// Counts `n` more body bytes and fails a body that fell behind `MIN_BODY_RATE` by
    /// more than its slack.
    fn body_came(&mut self, n: usize) -> io::Result<()> {
        let now = Instant::now();
        let (slack, since) = self
            .body_slack
            .unwrap_or((bytes_at_min_rate(BODY_GRACE), now));
        let Some(slack) = slack.checked_sub(bytes_at_min_rate(now - since)) else {
            self.body_slack = None;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client's request body came too slowly",
            ));
        };
        let most = bytes_at_min_rate(self.idle).max(bytes_at_min_rate(BODY_GRACE));
        self.body_slack = Some(((slack + n as u64).min(most), now));
        Ok(())
    }

    /// Decides what of `pending` may go now, moving `expect` on.
    fn step(&mut self) -> io::Result<Step> {
        let available = &self.pending[..];
        match self.expect {
            Expect::Head => {
                let Some(head) = parse_head(available)? else {
                    return Ok(Step::NeedBytes);
                };
                if !self.turn_open {
                    return Ok(Step::WaitForTurn);
                }
                self.turn_open = false;
                self.expect = head.body;
                self.deadline = None;
                // The clock starts at the body's first byte (after a 100 Continue, say).
                self.body_slack = None;
                Ok(Step::Release(head.len))
            }
            Expect::Body(left) if !available.is_empty() => {
                let n = left.min(available.len() as u64);
                self.expect = match left - n {
                    0 => Expect::Head,
                    left => Expect::Body(left),
                };
                self.body_came(n as usize)?;
                Ok(Step::Release(n as usize))
            }
            Expect::Chunked(state) if !available.is_empty() => {
                let (n, next) = scan_chunked(state, available)?;
                self.expect = next;
                self.body_came(n)?;
                Ok(if n == 0 {
                    Step::NeedBytes
                } else {
                    Step::Release(n)
                })
            }
            Expect::Rest if !available.is_empty() => Ok(Step::Release(available.len())),
            _ => Ok(Step::NeedBytes),
        }
    }

    /// The deadline for the bytes now awaited, if any: none while waiting between requests
    /// (actix-web's keep-alive timer covers that).
    fn wanted_deadline(&self) -> Option<Deadline> {
        match (self.expect, self.deadline) {
            (Expect::Head, _) if self.pending.is_empty() => None,
            (Expect::Head, Some(Deadline::Head(at))) => Some(Deadline::Head(at)),
            (Expect::Head, _) => Some(Deadline::Head(Instant::now() + HEAD_TIMEOUT)),
            _ => Some(Deadline::Idle),
        }
    }

    /// Arms the timer for what is awaited and fails once it has run out.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let wanted = self.wanted_deadline();
        let reset_to = match wanted {
            None => None,
            _ if self.deadline == wanted => None,
            Some(Deadline::Head(at)) => Some(at),
            Some(Deadline::Idle) => Some(Instant::now() + self.idle),
        };
        self.deadline = wanted;
        if let Some(at) = reset_to {
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        let (Some(_), Some(timer)) = (wanted, &mut self.timer) else {
            return Ok(());
        };
        match timer.as_mut().poll(cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                match self.expect {
                    Expect::Head => "the client did not finish its request head in time",
                    _ => "the client's request body stalled",
                },
            )),
        }
    }

    fn opened(&mut self) {
        self.turn_open = true;
        if let Some(reader) = self.parked.take() {
            reader.wake();
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RequestGate<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.releasable > 0 {
                let n = this.releasable.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.drain(..n);
                this.releasable -= n;
                if this.pending.capacity() > 2 * READ_CHUNK && this.pending.is_empty() {
                    this.pending = Vec::new();
                }
                return Poll::Ready(Ok(()));
            }
            match this.step()? {
                Step::Release(n) => {
                    this.releasable = n;
                    continue;
                }
                Step::WaitForTurn => {
                    this.deadline = None;
                    this.parked = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Step::NeedBytes => {}
            }
            if this.expect == Expect::Head && this.pending.len() >= MAX_HEAD {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a request head longer than {} KiB", MAX_HEAD / 1024),
                )));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // The client is done sending: what is left goes on as it is.
                    if this.pending.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.expect = Expect::Rest;
                }
                Poll::Ready(Ok(())) => {
                    this.pending.extend_from_slice(read.filled());
                    // Any byte moves the idle deadline on; a head's stays where it is.
                    if this.deadline == Some(Deadline::Idle) {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    this.poll_deadline(cx)?;
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RequestGate<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            this.opened();
        }
        outcome
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            this.opened();
        }
        outcome
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How many bytes `MIN_BODY_RATE` brings in `time`.
fn bytes_at_min_rate(time: Duration) -> u64 {
    (MIN_BODY_RATE as u128 * time.as_millis() / 1000) as u64
}

struct Head {
    len: usize,
    body: Expect,
}

/// A complete head at the start of `bytes` and what follows it, by actix-web's rules
/// (`h1::decoder`): chunked wins, then a websocket upgrade, then `Content-Length`; a
/// `CONNECT` without a length streams. `None` while incomplete; anything malformed is
/// passed on whole for actix-web to refuse.
fn parse_head(bytes: &[u8]) -> io::Result<Option<Head>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => {
            return Ok(Some(Head {
                len: bytes.len(),
                body: Expect::Rest,
            }));
        }
    };
    let (mut chunked, mut websocket, mut length) = (false, false, None);
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= value.eq_ignore_ascii_case("chunked");
        } else if header.name.eq_ignore_ascii_case("upgrade") {
            websocket |= value.eq_ignore_ascii_case("websocket");
        } else if header.name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        }
    }
    let body = if chunked {
        Expect::Chunked(Chunk::SizeLine)
    } else if websocket || (request.method == Some("CONNECT") && length.is_none()) {
        Expect::Rest
    } else {
        match length {
            Some(n) if n > 0 => Expect::Body(n),
            _ => Expect::Head,
        }
    };
    Ok(Some(Head { len, body }))
}

/// How many bytes at the start of `bytes` belong to a chunked body in `state`, and what is
/// expected after them. Stops early where a line is incomplete.
fn scan_chunked(mut state: Chunk, bytes: &[u8]) -> io::Result<(usize, Expect)> {
    let mut at = 0;
    loop {
        let rest = &bytes[at..];
        match state {
            Chunk::SizeLine => match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    at += used;
                    state = Chunk::Trailers;
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    at += used;
                    state = Chunk::Data(size);
                }
                Ok(httparse::Status::Partial) if rest.len() < MAX_HEAD => {
                    return Ok((at, Expect::Chunked(state)));
                }
                // actix-web refuses it and stops reading.
                _ => return Ok((bytes.len(), Expect::Rest)),
            },
            Chunk::Data(left) => {
                let n = left.min(rest.len() as u64);
                at += n as usize;
                state = match left - n {
                    0 => Chunk::DataEnd,
                    left => Chunk::Data(left),
                };
                if left > n {
                    return Ok((at, Expect::Chunked(state)));
                }
            }
            Chunk::DataEnd => {
                if rest.len() < 2 {
                    return Ok((at, Expect::Chunked(state)));
                }
                at += 2;
                state = Chunk::SizeLine;
            }
            Chunk::Trailers => {
                let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                    if rest.len() >= MAX_HEAD {
                        return Ok((bytes.len(), Expect::Rest));
                    }
                    return Ok((at, Expect::Chunked(state)));
                };
                at += end + 2;
                if end == 0 {
                    return Ok((at, Expect::Head));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

    /// The gate over one end of a pipe, and the client's end.
    fn gated_pipe() -> (RequestGate<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(1 << 20);
        (RequestGate::new(server, Duration::from_secs(30)), client)
    }

    /// What one read hands actix-web; `None` when it would wait (an hour of paused time).
    async fn read_once(gate: &mut RequestGate<DuplexStream>) -> Option<io::Result<Vec<u8>>> {
        let mut buf = vec![0u8; 64 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(3600), gate.read(&mut buf)).await;
        read.ok().map(|r| r.map(|n| buf[..n].to_vec()))
    }

    async fn read_bytes(gate: &mut RequestGate<DuplexStream>) -> Vec<u8> {
        read_once(gate).await.expect("bytes, not a wait").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn pipelined_heads_go_one_per_answer() {
        let (mut gate, mut client) = gated_pipe();
        client.write_all(&GET.repeat(100)).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, GET);
        assert!(
            read_once(&mut gate).await.is_none(),
            "a second head before any answer"
        );
        gate.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, GET);
        assert!(read_once(&mut gate).await.is_none());
        // Only 2 KiB of the 3.4 KiB sent were ever read from the socket.
        assert!(gate.pending.len() <= READ_CHUNK);
    }

    #[tokio::test(start_paused = true)]
    async fn bodies_pass_without_waiting_and_the_head_after_them_waits() {
        let (mut gate, mut client) = gated_pipe();
        let post = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n";
        client.write_all(post).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        client.write_all(GET).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, post);
        assert_eq!(read_bytes(&mut gate).await, b"hello");
        assert!(read_once(&mut gate).await.is_none());

        let (mut gate, mut client) = gated_pipe();
        let chunked = b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
        let body = b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n";
        client.write_all(chunked).await.unwrap();
        // The body arrives in pieces that split its lines.
        client.write_all(&body[..7]).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, chunked);
        let mut passed = Vec::new();
        client.write_all(&body[7..]).await.unwrap();
        client.write_all(GET).await.unwrap();
        while passed.len() < body.len() {
            passed.extend(read_bytes(&mut gate).await);
        }
        assert_eq!(passed, body);
        assert!(
            read_once(&mut gate).await.is_none(),
            "the GET after the body waits"
        );
        gate.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, GET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_sent_slowly_ends_the_connection() {
        let (mut gate, mut client) = gated_pipe();
        client.write_all(GET).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, GET);
        gate.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        // A byte every second: progress, but the head is not whole after HEAD_TIMEOUT.
        let trickle = tokio::spawn(async move {
            for byte in GET {
                client.write_all(&[*byte]).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            client
        });
        let started = Instant::now();
        let err = read_once(&mut gate).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() <= HEAD_TIMEOUT + Duration::from_secs(1));
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_ends_the_connection_and_a_slow_one_does_not() {
        let (mut gate, mut client) = gated_pipe();
        let post = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n";
        client.write_all(post).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, post);
        // 60 KB at 1 KB/s: slow, above the minimum rate, never idle for 30 s.
        let writer = tokio::spawn(async move {
            for _ in 0..60 {
                client.write_all(&[b'x'; 1024]).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            client
        });
        let mut got = 0;
        while got < 60 * 1024 {
            got += read_bytes(&mut gate).await.len();
        }
        let _client = writer.await.unwrap();
        let err = read_once(&mut gate).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_trickled_below_the_minimum_rate_ends_the_connection() {
        let (mut gate, mut client) = gated_pipe();
        let post = b"POST /beacon HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n";
        client.write_all(post).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, post);
        // A byte every 5 s: never idle, but it would take 40 hours.
        let _writer = tokio::spawn(async move {
            for _ in 0..30_000 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let started = Instant::now();
        let err = loop {
            match read_once(&mut gate).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("the connection stayed"),
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() <= BODY_GRACE + Duration::from_secs(5));
    }

    /// Reads until the gate fails the connection; panics if it waits an hour instead.
    async fn read_until_error(gate: &mut RequestGate<DuplexStream>) -> io::Error {
        loop {
            match read_once(gate).await {
                Some(Ok(bytes)) if bytes.is_empty() => panic!("the body came whole"),
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("the connection stayed"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_sent_almost_whole_and_then_trickled_ends_the_connection() {
        let (mut gate, mut client) = gated_pipe();
        let post = b"POST /stripe/webhook HTTP/1.1\r\nHost: t\r\nContent-Length: 524288\r\n\r\n";
        client.write_all(post).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, post);
        // 64 bytes short, then a byte every 15 s: on average since its first byte the body
        // stays above the rate for 1,000 s.
        let _writer = tokio::spawn(async move {
            client.write_all(&vec![b'x'; 524_224]).await.unwrap();
            for _ in 0..64 {
                tokio::time::sleep(Duration::from_secs(15)).await;
                if client.write_all(b"x").await.is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let err = read_until_error(&mut gate).await;
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The slack (the idle time, 30 s here) and one more gap between bytes.
        assert!(
            started.elapsed() <= Duration::from_secs(30 + 15),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_upload_that_pauses_shorter_than_the_idle_time_goes_through() {
        let (mut gate, mut client) = gated_pipe();
        let size = 40 * 64 * 1024;
        let post = format!("PUT /files/1 HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n");
        client.write_all(post.as_bytes()).await.unwrap();
        assert_eq!(read_bytes(&mut gate).await, post.as_bytes());
        // 64 KiB a second, with a 25 s pause (a phone changing networks) in the middle.
        let writer = tokio::spawn(async move {
            for second in 0..40 {
                client.write_all(&[b'x'; 64 * 1024]).await.unwrap();
                let pause = if second == 20 { 25 } else { 1 };
                tokio::time::sleep(Duration::from_secs(pause)).await;
            }
            client
        });
        let mut got = 0;
        while got < size {
            got += read_bytes(&mut gate).await.len();
        }
        let _client = writer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn what_actix_web_refuses_passes_through_and_oversized_heads_end_it() {
        let (mut gate, mut client) = gated_pipe();
        client
            .write_all(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
            .await
            .unwrap();
        client.write_all(GET).await.unwrap();
        let mut passed = Vec::new();
        while let Some(Ok(bytes)) = read_once(&mut gate).await {
            if bytes.is_empty() {
                break;
            }
            passed.extend(bytes);
            if passed.ends_with(GET) {
                break;
            }
        }
        assert!(passed.starts_with(b"GET / HTTP/1.1\r\nBad"), "{passed:?}");

        let (mut gate, mut client) = gated_pipe();
        let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        client.write_all(huge.as_bytes()).await.unwrap();
        let err = read_once(&mut gate).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn heads_are_read_by_actix_web_rules() {
        let body = |head: &str| parse_head(head.as_bytes()).unwrap().map(|h| h.body);
        assert_eq!(body("GET / HTTP/1.1\r\nHost: t\r\n"), None);
        assert_eq!(
            body("GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
            Some(Expect::Head)
        );
        assert_eq!(
            body("PUT / HTTP/1.1\r\ncontent-length: 7\r\n\r\n"),
            Some(Expect::Body(7))
        );
        assert_eq!(
            body("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Some(Expect::Head)
        );
        assert_eq!(
            body("PUT / HTTP/1.1\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(Expect::Chunked(Chunk::SizeLine))
        );
        assert_eq!(
            body("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
            Some(Expect::Rest)
        );
        assert_eq!(body("CONNECT h:1 HTTP/1.1\r\n\r\n"), Some(Expect::Rest));
    }
}
