//! A client connection's writes under a time limit
//! (`general_settings.stream_write_timeout_seconds`): a client that stops reading is
//! dropped once a write has waited that long for room in its socket.
//!
//! Answer bodies are produced as the connection writes them, a stream's events included
//! (`pipeline::stream`): a client that does not read stops its stream, which then holds
//! its plugin instances and its upstream call until this limit closes the connection.
//! The limit starts when a write finds the socket full and ends when the write goes
//! through, so a slow reader that keeps reading is never cut off, and a connection that
//! is only idle between requests is not timed here (the header-read timeout is).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `IO` whose writes fail with [`io::ErrorKind::TimedOut`] after waiting `limit` for the
/// peer to read.
pub struct WriteTimeout<IO> {
    io: IO,
    limit: Duration,
    /// Armed while a write is waiting for room (boxed: most writes never wait).
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<IO> WriteTimeout<IO> {
    /// `io` with writes that wait at most `limit`.
    pub fn new(io: IO, limit: Duration) -> Self {
        Self { io, limit, waiting: None }
    }

    /// Passes on a write's result; a write still waiting fails once the limit is up.
    fn watched<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.waiting = None;
            return polled;
        }
        let limit = self.limit;
        let waiting = self.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(waiting.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {} s; closing the connection", limit.as_secs_f64()),
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteTimeout<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watched(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watched(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watched(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watched(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    use super::*;

    const LIMIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_peer_that_reads_nothing_fails_the_write_once_the_limit_is_up() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = WriteTimeout::new(near, LIMIT);
        near.write_all(&[1; 64]).await.expect("the buffer has room for the first 64 bytes");
        let started = Instant::now();
        let error = near.write_all(&[2; 64]).await.expect_err("nobody reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT, "failed after {:?}, before the limit", started.elapsed());
        let mut first = [0; 64];
        far.read_exact(&mut first).await.expect("what was written is there");
        assert_eq!(first, [1; 64]);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_never_cut_off() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = WriteTimeout::new(near, LIMIT);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0; 64];
            loop {
                // Each read comes well within the limit of the last, though the whole
                // write takes several times the limit.
                tokio::time::sleep(LIMIT / 3).await;
                match far.read(&mut buf).await.expect("the writer does not fail") {
                    0 => return got,
                    read => got.extend_from_slice(&buf[..read]),
                }
            }
        });
        let started = Instant::now();
        near.write_all(&[7; 640]).await.expect("the reader keeps reading");
        near.shutdown().await.expect("shut down");
        drop(near);
        assert!(started.elapsed() > LIMIT * 2, "the write outlived the limit");
        assert_eq!(reader.await.expect("the reader finished"), vec![7; 640]);
    }
}
