//! [`AsyncIoHttpClient`]: the AWS SDK's HTTP client on async-io, without tokio.
//!
//! hyper 1's HTTP/1.1 client connection API over `async_io::Async<TcpStream>`, TLS
//! from futures-rustls (rustls on aws-lc-rs, the provider the SDK's own client uses)
//! with the operating system's root certificates, and a small pool of idle
//! connections per (scheme, host, port). Responses are read by Content-Length, so a
//! server that closes late (moto waits about 10 ms) costs nothing. Connection
//! futures are polled only alongside their requests: no task is spawned, no
//! executor is needed, only async-io's reactor.

mod connect;
mod io;
mod pool;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use futures_rustls::pki_types::CertificateDer;
use futures_rustls::rustls::{ClientConfig, RootCertStore, crypto};

use connect::{Key, connect, user, within};
use pool::{Conn, Failure, Pool};

/// A request whose pooled connection turned out closed is tried on this many other
/// pooled connections before a fresh one.
const STALE_RETRIES: usize = 4;

/// The AWS SDK's HTTP client on async-io: HTTPS to AWS, plain HTTP to local
/// emulators. Cloning shares the connection pool.
///
/// Install it with [`on_async_io`](crate::on_async_io) (the crate's AWS constructors
/// do that for you).
#[derive(Clone)]
pub struct AsyncIoHttpClient {
    inner: Arc<Inner>,
}

/// What an [`AsyncIoHttpClient`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Requests sent.
    pub requests: u64,
    /// Connections opened (fewer than requests when the pool reuses them).
    pub connections: u64,
}

struct Inner {
    roots: Roots,
    tls: OnceLock<Result<Arc<ClientConfig>, String>>,
    pool: Pool,
    requests: AtomicU64,
    connections: AtomicU64,
}

enum Roots {
    /// The operating system's store, loaded on the first HTTPS connection.
    Native,
    /// Only these certificates.
    Custom(Vec<CertificateDer<'static>>),
}

impl AsyncIoHttpClient {
    /// A client that trusts the operating system's root certificates (loaded on the
    /// first HTTPS connection; on Linux install `ca-certificates`).
    pub fn new() -> Self {
        Self::with_roots(Roots::Native)
    }

    /// A client that trusts only these DER-encoded root certificates: a private CA,
    /// or a self-signed test server.
    pub fn with_root_certificates(der: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self::with_roots(Roots::Custom(der.into_iter().map(CertificateDer::from).collect()))
    }

    fn with_roots(roots: Roots) -> Self {
        let inner = Inner {
            roots,
            tls: OnceLock::new(),
            pool: Pool::default(),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Requests sent and connections opened so far.
    pub fn stats(&self) -> HttpStats {
        HttpStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            connections: self.inner.connections.load(Ordering::Relaxed),
        }
    }

    /// Sends one request and reads its whole response.
    ///
    /// # Errors
    /// A [`ConnectorError`]: a timeout, an I/O failure (connect, TLS, connection
    /// closed mid-request; retryable) or a user error (a URI that is not
    /// `http(s)://host...`).
    pub async fn send(
        &self,
        request: http::Request<SdkBody>,
        timeouts: Timeouts,
    ) -> Result<http::Response<SdkBody>, ConnectorError> {
        let key = Key::of(request.uri())?;
        let mut request = origin_form(request, &key)?;
        let inner = &self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let mut stale = 0;
        loop {
            let pooled = if stale < STALE_RETRIES { inner.pool.take(&key) } else { None };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => {
                    let what = || format!("connecting to {}:{}", key.host, key.port);
                    within(timeouts.connect, what, inner.open(&key)).await?
                }
            };
            let what = || format!("the request to {}:{}", key.host, key.port);
            let sent = within(timeouts.read, what, async { Ok(conn.send(request).await) }).await?;
            match sent {
                Ok(response) => {
                    inner.pool.put(key, conn);
                    return Ok(response.map(SdkBody::from));
                }
                Err(Failure::NotSent(back, e)) if reused => {
                    tracing::debug!("pooled connection to {}:{} was closed ({e}); trying another", key.host, key.port);
                    request = *back;
                    stale += 1;
                }
                Err(Failure::NotSent(_, e) | Failure::Failed(e)) => {
                    return Err(ConnectorError::io(
                        format!("HTTP request to {}:{} failed: {e}", key.host, key.port).into(),
                    ));
                }
            }
        }
    }
}

impl Default for AsyncIoHttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AsyncIoHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncIoHttpClient").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Inner {
    async fn open(&self, key: &Key) -> Result<Conn, ConnectorError> {
        let tls = match key.https {
            true => Some(self.tls()?),
            false => None,
        };
        let stream = connect(key, tls).await?;
        self.connections.fetch_add(1, Ordering::Relaxed);
        Conn::handshake(stream).await.map_err(|e| {
            ConnectorError::io(format!("HTTP/1.1 handshake with {}:{} failed: {e}", key.host, key.port).into())
        })
    }

