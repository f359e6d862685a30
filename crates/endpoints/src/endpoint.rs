//! The configuration endpoint of a memcached cluster: answers `config get cluster`
//! itself and relays every other command to a node, one request/reply at a time.

use std::io::ErrorKind;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::protocol::{parse, Command, Reply, MAX_DATA};
use crate::relay::{read_line, relay_reply, trim_eol};
use crate::upstream::Upstream;
use crate::{config_get_cluster_reply, DiscoveryConfig};

/// Socket buffer sizes; large enough that pipelined small commands batch well.
const BUFFER: usize = 64 * 1024;

/// A running configuration endpoint; stops serving on `shutdown()` or drop.
pub struct ConfigEndpoint {
    cfg: watch::Sender<DiscoveryConfig>,
    stop: watch::Sender<bool>,
    port: u16,
}

impl ConfigEndpoint {
    /// Binds `bind:port` (0 picks a free port) and serves until shutdown or drop.
    pub async fn start(bind: &str, port: u16, cfg: DiscoveryConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind((bind, port)).await?;
        let port = listener.local_addr()?.port();
        let (cfg_tx, cfg_rx) = watch::channel(cfg);
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, cfg_rx, stop_rx));
        tracing::info!(port, "configuration endpoint listening");
        Ok(ConfigEndpoint {
            cfg: cfg_tx,
            stop: stop_tx,
            port,
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
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(stop.clone()) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (cfg, stop) = (cfg.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stopped(stop) => {}
                        result = serve(stream, cfg) => {
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

/// Serves one client connection until it quits or closes.
async fn serve(stream: TcpStream, cfg: watch::Receiver<DiscoveryConfig>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let mut client = BufReader::with_capacity(BUFFER, r);
    let mut out = BufWriter::with_capacity(BUFFER, w);
    let mut upstream = Upstream::new(cfg.clone());
    let mut line = Vec::new();
    loop {
        match read_line(&mut client, &mut line).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => {
                out.write_all(b"CLIENT_ERROR line too long\r\n").await?;
                out.flush().await?;
                return Err(e);
            }
        }
        let body = trim_eol(&line);
        match parse(body) {
            Command::ConfigGetCluster => {
                let reply = config_get_cluster_reply(&cfg.borrow());
                out.write_all(&reply).await?;
            }
            Command::Quit => break,
            Command::Reject(msg) => {
                out.write_all(msg.as_bytes()).await?;
                out.write_all(b"\r\n").await?;
            }
            Command::Forward { data, reply } => {
                forward(&mut client, &mut out, &mut upstream, body, data, reply).await?;
            }
        }
        // Pipelined input is still buffered: answer it all in one write later.
        if client.buffer().is_empty() {
            out.flush().await?;
        }
    }
    out.flush().await
}

/// Forwards one command (and its data block) and relays the node's reply.
async fn forward<R, W>(
    client: &mut R,
    out: &mut W,
    upstream: &mut Upstream,
    body: &[u8],
    data: Option<usize>,
    reply: Reply,
) -> std::io::Result<()>
where
    R: AsyncBufReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let data_len = data.map_or(0, |n| n + 2);
    if data.is_some_and(|n| n > MAX_DATA) {
        // Like memcached: swallow the value, then refuse it.
        tokio::io::copy(&mut client.take(data_len as u64), &mut tokio::io::sink()).await?;
        return out
            .write_all(b"SERVER_ERROR object too large for cache\r\n")
            .await;
    }
    let mut request = Vec::with_capacity(body.len() + 2 + data_len + 4);
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n");
    if data_len > 0 {
        let start = request.len();
        request.resize(start + data_len, 0);
        client.read_exact(&mut request[start..]).await?;
    }
    if reply == Reply::Fenced {
        // Noreply and quiet commands may or may not answer; `mn` marks where they end.
        request.extend_from_slice(b"mn\r\n");
    }
    let Some(first) = upstream.send(&request).await else {
        return out
            .write_all(b"SERVER_ERROR no cache node reachable\r\n")
            .await;
    };
    let Some(reader) = upstream.reader() else {
        return Ok(());
    };
    if let Err(e) = relay_reply(reader, out, reply, first).await {
        // The client already has part of a reply; it cannot be resynchronised.
        upstream.reset();
        return Err(e);
    }
    Ok(())
}
