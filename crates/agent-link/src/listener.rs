//! The agent's listener: every connection is TLS first, then HTTP/1.1 with
//! keep-alive, so a control plane pays one handshake per connection it keeps, not
//! one per call. Nothing is served in clear.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a new connection may take to finish its handshake: a peer that opens a
/// socket and says nothing (or speaks plain HTTP) holds a task no longer than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of the listener, read by `GET /v1/info` (and so `larder agent status`).
#[derive(Debug, Default)]
pub struct LinkStats {
    handshakes: AtomicU64,
    refused: AtomicU64,
}

impl LinkStats {
    /// TLS handshakes completed since the agent started.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// Connections that failed or timed out in the handshake.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Serves `app` over TLS on `listener` until the listener fails.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    stats: Arc<LinkStats>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: wait a
                // little instead of spinning, as a busy server would.
                tracing::warn!(error = %e, "link accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, error = %e, "link handshake refused");
                    return;
                }
                Err(_) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "link handshake timed out");
                    return;
                }
            };
            stats.handshakes.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "link connection");
            let service = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "link connection ended");
            }
        });
    }
}
