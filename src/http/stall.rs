//! A send timeout for connections actix-web owns. actix-web has timeouts for reading
//! requests and for idle keep-alive, none for a client that stops reading a response: such
//! a connection would hold its task, its buffers and its file forever. `SendStall` wraps the
//! socket and fails a write that has made no progress for the send timeout, which ends the
//! connection the way any other I/O error does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct SendStall<T> {
    io: T,
    limit: Duration,
    /// Armed while writes are pending; reset when the first write of a stall is refused.
    timer: Pin<Box<Sleep>>,
    stalled: bool,
}

impl<T> SendStall<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        SendStall {
            io,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            stalled: false,
        }
    }

    /// Called with the outcome of a write: any answer disarms the timer, `Pending` arms it
    /// on the first refusal and fails once it has run out.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if outcome.is_ready() {
            self.stalled = false;
            return outcome;
        }
        if !self.stalled {
            self.stalled = true;
            self.timer.as_mut().reset(Instant::now() + self.limit);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the send timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendStall<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendStall<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    // Only writes count: a socket's flush is immediate and says nothing about the client.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_limit() {
        // A pipe nobody reads: the writer fills it, then stalls.
        let (mut writer, reader) = tokio::io::duplex(1024);
        let mut guarded = SendStall::new(&mut writer, Duration::from_secs(3));
        let err = guarded.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(reader);

        // Progress, however slow, keeps it going.
        let (mut writer, mut reader) = tokio::io::duplex(1024);
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 8192 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                total += tokio::io::AsyncReadExt::read(&mut reader, &mut buf)
                    .await
                    .unwrap();
            }
        });
        let mut guarded = SendStall::new(&mut writer, Duration::from_secs(3));
        guarded.write_all(&[0u8; 8192]).await.unwrap();
        drain.await.unwrap();
    }
}
