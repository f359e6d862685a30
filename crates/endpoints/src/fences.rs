//! How the configuration endpoint answers `config get cluster` in the right place
//! of a pipelined stream without knowing how many replies each command gets.
//!
//! The request side sends the node a no-op in place of each `config get cluster`
//! (`mn` in the text protocol, NOOP in the binary one) and queues a fence; it
//! queues one for every no-op the client sends itself, too. The node answers every
//! no-op exactly once and in order, so the reply side, meeting a no-op reply, pops
//! the next fence: the client's own passes through, ours becomes the cluster
//! config. Everything else is bytes copied as they are.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::{config_get_cluster_reply, discovery_payload, DiscoveryConfig};

/// Fences a client may have outstanding before we stop reading its commands, so a
/// client that sends no-ops without reading replies cannot grow the queue.
const MAX_OUTSTANDING: usize = 4096;

/// Whose no-op a node's no-op reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fence {
    /// The client's own `mn` / NOOP: relay the reply.
    Client,
    /// A `config get cluster` we replaced: answer it with the config.
    Config(ConfigReply),
}

/// How a `config get cluster` is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfigReply {
    /// `CONFIG cluster 0 <len>\r\n…\r\nEND\r\n`.
    Text,
    /// A binary response to opcode 0x60 echoing the request's opaque.
    Binary { opaque: [u8; 4] },
}

/// Binary protocol opcode of `config get` in ElastiCache's memcached.
pub(crate) const BINARY_CONFIG_GET: u8 = 0x60;

impl ConfigReply {
    /// The reply bytes for the current config.
    pub(crate) fn render(&self, cfg: &DiscoveryConfig) -> Vec<u8> {
        match self {
            ConfigReply::Text => config_get_cluster_reply(cfg),
            ConfigReply::Binary { opaque } => {
                let payload = discovery_payload(cfg);
                // Extras are the 4-byte flags of a get response; the value follows.
                let body = (4 + payload.len()) as u32;
                let mut out = vec![0x81, BINARY_CONFIG_GET, 0, 0, 4, 0, 0, 0];
                out.extend_from_slice(&body.to_be_bytes());
                out.extend_from_slice(opaque);
                out.extend_from_slice(&[0; 8]);
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&payload);
                out
            }
        }
    }
}

/// The fences of one client connection, shared by its two directions.
#[derive(Default)]
pub(crate) struct Fences {
    queue: Mutex<VecDeque<Fence>>,
    popped: Notify,
}

impl Fences {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Fence>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues fences in the order their no-ops go to the node.
    pub(crate) fn push(&self, fences: &mut Vec<Fence>) {
        self.queue().extend(fences.drain(..));
    }

    /// The fence a no-op reply answers; None if the node sent one nobody asked for.
    pub(crate) fn pop(&self) -> Option<Fence> {
        let fence = self.queue().pop_front();
        self.popped.notify_one();
        fence
    }

    /// Waits while the client has too many no-ops outstanding.
    pub(crate) async fn room(&self) {
        while self.queue().len() >= MAX_OUTSTANDING {
            self.popped.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiscoveryNode;

    #[test]
    fn binary_reply_carries_the_payload_and_opaque() {
        let cfg = DiscoveryConfig {
            version: 3,
            nodes: vec![DiscoveryNode {
                host: "a".into(),
                ip: "127.0.0.1".into(),
                port: 1,
            }],
        };
        let payload = discovery_payload(&cfg);
        let reply = ConfigReply::Binary {
            opaque: [1, 2, 3, 4],
        }
        .render(&cfg);
        assert_eq!(reply.len(), 24 + 4 + payload.len());
        assert_eq!(&reply[..2], &[0x81, 0x60]);
        assert_eq!(
            u32::from_be_bytes(reply[8..12].try_into().unwrap()) as usize,
            4 + payload.len()
        );
        assert_eq!(&reply[12..16], &[1, 2, 3, 4]);
        assert_eq!(&reply[28..], payload.as_slice());
    }
}
