//! The HTTP/2 limits actix-web cannot be told, kept by watching frame headers go by.
//!
//! actix-http builds its HTTP/2 server with only flow-control windows set, so the h2 crate
//! advertises no `SETTINGS_MAX_CONCURRENT_STREAMS` (unlimited) and accepts header lists up
//! to 16 MiB. `StreamLedger` follows both directions of a connection, 9-byte frame headers
//! only, and refuses a client that
//! - has more than `MAX_STREAMS` streams open at once (a stream stays open until both sides
//!   have ended it or either side has reset it, as RFC 9113 counts them);
//! - sends one header block (HEADERS and its CONTINUATIONs) longer than `MAX_HEADER_BLOCK`;
//! - has more than `MAX_HEADERS_HELD` bytes of header blocks on its open streams together.
//!
//! The last bound is the one that limits memory: each byte of an HPACK block can name a
//! whole table entry, so a 32 KiB block can decode to 32,768 header fields; h2 shares the
//! entry's bytes but every field costs a map slot (about 100 bytes), which caps the header
//! maps one connection can make the server hold at about 13 MB.
//!
//! The first two are advertised in the server's SETTINGS (see `h2_gate`), so a client that
//! follows RFC 9113 never meets them. A refusal ends the connection: the offending HEADERS
//! frame cannot be dropped alone, because it updates the HPACK table both ends share.

use std::collections::HashMap;

/// Streams a client may have open at once (nginx's default is 128, too).
pub const MAX_STREAMS: u32 = 128;
/// The longest header block, as encoded; also advertised as SETTINGS_MAX_HEADER_LIST_SIZE
/// (an HPACK block is never longer than the list it encodes), the same 32 KiB that
/// `request_gate::MAX_HEAD` allows an HTTP/1 request head.
pub const MAX_HEADER_BLOCK: u32 = 32 * 1024;
/// Encoded header bytes on all open streams of a connection together.
pub const MAX_HEADERS_HELD: usize = 128 * 1024;

pub const FRAME_HEAD_LEN: usize = 9;
/// What a client sends before its first frame (RFC 9113 §3.4).
pub const CLIENT_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const CONTINUATION: u8 = 0x9;
}
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// One frame's 9-byte header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameHead {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHead {
    pub fn parse(bytes: &[u8; FRAME_HEAD_LEN]) -> FrameHead {
        FrameHead {
            len: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            kind: bytes[3],
            flags: bytes[4],
            stream: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff,
        }
    }

    pub fn encode(&self) -> [u8; FRAME_HEAD_LEN] {
        let len = self.len.to_be_bytes();
        let stream = self.stream.to_be_bytes();
        [
            len[1], len[2], len[3], self.kind, self.flags, stream[0], stream[1], stream[2],
            stream[3],
        ]
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Why a client's connection was ended.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("an HTTP/2 client opened more than {MAX_STREAMS} streams at once")]
    TooManyStreams,
    #[error("an HTTP/2 client sent a header block over {MAX_HEADER_BLOCK} bytes")]
    HeaderBlockTooLong,
    #[error("an HTTP/2 client held over {MAX_HEADERS_HELD} bytes of headers on open streams")]
    TooManyHeadersHeld,
}

/// Finds frame headers in one direction's bytes, however they are split.
#[derive(Debug)]
pub struct FrameCursor {
    /// Bytes still to pass before the first frame (the client preface).
    skip: usize,
    head: [u8; FRAME_HEAD_LEN],
    have: usize,
}

impl FrameCursor {
    /// For what a client sends: the preface first.
    pub fn client() -> FrameCursor {
        FrameCursor {
            skip: CLIENT_PREFACE.len(),
            head: [0; FRAME_HEAD_LEN],
            have: 0,
        }
    }

    /// For what the server sends: frames from the first byte.
    pub fn server() -> FrameCursor {
        FrameCursor {
            skip: 0,
            head: [0; FRAME_HEAD_LEN],
            have: 0,
        }
    }

    /// Calls `on_head` for each frame header completed in `bytes`, stopping at its error.
    pub fn feed<E>(
        &mut self,
        mut bytes: &[u8],
        mut on_head: impl FnMut(FrameHead) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEAD_LEN - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == FRAME_HEAD_LEN {
                self.have = 0;
                let head = FrameHead::parse(&self.head);
                self.skip = head.len as usize;
                on_head(head)?;
            }
        }
        Ok(())
    }

    /// Whether the next byte starts a frame header.
    pub fn at_frame_start(&self) -> bool {
        self.skip == 0 && self.have == 0
    }
}