    fn tls(&self) -> Result<Arc<ClientConfig>, ConnectorError> {
        match self.tls.get_or_init(|| tls_config(&self.roots).map(Arc::new)) {
            Ok(config) => Ok(Arc::clone(config)),
            Err(e) => Err(ConnectorError::other(e.clone().into(), None)),
        }
    }
}

fn tls_config(roots: &Roots) -> Result<ClientConfig, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Native => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("loading the system's root certificates: {e}");
            }
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(
                    "no usable root certificate in the system store ({ignored} ignored): HTTPS will fail; \
                     install ca-certificates or use AsyncIoHttpClient::with_root_certificates"
                );
            }
        }
        Roots::Custom(certs) => {
            store.add_parsable_certificates(certs.iter().cloned());
        }
    }
    // aws-lc-rs explicitly: another provider compiled in elsewhere (ring) must not
    // make rustls's process-wide default ambiguous.
    let provider = Arc::new(crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls on aws-lc-rs supports no safe TLS version: {e}"))?;
    Ok(builder.with_root_certificates(store).with_no_client_auth())
}

/// HTTP/1.1 wants `/path?query` on the request line and the authority in `Host`
/// (without the scheme's default port: what SigV4 signed).
fn origin_form(request: http::Request<SdkBody>, key: &Key) -> Result<http::Request<SdkBody>, ConnectorError> {
    let (mut parts, body) = request.into_parts();
    let default_port = if key.https { 443 } else { 80 };
    if !parts.headers.contains_key(http::header::HOST) {
        let host = match (parts.uri.port_u16(), parts.uri.host()) {
            (Some(port), Some(host)) if port != default_port => format!("{host}:{port}"),
            (_, host) => host.unwrap_or_default().to_owned(),
        };
        let value = http::HeaderValue::try_from(host).map_err(|e| user(format!("invalid Host header: {e}")))?;
        parts.headers.insert(http::header::HOST, value);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = path.parse().map_err(|e| user(format!("invalid request path {path}: {e}")))?;
    Ok(http::Request::from_parts(parts, body))
}

/// Connect and read timeouts of one request (the SDK's `TimeoutConfig`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Opening the connection, TLS included.
    pub connect: Option<Duration>,
    /// Sending the request and reading the whole response.
    pub read: Option<Duration>,
}

impl Timeouts {
    /// Both timeouts.
    pub fn new(connect: Option<Duration>, read: Option<Duration>) -> Self {
        Self { connect, read }
    }
}

impl HttpClient for AsyncIoHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeouts = Timeouts::new(settings.connect_timeout(), settings.read_timeout());
        SharedHttpConnector::new(Connector { client: self.clone(), timeouts })
    }
}

/// The client with one set of timeouts, as the SDK asks for it.
#[derive(Debug)]
struct Connector {
    client: AsyncIoHttpClient,
    timeouts: Timeouts,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (client, timeouts) = (self.client.clone(), self.timeouts);
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.send(request, timeouts).await?;
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's sleep on async-io timers (retry back-off, timeouts, credential caching).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoSleep;

impl AsyncSleep for AsyncIoSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let timer = async_io::Timer::after(duration);
        Sleep::new(async move {
            timer.await;
        })
    }
}
