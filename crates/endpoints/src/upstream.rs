//! The node a configuration endpoint client is relayed to: the first node of the
//! current config that accepts, as a client resolving the configuration
//! endpoint's DNS name would reach one node.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::{DiscoveryConfig, DiscoveryNode};

/// A dead node should cost a client little before we try the next one.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Connects to the first node of `cfg` that accepts; None if none does.
pub(crate) async fn connect(cfg: &DiscoveryConfig) -> Option<TcpStream> {
    for node in &cfg.nodes {
        let dial = TcpStream::connect((address(node), node.port));
        match tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
            failure => {
                tracing::debug!(node = %node.host, port = node.port, ?failure, "node did not accept")
            }
        }
    }
    None
}

/// Clients dial the IP when discovery gives one, as ElastiCache clients do.
fn address(node: &DiscoveryNode) -> &str {
    if node.ip.is_empty() {
        &node.host
    } else {
        &node.ip
    }
}