#[derive(Debug, Default)]
struct OpenStream {
    client_ended: bool,
    server_ended: bool,
    header_bytes: usize,
}

/// The streams of one connection and the header bytes they hold.
#[derive(Debug, Default)]
pub struct StreamLedger {
    open: HashMap<u32, OpenStream>,
    last_client_stream: u32,
    /// The stream whose header block has not ended yet, and its length so far.
    block: Option<(u32, u32)>,
    held: usize,
}

impl StreamLedger {
    /// A frame from the client; an error means the connection must end.
    pub fn client_frame(&mut self, frame: FrameHead) -> Result<(), Refusal> {
        match frame.kind {
            kind::HEADERS => {
                let opens = frame.stream % 2 == 1
                    && frame.stream > self.last_client_stream
                    && !self.open.contains_key(&frame.stream);
                if opens {
                    if self.open.len() >= MAX_STREAMS as usize {
                        return Err(Refusal::TooManyStreams);
                    }
                    self.last_client_stream = frame.stream;
                    self.open.insert(frame.stream, OpenStream::default());
                }
                self.block = Some((frame.stream, 0));
                self.add_header_bytes(frame)?;
                if frame.has(flag::END_STREAM) {
                    self.end(frame.stream, Side::Client);
                }
            }
            kind::CONTINUATION => self.add_header_bytes(frame)?,
            kind::DATA if frame.has(flag::END_STREAM) => self.end(frame.stream, Side::Client),
            kind::RST_STREAM => self.close(frame.stream),
            _ => {}
        }
        Ok(())
    }

    /// A frame from the server.
    pub fn server_frame(&mut self, frame: FrameHead) {
        match frame.kind {
            kind::HEADERS | kind::DATA if frame.has(flag::END_STREAM) => {
                self.end(frame.stream, Side::Server)
            }
            kind::RST_STREAM => self.close(frame.stream),
            _ => {}
        }
    }

    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    pub fn headers_held(&self) -> usize {
        self.held
    }

    fn add_header_bytes(&mut self, frame: FrameHead) -> Result<(), Refusal> {
        // A CONTINUATION that belongs to no block is h2's protocol error to answer.
        let Some((stream, so_far)) = self.block.as_mut() else {
            return Ok(());
        };
        *so_far = so_far.saturating_add(frame.len);
        if *so_far > MAX_HEADER_BLOCK {
            return Err(Refusal::HeaderBlockTooLong);
        }
        if let Some(open) = self.open.get_mut(stream) {
            open.header_bytes += frame.len as usize;
            self.held += frame.len as usize;
            if self.held > MAX_HEADERS_HELD {
                return Err(Refusal::TooManyHeadersHeld);
            }
        }
        if frame.has(flag::END_HEADERS) {
            self.block = None;
        }
        Ok(())
    }

    fn end(&mut self, stream: u32, side: Side) {
        let Some(open) = self.open.get_mut(&stream) else {
            return;
        };
        match side {
            Side::Client => open.client_ended = true,
            Side::Server => open.server_ended = true,
        }
        if open.client_ended && open.server_ended {
            self.close(stream);
        }
    }

