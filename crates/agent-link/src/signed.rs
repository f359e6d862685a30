//! A pooled HTTP client whose every request is signed with the installation's
//! secret: the control plane uses it to call agents, agents use it to join their
//! control plane, and `larder agents` to ask it about them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use larder_agent::AgentError;

use crate::auth::{now_secs, LinkSecret, SignedParts, DATE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};

/// Signed requests to one peer.
#[derive(Clone)]
pub struct SignedClient {
    addr: SocketAddr,
    secret: LinkSecret,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignedClient({})", self.addr)
    }
}

impl SignedClient {
    /// A client of the peer at `addr`.
    pub fn new(addr: SocketAddr, secret: LinkSecret) -> SignedClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        SignedClient { addr, secret, http }
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
        let date = now_secs().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = self.secret.sign(&SignedParts {
            method,
            path,
            date: &date,
            nonce: &nonce,
            body: &body,
        });
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header(DATE_HEADER, &date)
            .header(NONCE_HEADER, &nonce)
            .header(SIGNATURE_HEADER, signature)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AgentError::Unreachable(e.to_string()))?;
        let unreachable = |e: String| AgentError::Unreachable(format!("{}: {e}", self.addr));
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
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
