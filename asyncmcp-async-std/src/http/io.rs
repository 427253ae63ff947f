//! A socket, plain or TLS, seen through hyper's I/O traits.

use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;

/// How much one read copies into hyper's buffer.
const CHUNK: usize = 16 * 1024;

/// An async-io TCP stream, or futures-rustls over one.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `http://`: loopback emulators.
    Plain(Async<TcpStream>),
    /// `https://`.
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Filling hyper's uninitialised buffer in place needs `unsafe`; this crate
        // forbids it, so read into a stack chunk and copy (responses here are small).
        let mut chunk = [0u8; CHUNK];
        let want = buf.remaining().min(CHUNK);
        let Some(target) = chunk.get_mut(..want) else { return Poll::Ready(Ok(())) };
        let n = ready!(match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, target),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, target),
        })?;
        buf.put_slice(chunk.get(..n).unwrap_or_default());
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
