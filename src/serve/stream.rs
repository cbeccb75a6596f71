//! The bytes of a connection: a large file streamed chunk by chunk, and a socket that gives up on
//! a peer that stops reading or writing.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};

use super::CHUNK;

/// A large file streamed from its open handle, one chunk read at a time on the blocking pool.
pub(super) struct FileBody {
    pub(super) file: Arc<File>,
    pub(super) offset: u64,
    pub(super) remaining: u64,
    pub(super) reading: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if self.reading.is_none() {
            let file = self.file.clone();
            let offset = self.offset;
            let want = self.remaining.min(CHUNK as u64) as usize;
            self.reading = Some(tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                file.read_exact_at(&mut buf, offset)?;
                Ok(Bytes::from(buf))
            }));
        }
        let handle = self.reading.as_mut().expect("set above");
        match Pin::new(handle).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(joined) => {
                self.reading = None;
                let chunk = joined.map_err(io::Error::other).and_then(|r| r);
                match chunk {
                    Ok(b) => {
                        self.offset += b.len() as u64;
                        self.remaining -= b.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(b))))
                    }
                    Err(e) => {
                        self.remaining = 0;
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// A connection's socket, closed with a timeout error when a read or a write it is waiting for
/// makes no progress for `limit` (a client that stops reading, or goes silent mid-request).
pub(super) struct StallGuard {
    inner: tokio::net::TcpStream,
    limit: Duration,
    read_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    pub(super) fn new(inner: tokio::net::TcpStream, limit: Duration) -> StallGuard {
        StallGuard {
            inner,
            limit,
            read_deadline: None,
            write_deadline: None,
        }
    }

    /// Passes a ready result through (and forgets the deadline); on Pending, starts the deadline
    /// on the first wait and turns it into a timeout error once it passes.
    fn guard<T>(
        deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>,
        limit: Duration,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            *deadline = None;
            return polled;
        }
        let d = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match d.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no progress: connection closed",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        Self::guard(&mut this.read_deadline, this.limit, cx, polled)
    }
}

impl tokio::io::AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        Self::guard(&mut this.write_deadline, this.limit, cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        Self::guard(&mut this.write_deadline, this.limit, cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