    fn close(&mut self, stream: u32) {
        if let Some(open) = self.open.remove(&stream) {
            self.held -= open.header_bytes;
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kind: u8, flags: u8, stream: u32, len: u32) -> FrameHead {
        FrameHead {
            len,
            kind,
            flags,
            stream,
        }
    }

    const GET: u8 = flag::END_STREAM | flag::END_HEADERS;

    #[test]
    fn frame_heads_are_found_across_any_split() {
        let mut bytes = CLIENT_PREFACE.to_vec();
        let frames = [
            head(kind::SETTINGS, 0, 0, 6),
            head(kind::HEADERS, GET, 1, 3),
            head(kind::DATA, 0, 3, 0),
            head(kind::RST_STREAM, 0, 0x7fff_ffff, 4),
        ];
        for frame in frames {
            bytes.extend_from_slice(&frame.encode());
            bytes.extend(std::iter::repeat_n(0xEE, frame.len as usize));
        }
        for split in [1, 2, 7, 9, 10, 64, bytes.len()] {
            let mut cursor = FrameCursor::client();
            let mut seen = Vec::new();
            for chunk in bytes.chunks(split) {
                cursor
                    .feed(chunk, |h| {
                        seen.push(h);
                        Ok::<_, ()>(())
                    })
                    .unwrap();
            }
            assert_eq!(seen, frames, "split {split}");
            assert!(cursor.at_frame_start());
        }
    }

    #[test]
    fn a_stream_counts_until_both_sides_end_it_or_either_resets_it() {
        let mut ledger = StreamLedger::default();
        ledger
            .client_frame(head(kind::HEADERS, GET, 1, 40))
            .unwrap();
        ledger
            .client_frame(head(kind::HEADERS, flag::END_HEADERS, 3, 40))
            .unwrap();
        ledger
            .client_frame(head(kind::HEADERS, GET, 5, 40))
            .unwrap();
        assert_eq!((ledger.open_streams(), ledger.headers_held()), (3, 120));
        // The answer's head alone does not end stream 1; its last DATA does.
        ledger.server_frame(head(kind::HEADERS, flag::END_HEADERS, 1, 20));
        ledger.server_frame(head(kind::DATA, 0, 1, 100));
        assert_eq!(ledger.open_streams(), 3);
        ledger.server_frame(head(kind::DATA, flag::END_STREAM, 1, 100));
        assert_eq!(ledger.open_streams(), 2);
        // Stream 3 is answered but the client has not ended it: still open.
        ledger.server_frame(head(kind::HEADERS, GET, 3, 20));
        assert_eq!(ledger.open_streams(), 2);
        ledger
            .client_frame(head(kind::DATA, flag::END_STREAM, 3, 0))
            .unwrap();
        ledger
            .client_frame(head(kind::RST_STREAM, 0, 5, 4))
            .unwrap();
        assert_eq!((ledger.open_streams(), ledger.headers_held()), (0, 0));
    }

    #[test]
    fn the_stream_past_the_limit_is_refused_and_a_closed_one_makes_room() {
        let mut ledger = StreamLedger::default();
        for i in 0..MAX_STREAMS {
            ledger
                .client_frame(head(kind::HEADERS, flag::END_HEADERS, 1 + 2 * i, 10))
                .unwrap();
        }
        let next = 1 + 2 * MAX_STREAMS;
        assert_eq!(
            ledger.client_frame(head(kind::HEADERS, GET, next, 10)),
            Err(Refusal::TooManyStreams)
        );
        ledger.server_frame(head(kind::RST_STREAM, 0, 1, 4));
        ledger
            .client_frame(head(kind::HEADERS, GET, next, 10))
            .unwrap();
        // Trailers on an open stream open nothing new.
        ledger
            .client_frame(head(kind::HEADERS, GET, next - 2, 10))
            .unwrap();
        assert_eq!(ledger.open_streams(), MAX_STREAMS as usize);
    }

    #[test]
    fn header_blocks_are_bounded_alone_and_together() {
        let mut ledger = StreamLedger::default();
        ledger
            .client_frame(head(kind::HEADERS, 0, 1, MAX_HEADER_BLOCK - 10))
            .unwrap();
        assert_eq!(
            ledger.client_frame(head(kind::CONTINUATION, flag::END_HEADERS, 1, 11)),
            Err(Refusal::HeaderBlockTooLong)
        );

        let mut ledger = StreamLedger::default();
        let each = 16 * 1024;
        let fits = MAX_HEADERS_HELD / each as usize;
        for i in 0..fits as u32 {
            ledger
                .client_frame(head(kind::HEADERS, flag::END_HEADERS, 1 + 2 * i, each))
                .unwrap();
        }
        let next = 1 + 2 * fits as u32;
        assert_eq!(
            ledger.client_frame(head(kind::HEADERS, GET, next, each)),
            Err(Refusal::TooManyHeadersHeld)
        );
        // Bytes are given back when a stream closes.
        let mut ledger = StreamLedger::default();
        for i in 0..(fits as u32 * 4) {
            let stream = 1 + 2 * i;
            ledger
                .client_frame(head(kind::HEADERS, GET, stream, each))
                .unwrap();
            ledger.server_frame(head(kind::HEADERS, GET, stream, 10));
        }
        assert_eq!(ledger.headers_held(), 0);
    }
}
