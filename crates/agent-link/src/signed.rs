//! A pooled HTTP client whose every request is signed with the installation's
//! secret: the control plane uses it to call agents (over TLS, the agent's
//! certificate pinned), agents use it to join their control plane, and `larder
//! agents` to ask it about them (both on the control plane's API listener).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use larder_agent::AgentError;

use crate::auth::{now_secs, LinkSecret, SignedParts, DATE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
use crate::identity::Fingerprint;
use crate::pinning::pinned_client_config;

/// How long an unused connection stays in the pool: longer than the slowest
/// steady-state cadence of calls to an agent (restart policies are sent again every
/// 60 s), so an idle link reuses its connections instead of paying a handshake.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// How requests reach the peer.
#[derive(Clone)]
enum Transport {
    /// Plain HTTP: the control plane's API listener.
    Plain(Client<HttpConnector, Full<Bytes>>),
    /// TLS to an agent whose certificate is pinned.
    Pinned(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

/// Signed requests to one peer.
#[derive(Clone)]
pub struct SignedClient {
    addr: SocketAddr,
    secret: LinkSecret,
    transport: Transport,
}

impl std::fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedClient({})", self.addr)
    }
}

impl SignedClient {
    /// A client of the control plane's API listener at `addr` (plain HTTP: the
    /// signature authenticates, nothing is hidden).
    pub fn new(addr: SocketAddr, secret: LinkSecret) -> SignedClient {
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(tcp_connector());
        SignedClient {
            addr,
            secret,
            transport: Transport::Plain(http),
        }
    }

    /// A client of the agent at `addr` over TLS, talking only to the certificate
    /// whose fingerprint is `pin`.
    pub fn pinned(addr: SocketAddr, secret: LinkSecret, pin: Fingerprint) -> SignedClient {
        let mut tcp = tcp_connector();
        // The connector sees `https://` URIs; the TCP part must let them through.
        tcp.enforce_http(false);
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*pinned_client_config(pin)).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(tls);
        SignedClient {
            addr,
            secret,
            transport: Transport::Pinned(http),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one signed request and returns the body of a 2xx answer; anything else
    /// (no answer within `timeout`, another status) is `Unreachable` with the text.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, AgentError> {
        self.exchange(method, path, body, timeout)
            .await
            .map_err(|f| f.error)
    }

    /// [`SignedClient::send`], telling a refused connection apart from other failures.
    pub(crate) async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, SendFailure> {
        let date = now_secs().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = self.secret.sign(&SignedParts {
            method,
            path,
            date: &date,
            nonce: &nonce,
            body: &body,
        });
        let scheme = match self.transport {
            Transport::Plain(_) => "http",
            Transport::Pinned(_) => "https",
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{scheme}://{}{path}", self.addr))
            .header(DATE_HEADER, &date)
            .header(NONCE_HEADER, &nonce)
            .header(SIGNATURE_HEADER, signature)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendFailure::other(AgentError::Unreachable(e.to_string())))?;
        let unreachable =
            |e: String| SendFailure::other(AgentError::Unreachable(format!("{}: {e}", self.addr)));
        let exchange = async {
            let response = match &self.transport {
                Transport::Plain(c) => c.request(request).await,
                Transport::Pinned(c) => c.request(request).await,
            }
            .map_err(|e| SendFailure {
                refused: is_refused(&e),
                ..unreachable(error_chain(&e))
            })?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes).to_string();
                return Err(unreachable(format!("{status}: {text}")));
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
    }
}

/// A request that got no answer.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// What went wrong, as callers of [`SignedClient::send`] see it.
    pub error: AgentError,
    /// The peer's host refused the connection: nothing listens on the port (its
    /// process is gone, the host is up). A timeout or a dropped connection is not
    /// this: they may be a cut link or a connection the pool held too long.
    pub refused: bool,
}

impl SendFailure {
    fn other(error: AgentError) -> SendFailure {
        SendFailure {
            error,
            refused: false,
        }
    }
}

/// Whether `e` (or one of its causes) is a refused TCP connect.
fn is_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

fn tcp_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    connector.set_nodelay(true);
    connector
}

/// The error with its causes: hyper's own text ("client error (Connect)") hides
/// what went wrong, such as a certificate that does not match its pin.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(addr: SocketAddr) -> SignedClient {
        let pin: Fingerprint = "0".repeat(64).parse().expect("a fingerprint");
        SignedClient::pinned(addr, LinkSecret::new("s"), pin)
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_is_refused_and_a_silent_peer_is_not() {
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = gone.local_addr().unwrap();
        drop(gone);
        let wait = Duration::from_secs(5);
        let failure = client(addr)
            .exchange("GET", "/v1/info", Vec::new(), wait)
            .await
            .expect_err("nothing listens");
        assert!(failure.refused, "{:?}", failure.error);

        // Accepts and never answers: a cut link looks like this, not like a refusal.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let failure = client(addr)
            .exchange("GET", "/v1/info", Vec::new(), Duration::from_millis(200))
            .await
            .expect_err("no answer");
        assert!(!failure.refused, "{:?}", failure.error);
        drop(silent);
    }
}
