//! Sits between a TLS connection that negotiated `h2` and actix-web's HTTP/2 service, and
//! keeps the limits of `h2_ledger`:
//! - it adds `SETTINGS_MAX_CONCURRENT_STREAMS` and `SETTINGS_MAX_HEADER_LIST_SIZE` to the
//!   server's first SETTINGS frame (the h2 crate sends none of them, as actix-http does not
//!   set them), so clients know the limits before they meet them;
//! - it follows the frames both ways and ends the connection with an error when the client
//!   goes past them (the bytes that broke a limit are not passed on).
//!
//! Writes go straight through once the first SETTINGS frame is out; only the bytes up to
//! and including it are copied (into `outgoing`) to be rewritten.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::h2_ledger::{
    FRAME_HEAD_LEN, FrameCursor, FrameHead, MAX_HEADER_BLOCK, MAX_STREAMS, StreamLedger, flag, kind,
};

const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;
/// Each SETTINGS parameter: a 16-bit identifier and a 32-bit value.
const SETTING_LEN: usize = 6;

pub struct H2Gate<T> {
    io: T,
    ledger: StreamLedger,
    from_client: FrameCursor,
    from_server: FrameCursor,
    settings: SettingsEdit,
    /// Rewritten bytes accepted from actix-web, not yet written to `io`.
    outgoing: Vec<u8>,
}

/// Where the rewrite of the server's first SETTINGS frame stands.
enum SettingsEdit {
    /// Collecting the first frame's header.
    Head(Vec<u8>),
    /// Copying the frame's payload; the limits follow it.
    Payload(usize),
    Done,
}

impl<T> H2Gate<T> {
    pub fn new(io: T) -> Self {
        H2Gate {
            io,
            ledger: StreamLedger::default(),
            from_client: FrameCursor::client(),
            from_server: FrameCursor::server(),
            settings: SettingsEdit::Head(Vec::with_capacity(FRAME_HEAD_LEN)),
            outgoing: Vec::new(),
        }
    }

    /// Takes bytes from actix-web into `outgoing` while the first SETTINGS frame is being
    /// rewritten; returns how many it took (all of `bytes` or up to the frame's end).
    fn edit_settings(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while taken < bytes.len() {
            let rest = &bytes[taken..];
            match &mut self.settings {
                SettingsEdit::Head(head) => {
                    let n = (FRAME_HEAD_LEN - head.len()).min(rest.len());
                    head.extend_from_slice(&rest[..n]);
                    taken += n;
                    if head.len() < FRAME_HEAD_LEN {
                        continue;
                    }
                    let mut frame = FrameHead::parse(head[..].try_into().expect("9 bytes"));
                    let first_settings = frame.kind == kind::SETTINGS
                        && frame.flags & flag::ACK == 0
                        && frame.stream == 0;
                    if !first_settings {
                        // Not what h2 sends first: pass it on untouched. The limits are
                        // still kept, only not announced.
                        tracing::warn!("HTTP/2 server did not open with SETTINGS");
                        self.outgoing.extend_from_slice(head);
                        self.settings = SettingsEdit::Done;
                        continue;
                    }
                    let payload = frame.len as usize;
                    frame.len += (2 * SETTING_LEN) as u32;
                    self.outgoing.extend_from_slice(&frame.encode());
                    self.settings = SettingsEdit::Payload(payload);
                }
                SettingsEdit::Payload(left) => {
                    let n = (*left).min(rest.len());
                    self.outgoing.extend_from_slice(&rest[..n]);
                    taken += n;
                    *left -= n;
                    if *left == 0 {
                        for (id, value) in [
                            (SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS),
                            (SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_BLOCK),
                        ] {
                            self.outgoing.extend_from_slice(&id.to_be_bytes());
                            self.outgoing.extend_from_slice(&value.to_be_bytes());
                        }
                        self.settings = SettingsEdit::Done;
                        return taken;
                    }
                }
                SettingsEdit::Done => return taken,
            }
        }
        taken
    }

    fn server_sent(&mut self, bytes: &[u8]) {
        let ledger = &mut self.ledger;
        let _ = self.from_server.feed(bytes, |frame| {
            ledger.server_frame(frame);
            Ok::<_, ()>(())
        });
    }
}

impl<T: AsyncWrite + Unpin> H2Gate<T> {
    /// Writes what `edit_settings` left in `outgoing`.
    fn poll_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outgoing.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.outgoing))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.outgoing.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for H2Gate<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let ledger = &mut this.ledger;
        let checked = this
            .from_client
            .feed(&buf.filled()[before..], |frame| ledger.client_frame(frame));
        if let Err(refusal) = checked {
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, refusal)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for H2Gate<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !matches!(this.settings, SettingsEdit::Done) {
            let taken = this.edit_settings(buf);
            this.server_sent(&buf[..taken]);
            // The bytes are ours now; what does not go out here goes on the next call.
            let _ = this.poll_outgoing(cx)?;
            return Poll::Ready(Ok(taken));
        }
        ready!(this.poll_outgoing(cx))?;
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.server_sent(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !matches!(this.settings, SettingsEdit::Done) {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return Pin::new(this).poll_write(cx, first);
        }
        ready!(this.poll_outgoing(cx))?;
        let written = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let mut left = written;
        for slice in bufs {
            if left == 0 {
                break;
            }
            let sent = left.min(slice.len());
            this.server_sent(&slice[..sent]);
            left -= sent;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_outgoing(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_outgoing(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
