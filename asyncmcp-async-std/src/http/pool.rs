//! Open HTTP/1.1 connections, idle ones kept per (scheme, host, port) for reuse.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, Connection, SendRequest};

use super::connect::Key;
use super::io::Stream;

/// An idle connection older than this is closed rather than reused (AWS closes idle
/// connections after about 20 s of silence itself).
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// At most this many idle connections per key.
const MAX_IDLE: usize = 32;

/// One HTTP/1.1 connection. Nothing is spawned for it: the connection future is
/// polled only while a request runs on it, together with that request, so the client
/// needs no executor, only async-io's reactor.
pub(crate) struct Conn {
    sender: SendRequest<SdkBody>,
    /// `None` once the server closed the connection.
    driver: Option<Pin<Box<Connection<Stream, SdkBody>>>>,
}

/// Why a request on a connection failed.
pub(crate) enum Failure {
    /// The request never reached the wire: it can go out on another connection.
    NotSent(Box<http::Request<SdkBody>>, hyper::Error),
    /// The request may have been sent.
    Failed(hyper::Error),
}

impl Conn {
    /// The HTTP/1.1 handshake over `stream`.
    pub(crate) async fn handshake(stream: Stream) -> Result<Self, hyper::Error> {
        let (sender, driver) = http1::handshake(stream).await?;
        Ok(Self { sender, driver: Some(Box::pin(driver)) })
    }

    /// Sends `request` and reads the whole response: its body ends at its
    /// Content-Length (or last chunk), never at the end of the stream, and the
    /// connection is free again when this returns.
    pub(crate) async fn send(&mut self, request: http::Request<SdkBody>) -> Result<http::Response<Bytes>, Failure> {
        let Conn { sender, driver } = self;
        let exchange = async move {
            if let Err(e) = sender.ready().await {
                return Err(Failure::NotSent(Box::new(request), e));
            }
            let response = sender.try_send_request(request).await.map_err(|mut e| match e.take_message() {
                Some(request) => Failure::NotSent(Box::new(request), e.into_error()),
                None => Failure::Failed(e.into_error()),
            })?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(Failure::Failed)?.to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        let mut exchange = pin!(exchange);
        poll_fn(|cx| {
            if let Poll::Ready(result) = exchange.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if let Some(d) = driver.as_mut()
                && let Poll::Ready(end) = d.as_mut().poll(cx)
            {
                if let Err(e) = end {
                    tracing::debug!("HTTP connection ended: {e}");
                }
                // Dropping the finished connection fails whatever still waits on it.
                *driver = None;
                return exchange.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await
    }

    fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }
}

/// Idle connections by key, newest last.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<BTreeMap<Key, Vec<(Conn, Instant)>>>,
}

impl Pool {
    /// The most recently used idle connection to `key` that is still open.
    pub(crate) fn take(&self, key: &Key) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.get_mut(key)?;
        while let Some((conn, since)) = conns.pop() {
            if conn.is_open() && since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for the next request to `key`, if it is still open.
    pub(crate) fn put(&self, key: Key, conn: Conn) {
        if !conn.is_open() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.entry(key).or_default();
        if conns.len() >= MAX_IDLE {
            conns.remove(0);
        }
        conns.push((conn, Instant::now()));
    }
}
