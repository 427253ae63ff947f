//! Opening connections: DNS, TCP on async-io, TLS with futures-rustls.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use aws_smithy_runtime_api::client::result::ConnectorError;
use futures::future::{Either, select};
use futures_rustls::TlsConnector;
use futures_rustls::pki_types::ServerName;
use futures_rustls::rustls::ClientConfig;

use super::io::Stream;

/// Where a connection goes; the pool keeps idle connections per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Key {
    /// The key of an absolute URI.
    ///
    /// # Errors
    /// A user error for a URI without `http`/`https` scheme or host.
    pub(crate) fn of(uri: &http::Uri) -> Result<Self, ConnectorError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(user(format!("cannot send to {uri}: scheme {other:?} is neither http nor https")));
            }
        };
        let host = uri.host().ok_or_else(|| user(format!("cannot send to {uri}: the URI has no host")))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self { https, host: host.trim_start_matches('[').trim_end_matches(']').to_owned(), port })
    }
}

/// Runs `fut`, failing with a timeout error named `what` after `limit`.
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
    fut: impl Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    let Some(limit) = limit else { return fut.await };
    match select(Box::pin(fut), Timer::after(limit)).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(ConnectorError::timeout(format!("{} took longer than {limit:?}", what()).into())),
    }
}

/// Opens a connection to `key`, with TLS when `tls` is given.
///
/// # Errors
/// An I/O error (retryable) when no address accepts or the TLS handshake fails.
pub(crate) async fn connect(key: &Key, tls: Option<Arc<ClientConfig>>) -> Result<Stream, ConnectorError> {
    let tcp = tcp(key).await.map_err(|e| ConnectorError::io(e.into()))?;
    let Some(tls) = tls else { return Ok(Stream::Plain(tcp)) };
    let name = ServerName::try_from(key.host.clone())
        .map_err(|e| user(format!("{} is not a valid TLS server name: {e}", key.host)))?;
    let stream = TlsConnector::from(tls).connect(name, tcp).await.map_err(|e| {
        ConnectorError::io(
            io::Error::new(e.kind(), format!("TLS handshake with {}:{} failed: {e}", key.host, key.port)).into(),
        )
    })?;
    Ok(Stream::Tls(Box::new(stream)))
}

async fn tcp(key: &Key) -> io::Result<Async<TcpStream>> {
    let addrs = resolve(key).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} has no address", key.host));
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(stream) => {
                // Requests are small and latency-bound: never wait for Nagle.
                stream.get_ref().set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = io::Error::new(e.kind(), format!("cannot connect to {addr} ({}): {e}", key.host)),
        }
    }
    Err(last)
}

async fn resolve(key: &Key) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = key.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, key.port)]);
    }
    // The system resolver blocks: run it on `blocking`'s thread pool.
    let (host, port) = (key.host.clone(), key.port);
    blocking::unblock(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host}: {e}")))
    })
    .await
}

pub(crate) fn user(message: String) -> ConnectorError {
    ConnectorError::user(message.into())
}
