//! `AsyncIoHttpClient` against a local server: a TLS handshake with a self-signed
//! certificate (rcgen) the client was told to trust, plain HTTP, and connection
//! reuse. No network beyond 127.0.0.1.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use async_io::Async;
use asyncmcp_async_std::http::{AsyncIoHttpClient, Timeouts};
use aws_smithy_types::body::SdkBody;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{ServerConfig, crypto};

/// Answers every request on one connection with `hello <n>` (Content-Length framed,
/// keep-alive) until the client closes it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut n = 0;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await.unwrap_or(0);
        if read == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..read]);
        // Requests here have no body: the head ends the request.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4);
            assert!(head.starts_with("GET /path?q=1 HTTP/1.1"), "origin-form request line: {head}");
            assert!(head.to_ascii_lowercase().contains("\r\nhost: localhost:"), "Host header: {head}");
            n += 1;
            let body = format!("hello {n}");
            let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            stream.write_all(response.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
        }
    }
}

/// A TLS acceptor for `localhost` with a fresh self-signed certificate, and that
/// certificate.
fn tls_server() -> (TlsAcceptor, CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let server_config = ServerConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    (TlsAcceptor::from(Arc::new(server_config)), cert_der)
}

fn listener() -> (Async<TcpListener>, SocketAddr) {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    (listener, addr)
}

async fn get(client: &AsyncIoHttpClient, url: &str) -> String {
    let request = http::Request::get(url).body(SdkBody::empty()).unwrap();
    let response = client.send(request, Timeouts::default()).await.unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    assert_eq!(response.status(), 200);
    String::from_utf8(response.body().bytes().unwrap().to_vec()).unwrap()
}

#[test]
fn https_to_a_trusted_self_signed_server_and_connection_reuse() {
    async_io::block_on(async {
        let (acceptor, cert_der) = tls_server();
        let (listener, addr) = listener();
        let server = async_std::task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            serve(acceptor.accept(tcp).await.unwrap()).await;
        });

        let client = AsyncIoHttpClient::with_root_certificates([cert_der.to_vec()]);
        let url = format!("https://localhost:{}/path?q=1", addr.port());
        assert_eq!(get(&client, &url).await, "hello 1");
        assert_eq!(get(&client, &url).await, "hello 2");
        assert_eq!(get(&client, &url).await, "hello 3");

        let stats = client.stats();
        assert_eq!((stats.requests, stats.connections), (3, 1), "one TLS connection, reused");
        drop(client);
        server.await;
    });
}

#[test]
fn https_to_an_untrusted_server_fails_the_handshake() {
    async_io::block_on(async {
        let (acceptor, _) = tls_server();
        let (listener, addr) = listener();
        let server = async_std::task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            assert!(acceptor.accept(tcp).await.is_err(), "the client refuses the certificate");
        });

        let client = AsyncIoHttpClient::with_root_certificates([]);
        let request = http::Request::get(format!("https://localhost:{}/", addr.port())).body(SdkBody::empty()).unwrap();
        let error = client.send(request, Timeouts::default()).await.expect_err("untrusted certificate");
        assert!(error.is_io(), "{error:?}");
        assert!(format!("{error:?}").contains("TLS handshake"), "{error:?}");
        server.await;
    });
}

#[test]
fn plain_http_to_loopback() {
    async_io::block_on(async {
        let (listener, addr) = listener();
        let server = async_std::task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            serve(tcp).await;
        });
        let client = AsyncIoHttpClient::new();
        let url = format!("http://localhost:{}/path?q=1", addr.port());
        assert_eq!(get(&client, &url).await, "hello 1");
        assert_eq!(get(&client, &url).await, "hello 2");
        assert_eq!(client.stats().connections, 1);
        drop(client);
        server.await;
    });
}

#[test]
fn clients_for_https_endpoints_build_without_a_runtime() {
    // Building touches no network and no runtime; the first call would connect.
    let _queue = asyncmcp_async_std::with_endpoint("https://sqs.us-east-1.amazonaws.com", "us-east-1");
    let config = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("eu-west-1"))
        .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
        .build();
    let _client = asyncmcp_async_std::aws_queue_client(&config);
    let _admin = asyncmcp_async_std::aws_admin(&config);
}
