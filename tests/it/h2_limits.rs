//! The HTTP/2 limits the HTTPS origin announces and keeps (`http::h2_gate`): concurrent
//! streams and header-block sizes, spoken to the real server frame by frame.

use std::io::{Read, Write};

use crate::support::Server;
use crate::tls::{TlsClient, tls_connect, tls_server};

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Appends one frame to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer with a `prefix`-bit prefix whose other bits are `first` (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// `GET path` on https://localhost, with an `x-pad` header of `pad` bytes when `pad > 0`;
/// HPACK static-table entries and literals only, so each block stands alone.
pub(crate) fn get_block(path: &str, pad: usize) -> Vec<u8> {
    let mut block = vec![0x82, 0x87];
    for (index, value) in [(4u8, path), (1, "localhost")] {
        block.push(index); // literal without indexing, indexed name
        hpack_int(&mut block, 0, 7, value.len());
        block.extend_from_slice(value.as_bytes());
    }
    if pad > 0 {
        block.extend_from_slice(&[0x00, 5]);
        block.extend_from_slice(b"x-pad");
        hpack_int(&mut block, 0, 7, pad);
        block.extend(std::iter::repeat_n(b'p', pad));
    }
    block
}

struct H2Client {
    tls: TlsClient,
}

impl H2Client {
    /// Connects, sends the preface and SETTINGS with an initial window of 0 (the server may
    /// answer heads but send no body, so every stream stays open), and returns the
    /// parameters of the server's SETTINGS.
    fn connect(server: &Server) -> (H2Client, Vec<(u16, u32)>) {
        let tls = tls_connect(server, &[b"h2"]);
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
        let mut client = H2Client { tls };
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        frame(&mut out, SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0]);
        client.send(&out);
        loop {
            let (kind, flags, _, payload) = client.read_frame().expect("server SETTINGS");
            if kind == SETTINGS && flags & 0x1 == 0 {
                let params = payload
                    .chunks(6)
                    .map(|p| {
                        (
                            u16::from_be_bytes([p[0], p[1]]),
                            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                        )
                    })
                    .collect();
                let mut ack = Vec::new();
                frame(&mut ack, SETTINGS, 0x1, 0, &[]);
                client.send(&ack);
                return (client, params);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    /// Opens `stream` with `block`, split into a HEADERS frame and CONTINUATIONs of at
    /// most 16 KiB (the default largest frame).
    fn request(&mut self, stream: u32, block: &[u8]) {
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = block.chunks(16 * 1024).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let kind = if i == 0 { HEADERS } else { CONTINUATION };
            let mut flags = if i == 0 { END_STREAM } else { 0 };
            if i == pieces.len() - 1 {
                flags |= END_HEADERS;
            }
            frame(&mut out, kind, flags, stream, piece);
        }
        self.send(&out);
    }

    /// The next frame, or `None` once the server has ended the connection.
    fn read_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.tls.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        self.tls.read_exact(&mut payload).ok()?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        Some((head[3], head[4], stream, payload))
    }

    /// Reads until answer heads came for all of `streams` (true), or the connection ended
    /// (false).
    fn answered(&mut self, streams: &[u32]) -> bool {
        let mut waiting: Vec<u32> = streams.to_vec();
        while !waiting.is_empty() {
            match self.read_frame() {
                Some((HEADERS, _, stream, _)) => waiting.retain(|s| *s != stream),
                Some(_) => {}
                None => return false,
            }
        }
        true
    }

    /// Whether the server ends the connection before answering `stream`.
    fn ended_before_answering(&mut self, stream: u32) -> bool {
        loop {
            match self.read_frame() {
                Some((HEADERS, _, s, _)) if s == stream => return false,
                Some(_) => {}
                None => return true,
            }
        }
    }
}

#[test]
fn http2_stream_limit_is_announced_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tls_server(&tmp.path().join("data"), "");
    let (mut client, params) = H2Client::connect(&server);
    assert!(
        params.contains(&(0x3, 128)) && params.contains(&(0x6, 32 * 1024)),
        "SETTINGS_MAX_CONCURRENT_STREAMS 128 and MAX_HEADER_LIST_SIZE 32 KiB announced: {params:?}"
    );

    // 128 streams at once: the limit, all answered and all held open (no window for bodies).
    let streams: Vec<u32> = (0..128).map(|i| 1 + 2 * i).collect();
    let block = get_block("/healthz", 0);
    for &stream in &streams {
        client.request(stream, &block);
    }
    assert!(client.answered(&streams), "128 streams are allowed");

    // Resetting one makes room for one more...
    let mut reset = Vec::new();
    frame(&mut reset, RST_STREAM, 0, 1, &8u32.to_be_bytes());
    client.send(&reset);
    client.request(257, &block);
    assert!(client.answered(&[257]), "a reset stream no longer counts");
    // ...and the one past it ends the connection unanswered.
    client.request(259, &block);
    assert!(client.ended_before_answering(259), "the 129th stream");
    assert!(server.healthy());
}

#[test]
fn http2_header_blocks_are_bounded_one_by_one_and_on_open_streams_together() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tls_server(&tmp.path().join("data"), "");

    // One block of 20 KiB (HEADERS + CONTINUATION) is fine; one of 33 KiB is not.
    let (mut client, _) = H2Client::connect(&server);
    client.request(1, &get_block("/healthz", 20 * 1024));
    assert!(client.answered(&[1]), "a 20 KiB header block");
    client.request(3, &get_block("/healthz", 33 * 1024));
    assert!(client.ended_before_answering(3), "a 33 KiB header block");

    // Blocks of about 15.6 KiB each on streams kept open: eight fit in 128 KiB, the ninth
    // does not.
    let (mut client, _) = H2Client::connect(&server);
    let block = get_block("/healthz", 16_000 - 40);
    let fit: Vec<u32> = (0..8).map(|i| 1 + 2 * i).collect();
    for &stream in &fit {
        client.request(stream, &block);
    }
    assert!(client.answered(&fit), "eight open streams with big headers");
    client.request(17, &block);
    assert!(
        client.ended_before_answering(17),
        "the ninth big header block"
    );
    assert!(server.healthy());
}
