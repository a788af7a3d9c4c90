//! How a component's outgoing `wasi:http` request reaches its server:
//! resolve the host once, check every address against the component's
//! `allowed_outbound_hosts`, connect to an allowed address, and speak
//! HTTP/1.1 over that socket (TLS for `https`, with the URI's host as the
//! server name and certificates checked against the webpki roots).
//!
//! Checking the name alone would let `https://*:*` reach whatever the name
//! resolves to (`localhost`, a cloud metadata address, a private network);
//! checking the address and letting a library resolve the name again would
//! let DNS answer differently the second time. Here the socket goes to the
//! address that was checked ([`AllowedHosts::resolve`]), and a refusal is
//! the `wasi:http` error code that says why:
//!
//! | refusal | error code |
//! |---|---|
//! | scheme, host or port not in the list | `HTTP-request-denied` |
//! | every address is non-public and no pattern names it | `destination-IP-prohibited` |
//! | the name does not resolve | `DNS-error` |
//!
//! ```no_run
//! # async fn demo(request: http::Request<wasmtime_wasi_http::WasiBody>) -> wasmtime_wasi_http::Result<()> {
//! use studio_edge_spin::outbound::AllowedHosts;
//! let allowed = AllowedHosts::parse(&["https://*:*"]).expect("valid patterns");
//! // `https://localhost/` is refused with destination-IP-prohibited.
//! let (response, connection) = studio_edge::outgoing::send(request, None, &allowed).await?;
//! # let _ = (response, connection);
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use studio_edge_spin::outbound::{AllowedHosts, DestinationError, default_port};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::p2::body::HyperIncomingBody;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// What the connection still has to do once the response head is in: it
/// ends with the response body, and reports how.
pub type ConnectionFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// How long connecting, and waiting for the response head, may take when
/// the guest's request options do not say. The runtime's per-call deadline
/// bounds the whole call anyway.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `request` (an absolute URI) to an address of its host that
/// `allowed` permits, and returns the response head with its streaming
/// body.
pub async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    allowed: &AllowedHosts,
) -> Result<(http::Response<HyperIncomingBody>, ConnectionFuture), Error> {
    let uri = request.uri();
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(Error::HttpRequestUriInvalid),
    };
    let scheme = if tls { "https" } else { "http" };
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_owned();
    let port = uri
        .port_u16()
        .or_else(|| default_port(scheme))
        .ok_or(Error::HttpRequestUriInvalid)?;
    let addresses = allowed
        .resolve(scheme, &host, port)
        .await
        .map_err(refusal)?;

    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let socket = connect(&addresses, connect_timeout).await?;
    let stream: Box<dyn Stream> = if tls {
        Box::new(tls_handshake(socket, &host, connect_timeout).await?)
    } else {
        Box::new(socket)
    };

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)?;
    // The request line carries the path only; the authority went into the
    // `Host` header when the request was built.
    *request.uri_mut() = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let mut connection = Box::pin(connection);
    let mut connection_ended = false;
    let response = tokio::time::timeout(first_byte_timeout, async {
        let sending = sender.send_request(request);
        tokio::pin!(sending);
        // The connection must be driven for the request to be written and
        // the response read; if it ends first, the response is either
        // already there or an error.
        let ended = tokio::select! {
            biased;
            response = &mut sending => return response,
            ended = &mut connection => ended,
        };
        connection_ended = true;
        ended?;
        sending.await
    })
    .await
    .map_err(|_| Error::ConnectionReadTimeout)?
    .map_err(Error::Hyper)?;

    let rest: ConnectionFuture = if connection_ended {
        Box::new(async { Ok(()) })
    } else {
        Box::new(async move { connection.await.map_err(Error::Hyper) })
    };
    Ok((
        response.map(|body| body.map_err(Error::Hyper).boxed_unsync()),
        rest,
    ))
}

/// The `wasi:http` error code for a destination that was refused.
fn refusal(error: DestinationError) -> Error {
    match &error {
        DestinationError::NotAllowed(_) => Error::HttpRequestDenied,
        DestinationError::Prohibited { .. } => {
            tracing::warn!(%error, "outbound request refused");
            Error::DestinationIpProhibited
        }
        DestinationError::Dns { .. } => Error::DnsError {
            rcode: Some(error.to_string()),
            info_code: None,
        },
        DestinationError::NoAddress(_) => Error::DestinationNotFound,
    }
}

/// Connects to the first of `addresses` that answers.
async fn connect(addresses: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::DestinationNotFound;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(socket)) => {
                // Small writes of a request body should not wait for ACKs.
                let _ = socket.set_nodelay(true);
                return Ok(socket);
            }
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Error::ConnectionRefused;
            }
            Ok(Err(error)) => last = Error::Connect(error),
            Err(_elapsed) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// TLS over `socket` with `host` (a name, or an IP address in or out of
/// brackets) as the server name the certificate must match.
async fn tls_handshake(
    socket: TcpStream,
    host: &str,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let connector = tokio_rustls::TlsConnector::from(tls_config().clone());
    tokio::time::timeout(timeout, connector.connect(server_name, socket))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Tls)
}

/// One client configuration for every request: the webpki roots, ring's
/// default cipher suites, TLS 1.2 and 1.3, HTTP/1.1 only.
fn tls_config() -> &'static Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::new()
            .map_err(|never: std::convert::Infallible| -> Error { match never {} })
            .boxed_unsync();
        http::Request::get(uri)
            .header(http::header::HOST, "x")
            .body(body)
            .unwrap()
    }

    fn allowed(patterns: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(patterns).unwrap()
    }

    #[tokio::test]
    async fn a_wildcard_does_not_reach_loopback() {
        let wildcard = allowed(&["https://*:*", "http://*:*"]);
        for uri in [
            "https://localhost:3500/metrics",
            "http://localhost:3500/metrics",
            "http://127.0.0.1:3500/",
            "http://[::1]:3500/",
            "http://[::ffff:127.0.0.1]:3500/",
        ] {
            let refused = send(get(uri), None, &wildcard).await.err();
            assert!(
                matches!(refused, Some(Error::DestinationIpProhibited)),
                "{uri}: {refused:?}"
            );
        }
        let denied = send(get("ftp://example.com/"), None, &wildcard).await.err();
        assert!(matches!(denied, Some(Error::HttpRequestUriInvalid)));
        let denied = send(get("http://localhost/"), None, &allowed(&["https://*:*"]))
            .await
            .err();
        assert!(matches!(denied, Some(Error::HttpRequestDenied)));
    }

    #[tokio::test]
    async fn an_explicit_loopback_entry_connects_to_the_checked_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buffer = [0; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buffer).await.unwrap();
                assert!(n > 0);
                head.extend_from_slice(&buffer[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        let uri = format!("http://127.0.0.1:{port}/photo.jpg?w=1");
        let (response, connection) = send(get(&uri), None, &allowed(&["http://127.0.0.1:*"]))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /photo.jpg?w=1 HTTP/1.1\r\n"),
            "{head}"
        );
        Box::into_pin(connection).await.unwrap();
    }
}
