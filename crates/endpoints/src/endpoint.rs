//! The configuration endpoint of a memcached cluster: answers `config get cluster`
//! itself and relays everything else to a node byte for byte (see `config_session`).

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config_session;
use crate::limits::{Admission, ConnectionLimits, MEMCACHED_FULL};
use crate::DiscoveryConfig;

/// A running configuration endpoint; stops serving on `shutdown()` or drop.
pub struct ConfigEndpoint {
    cfg: watch::Sender<DiscoveryConfig>,
    stop: watch::Sender<bool>,
    port: u16,
    admission: Admission,
}

impl ConfigEndpoint {
    /// Binds `bind:port` (0 picks a free port) and serves until shutdown or drop.
    pub async fn start(bind: &str, port: u16, cfg: DiscoveryConfig) -> std::io::Result<Self> {
        Self::start_with(bind, port, cfg, ConnectionLimits::default()).await
    }

    /// As `start`, with caps on client connections.
    pub async fn start_with(
        bind: &str,
        port: u16,
        cfg: DiscoveryConfig,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((bind, port)).await?;
        let port = listener.local_addr()?.port();
        let (cfg_tx, cfg_rx) = watch::channel(cfg);
        let (stop_tx, stop_rx) = watch::channel(false);
        let admission = Admission::new(limits);
        tokio::spawn(accept_loop(listener, cfg_rx, stop_rx, admission.clone()));
        tracing::info!(port, "configuration endpoint listening");
        Ok(ConfigEndpoint {
            cfg: cfg_tx,
            stop: stop_tx,
            port,
            admission,
        })
    }

    /// Publishes a new cluster config to all current and future connections.
    pub fn update(&self, cfg: DiscoveryConfig) {
        self.cfg.send_replace(cfg);
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Client connections served now.
    pub fn connections(&self) -> usize {
        self.admission.connections()
    }

    /// Stops accepting and closes every client connection.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for ConfigEndpoint {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Resolves once shutdown is requested or the endpoint is gone.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender was dropped, which is a shutdown too.
    let _ = stop.wait_for(|&s| s).await;
}

async fn accept_loop(
    listener: TcpListener,
    cfg: watch::Receiver<DiscoveryConfig>,
    stop: watch::Receiver<bool>,
    admission: Admission,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(stop.clone()) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(permit) = admission.admit() else {
                    tracing::warn!(%peer, "configuration endpoint full; refusing client");
                    tokio::spawn(refuse(stream));
                    continue;
                };
                let (cfg, stop) = (cfg.clone(), stop.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    tokio::select! {
                        _ = stopped(stop) => {}
                        result = config_session::serve(stream, cfg) => {
                            if let Err(e) = result {
                                tracing::debug!(%peer, error = %e, "client connection ended");
                            }
                        }
                    }
                });
            }
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Tells a client over the cap what memcached tells it, and closes.
async fn refuse(mut stream: TcpStream) {
    let _ = stream.write_all(MEMCACHED_FULL).await;
}
