//! One client's connection to a cache node: opened lazily on the first node that
//! answers, dropped when that node leaves the config or the connection breaks.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::relay::read_line;
use crate::DiscoveryConfig;

/// A dead node should cost a client little before we try the next one.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Room for a 1 MB value to pass with few syscalls.
const BUFFER: usize = 64 * 1024;

struct Conn {
    node: (String, u16),
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// The node connection used by one client connection.
pub(crate) struct Upstream {
    cfg: watch::Receiver<DiscoveryConfig>,
    conn: Option<Conn>,
}

impl Upstream {
    /// No connection yet; it is opened by the first forwarded command.
    pub(crate) fn new(cfg: watch::Receiver<DiscoveryConfig>) -> Self {
        Upstream { cfg, conn: None }
    }

    /// Forgets the connection, e.g. after it broke in the middle of a reply.
    pub(crate) fn reset(&mut self) {
        self.conn = None;
    }

    /// Reader of the current connection, for relaying the rest of a reply.
    pub(crate) fn reader(&mut self) -> Option<&mut BufReader<OwnedReadHalf>> {
        self.conn.as_mut().map(|c| &mut c.reader)
    }

    /// Drops the connection if its node is no longer part of the cluster.
    fn follow_config(&mut self) {
        if !self.cfg.has_changed().unwrap_or(false) {
            return;
        }
        let cfg = self.cfg.borrow_and_update();
        if let Some(conn) = &self.conn {
            let still_member = cfg
                .nodes
                .iter()
                .any(|n| (address(n), n.port) == (conn.node.0.as_str(), conn.node.1));
            if !still_member {
                tracing::debug!(node = %conn.node.0, port = conn.node.1, "node left the config; reconnecting");
                self.conn = None;
            }
        }
    }

    /// Connects to the first node of the config that accepts.
    async fn connect(&mut self) -> bool {
        let nodes: Vec<(String, u16)> = self
            .cfg
            .borrow()
            .nodes
            .iter()
            .map(|n| (address(n).to_string(), n.port))
            .collect();
        for node in nodes {
            let dial = TcpStream::connect((node.0.as_str(), node.1));
            if let Ok(Ok(stream)) = tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                self.conn = Some(Conn {
                    node,
                    reader: BufReader::with_capacity(BUFFER, r),
                    writer: w,
                });
                return true;
            }
        }
        false
    }

    /// Sends a whole request and returns the first reply line, or None if no node
    /// could serve it. A reused connection that fails before replying is retried
    /// once on a fresh one (the node may have restarted since the last command).
    pub(crate) async fn send(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        self.follow_config();
        for _ in 0..2 {
            let fresh = self.conn.is_none();
            if fresh && !self.connect().await {
                return None;
            }
            let conn = self.conn.as_mut()?;
            match exchange(conn, request).await {
                Ok(line) => return Some(line),
                Err(e) => {
                    tracing::debug!(node = %conn.node.0, port = conn.node.1, error = %e, "node connection failed");
                    self.conn = None;
                    if fresh {
                        return None;
                    }
                }
            }
        }
        None
    }
}

/// Writes the request and reads the first reply line.
async fn exchange(conn: &mut Conn, request: &[u8]) -> std::io::Result<Vec<u8>> {
    conn.writer.write_all(request).await?;
    let mut line = Vec::new();
    read_line(&mut conn.reader, &mut line).await?;
    Ok(line)
}

/// Clients dial the IP when discovery gives one, as ElastiCache clients do.
fn address(node: &crate::DiscoveryNode) -> &str {
    if node.ip.is_empty() {
        &node.host
    } else {
        &node.ip
    }
}
