//! The agent interface: every node-level action the control plane can ask of the
//! agent that owns a node, as one typed request enum with typed replies. The local
//! agent serves it in-process; a `larder agent` process will serve the same values
//! over an authenticated channel, which is why every request and reply is plain,
//! serde-serialisable data. New capabilities (snapshots, parameter groups, cluster
//! mode, users) are new variants, not new traits.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::{AgentError, NodeSpec};

/// A node the control plane addresses: its key on the agent and where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeRef {
    /// The node key (cluster id + node id), as in [`NodeSpec::key`].
    pub key: String,
    /// The address the agent dials the node at.
    pub host: String,
    /// The node's port.
    pub port: u16,
}

/// A `host:port` another node replicates from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostPort {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A change to a node's place in replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationChange {
    /// Replicate from another Larder node, authenticating as Larder's replication user.
    Attach {
        /// The primary to follow.
        primary: HostPort,
    },
    /// Replicate from a self-managed Redis (a migration source) as its default user.
    AttachSource {
        /// The source server.
        source: HostPort,
    },
    /// Stop replicating and accept writes (`REPLICAOF NO ONE`).
    Promote,
    /// Hold every client write for at most `ms` (reads keep working).
    PauseWrites {
        /// Upper bound of the pause.
        ms: u64,
    },
    /// Lift a write pause.
    Unpause,
}

/// Every action the control plane asks of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentRequest {
    /// Start the node (or adopt its running process). Replies [`AgentReply::Pid`].
    StartNode(NodeSpec),
    /// Wait until the node answers its health probe. Replies [`AgentReply::Done`].
    WaitReady {
        /// The node.
        spec: NodeSpec,
        /// How long to wait.
        timeout_ms: u64,
    },
    /// Stop and start the node with the same directory. Replies [`AgentReply::Pid`].
    RestartNode(NodeSpec),
    /// Stop the node (SIGTERM, then SIGKILL). Replies [`AgentReply::Done`].
    StopNode {
        /// Node key.
        key: String,
    },
    /// Delete a stopped node's directory. Replies [`AgentReply::Done`].
    RemoveData {
        /// Node key.
        key: String,
    },
    /// Kill the node's process at once and wait for it to exit, so a hung primary
    /// can never wake up as a second one. Replies [`AgentReply::Done`].
    Fence {
        /// Node key.
        key: String,
    },
    /// Whether nothing listens on `bind:port`. Replies [`AgentReply::Flag`].
    PortFree {
        /// Bind address.
        bind: String,
        /// Port.
        port: u16,
    },
    /// A health probe (`PING`) bounded by `timeout_ms`. Replies [`AgentReply::Flag`].
    Ping {
        /// The node.
        node: NodeRef,
        /// Upper bound of the probe.
        timeout_ms: u64,
    },
    /// The node's replication state. Replies [`AgentReply::Replication`].
    ReplicationInfo {
        /// The node.
        node: NodeRef,
    },
    /// Change the node's replication. Replies [`AgentReply::Done`].
    Replication {
        /// The node.
        node: NodeRef,
        /// What to change.
        change: ReplicationChange,
    },
    /// How many replicas have the primary's replication stream flowing: a write to
    /// the stream, then `WAIT`. Replies [`AgentReply::Count`].
    StreamingReplicas {
        /// The primary.
        node: NodeRef,
        /// How many replicas to wait for.
        replicas: usize,
        /// Upper bound of the wait.
        timeout_ms: u64,
    },
    /// What the agent does on its own when the node's process dies (see
    /// `supervise.rs`). Replies [`AgentReply::Done`].
    Supervise {
        /// Node key.
        key: String,
        /// The policy.
        policy: crate::RestartPolicy,
    },
    /// A dynamic configuration change (`CONFIG SET`). Replies [`AgentReply::Done`].
    ConfigSet {
        /// The node.
        node: NodeRef,
        /// Parameter name.
        name: String,
        /// New value.
        value: String,
    },
}

/// A node's role in replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationRole {
    /// Accepts writes (`role:master`).
    Primary,
    /// Follows another node (`role:slave`).
    Replica,
    /// Anything else the node reported.
    Unknown,
}

/// What the controller needs from `INFO replication`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationInfo {
    /// The node's role.
    pub role: ReplicationRole,
    /// The data it has: its own offset as a primary, the processed one as a replica
    /// (-1 when unknown).
    pub offset: i64,
    /// A replica's primary, when it names one.
    pub primary: Option<HostPort>,
    /// A replica's link to its primary is up.
    pub link_up: bool,
    /// A replica is still loading its primary's dataset (or says nothing about it).
    pub sync_in_progress: bool,
    /// A primary's replicas whose link is online, by listening port.
    pub online_replica_ports: Vec<u16>,
}

/// The typed result of an [`AgentRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentReply {
    /// The action is done.
    Done,
    /// The node's process id.
    Pid(u32),
    /// A yes/no answer.
    Flag(bool),
    /// A count.
    Count(usize),
    /// Replication state.
    Replication(ReplicationInfo),
}

/// The future an agent answers a request with.
pub type AgentFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AgentReply, AgentError>> + Send + 'a>>;

/// Whoever owns a host's nodes: the in-process [`crate::LocalAgent`], a remote
/// `larder agent` later, or a fake in unit tests.
pub trait NodeAgent: Send + Sync + 'static {
    /// Carries out one request.
    fn call(&self, request: AgentRequest) -> AgentFuture<'_>;

    /// Whether the node's process exists, from the agent's latest observation and
    /// without a round trip (the hot paths ask it on every pass).
    fn is_running(&self, key: &str) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_survive_a_wire_round_trip() {
        let node = NodeRef {
            key: "g-001-0001".into(),
            host: "127.0.0.1".into(),
            port: 7001,
        };
        let request = AgentRequest::Replication {
            node,
            change: ReplicationChange::Attach {
                primary: HostPort {
                    host: "127.0.0.1".into(),
                    port: 7002,
                },
            },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<AgentRequest>(&text).unwrap(),
            request
        );
        let reply = AgentReply::Count(2);
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<AgentReply>(&text).unwrap(), reply);
    }
}
