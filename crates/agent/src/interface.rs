//! The agent interface: every node-level action the control plane can ask of the
//! agent that owns a node, as one typed request enum with typed replies. The local
//! agent serves it in-process; a `larder agent` process will serve the same values
//! over an authenticated channel, which is why every request and reply is plain,
//! serde-serialisable data. New capabilities (snapshots, parameter groups, cluster
//! mode, users) are new variants, not new traits.

use std::future::Future;
use std::pin::Pin;

use larder_endpoints::DiscoveryConfig;
use serde::{Deserialize, Serialize};

use crate::{AgentError, ConfigEndpointSpec, GroupEndpointSpec, InstalledEngine, NodeSpec};

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
    /// Health probes of several nodes at once, each one as [`AgentRequest::Ping`]
    /// and all concurrently: one call per host and health interval instead of one
    /// per group primary. Replies [`AgentReply::Flags`], one per node, in order.
    PingNodes {
        /// The nodes.
        nodes: Vec<NodeRef>,
        /// Upper bound of each probe (they run together).
        timeout_ms: u64,
    },
    /// The pid of the node's process, if it runs. Replies [`AgentReply::MaybePid`].
    NodePid { key: String },
    /// The bytes the node's data takes (`used_memory` of `INFO memory`), so a scale
    /// down can be refused before a smaller limit evicts data. Replies
    /// [`AgentReply::Count`].
    UsedMemory { node: NodeRef },
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
    /// Reads a configuration parameter back (`CONFIG GET`), to check a change took.
    /// Replies [`AgentReply::Value`]: none when the node knows no such parameter.
    ConfigGet {
        /// The node.
        node: NodeRef,
        /// Parameter name.
        name: String,
    },
    /// Start a replication group's primary and reader endpoints, or re-route them when
    /// they run; the same request twice changes nothing. Replies [`AgentReply::Done`].
    GroupEndpoints(GroupEndpointSpec),
    /// Stop a group's endpoints and forget them. Replies [`AgentReply::Done`].
    RetireGroupEndpoints {
        /// ReplicationGroupId.
        group_id: String,
    },
    /// Start a memcached cluster's configuration endpoint, or publish the new
    /// membership on it when it runs. Replies [`AgentReply::Done`].
    ConfigEndpoint(ConfigEndpointSpec),
    /// Stop a cluster's configuration endpoint and forget it. Replies [`AgentReply::Done`].
    RetireConfigEndpoint {
        /// CacheClusterId.
        cluster_id: String,
    },
    /// Make the legacy discovery key (`AmazonElastiCache:cluster`) on a memcached
    /// node hold `config`. Replies [`AgentReply::Flag`]: whether it had to be written.
    LegacyDiscoveryKey {
        /// The memcached node.
        node: NodeRef,
        /// The membership to publish.
        config: DiscoveryConfig,
    },
    /// [`AgentRequest::LegacyDiscoveryKey`] for several nodes at once, all
    /// concurrently: the periodic refresh of every memcached node of a host in one
    /// call. Replies [`AgentReply::Flags`] in order: whether each key had to be
    /// written (`false` too for a node that could not be reached).
    LegacyDiscoveryKeys {
        /// Each memcached node with the membership it should publish.
        keys: Vec<(NodeRef, DiscoveryConfig)>,
    },
    /// Retire every endpoint of a group or cluster not named here and not asked for
    /// within `grace_ms`: what a host kept of deletions it missed. Replies
    /// [`AgentReply::Count`], how many were retired.
    RetainEndpoints {
        /// Every ReplicationGroupId that exists.
        group_ids: Vec<String>,
        /// Every CacheClusterId that exists.
        cluster_ids: Vec<String>,
        /// Endpoints asked for more recently are kept whatever the lists say.
        grace_ms: u64,
    },
    /// Whether a self-managed Redis (a migration source) answers `PING` as its
    /// default user. Replies [`AgentReply::Source`].
    ProbeSource {
        /// The source server.
        source: HostPort,
        /// Upper bound of the connect and of the answer.
        timeout_ms: u64,
    },
    /// The engine versions installed on the agent's host. Replies [`AgentReply::Engines`].
    InstalledEngines,
    /// Save the node's dataset as its file of `snapshot` on this host (`BGSAVE`),
    /// waiting at most `timeout_ms`; asked again, it resumes. Replies
    /// [`AgentReply::SnapshotSave`].
    SaveSnapshot {
        /// The redis node.
        node: NodeRef,
        /// SnapshotName.
        snapshot: String,
        /// Upper bound of the wait for the node's save.
        timeout_ms: u64,
    },
    /// Up to `len` bytes (at most [`crate::SNAPSHOT_CHUNK_MAX`]) of node `key`'s
    /// saved file of `snapshot`, from `offset`. Replies [`AgentReply::SnapshotChunk`].
    ReadSnapshot {
        /// SnapshotName.
        snapshot: String,
        /// The node key whose file to read.
        key: String,
        /// Where to start.
        offset: u64,
        /// How many bytes at most.
        len: u32,
    },
    /// Put a snapshot file in node `key`'s directory for its next start
    /// (`InitialData::Rdb`): bytes `hex` at `offset`, taken only when `offset` is
    /// where the staged part ends (otherwise the reply says where that is, so a
    /// restarted sender resumes). Once all `expect.size` bytes are there and their
    /// SHA-256 is `expect.sha256`, the file is complete. Replies [`AgentReply::Staged`].
    StageRestore {
        /// The node that will load the file.
        key: String,
        /// Where these bytes go.
        offset: u64,
        /// The bytes, hex-encoded (at most [`crate::SNAPSHOT_CHUNK_MAX`]).
        hex: String,
        /// The whole file's size and checksum.
        expect: larder_model::SnapshotFile,
    },
    /// Remove this host's files of `snapshot`. Replies [`AgentReply::Done`].
    DiscardSnapshot {
        /// SnapshotName.
        snapshot: String,
    },
}

/// How a snapshot save stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotSave {
    /// The file is complete on the agent's host.
    Saved(larder_model::SnapshotFile),
    /// The node is still saving; ask again.
    Pending,
}

/// How far a restore file is staged on the node's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRestore {
    /// Bytes staged so far (the whole size once complete).
    pub have: u64,
    /// The complete, verified file, for `InitialData::Rdb`.
    pub path: Option<std::path::PathBuf>,
}

/// A piece of a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// The bytes, hex-encoded (JSON has no bytes type).
    pub hex: String,
    /// Whether the file ends with this chunk.
    pub eof: bool,
}

/// What a migration source answered to `PING`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceCheck {
    /// It answered `+PONG`.
    Pong,
    /// It could not be reached, or answered something else.
    Unreachable {
        /// Why, for the user (TestMigration reports it).
        reason: String,
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
    /// A primary's replicas whose link is online, by the address they announce
    /// (their host's address, or the address they connected from) and listening port.
    pub online_replicas: Vec<HostPort>,
}

/// What the control plane checks on every pass over a group, from `INFO
/// replication` without the offsets (they move with every write, and the checks
/// on every pass do not read them): what the agent pushes with its observations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationView {
    /// The node's role.
    pub role: ReplicationRole,
    /// A replica's primary, when it names one.
    pub primary: Option<HostPort>,
    /// A replica's link to its primary is up.
    pub link_up: bool,
    /// A replica is still loading its primary's dataset (or says nothing about it).
    pub sync_in_progress: bool,
    /// A primary's online replicas, sorted (the order `INFO` lists them in means nothing).
    pub online_replicas: Vec<HostPort>,
}

impl From<&ReplicationInfo> for ReplicationView {
    fn from(info: &ReplicationInfo) -> ReplicationView {
        let mut online_replicas = info.online_replicas.clone();
        online_replicas.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        ReplicationView {
            role: info.role,
            primary: info.primary.clone(),
            link_up: info.link_up,
            sync_in_progress: info.sync_in_progress,
            online_replicas,
        }
    }
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
    /// A yes/no answer per item asked about, in order.
    Flags(Vec<bool>),
    /// A count.
    Count(usize),
    /// A process id, or none when nothing runs.
    MaybePid(Option<u32>),
    /// A value read from a node, if it had one.
    Value(Option<String>),
    /// Replication state.
    Replication(ReplicationInfo),
    /// A migration source's answer.
    Source(SourceCheck),
    /// The installed engines.
    Engines(Vec<InstalledEngine>),
    /// How a snapshot save stands.
    SnapshotSave(SnapshotSave),
    /// A piece of a snapshot file.
    SnapshotChunk(SnapshotChunk),
    /// How far a restore file is staged.
    Staged(StagedRestore),
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

    /// How long ago the agent was last heard from; `None` for an agent in this
    /// process, which cannot be out of reach. A remote agent that stops answering
    /// is how the control plane learns that a host may be gone.
    fn contact_age(&self) -> Option<std::time::Duration> {
        None
    }

    /// Node `key`'s replication state as the agent last pushed it, without a round
    /// trip; `None` when it pushed none (an older agent, a node not read yet), and
    /// then the caller asks with [`AgentRequest::ReplicationInfo`].
    fn replication_view(&self, _key: &str) -> Option<ReplicationView> {
        None
    }

    /// Whether the agent's host refused the link's last connection (nothing listens
    /// there: its process is gone while the host is up). Quicker to know than a
    /// silence, and as safe to act on: the other hosts still decide.
    fn link_refused(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use larder_endpoints::{
        ConnectionLimits, DiscoveryNode, EndpointOptions, KernelSplice, Multiplexing, RedisTargets,
    };
    use larder_model::Engine;

    fn round_trip<T>(value: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let text = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    }

    fn node() -> NodeRef {
        NodeRef {
            key: "mc-0001".into(),
            host: "127.0.0.1".into(),
            port: 7003,
        }
    }

    /// One of each endpoint, discovery and host request, with every field set away
    /// from its default so a field lost on the wire shows.
    fn endpoint_requests() -> Vec<AgentRequest> {
        let targets = RedisTargets {
            generation: 7,
            primary: None,
            replicas: vec!["127.0.0.1:7002".into(), "127.0.0.1:7004".into()],
        };
        let limits = ConnectionLimits {
            per_endpoint: 10,
            total: 20,
        };
        let config = DiscoveryConfig {
            version: 3,
            nodes: vec![DiscoveryNode {
                host: "localhost".into(),
                ip: "127.0.0.1".into(),
                port: 7003,
            }],
        };
        vec![
            AgentRequest::GroupEndpoints(GroupEndpointSpec {
                group_id: "g".into(),
                bind: "0.0.0.0".into(),
                primary_port: 7100,
                reader_port: 7101,
                options: EndpointOptions {
                    multiplexing: Multiplexing::Off,
                    kernel_splice: KernelSplice::Auto,
                    limits,
                },
                targets,
            }),
            AgentRequest::RetireGroupEndpoints {
                group_id: "g".into(),
            },
            AgentRequest::ConfigEndpoint(ConfigEndpointSpec {
                cluster_id: "mc".into(),
                bind: "127.0.0.1".into(),
                port: 7200,
                limits,
                config: config.clone(),
            }),
            AgentRequest::RetireConfigEndpoint {
                cluster_id: "mc".into(),
            },
            AgentRequest::LegacyDiscoveryKey {
                node: node(),
                config: config.clone(),
            },
            AgentRequest::LegacyDiscoveryKeys {
                keys: vec![(node(), config)],
            },
            AgentRequest::PingNodes {
                nodes: vec![node()],
                timeout_ms: 250,
            },
            AgentRequest::ProbeSource {
                source: HostPort {
                    host: "10.0.0.9".into(),
                    port: 6379,
                },
                timeout_ms: 2000,
            },
            AgentRequest::InstalledEngines,
            AgentRequest::ConfigGet {
                node: node(),
                name: "maxmemory-policy".into(),
            },
        ]
    }

    #[test]
    fn endpoint_and_host_requests_and_replies_survive_a_wire_round_trip() {
        for request in endpoint_requests() {
            round_trip(&request);
        }
        let replies = [
            AgentReply::Flag(true),
            AgentReply::Value(Some("allkeys-lru".into())),
            AgentReply::Source(SourceCheck::Pong),
            AgentReply::Source(SourceCheck::Unreachable {
                reason: "connection refused".into(),
            }),
            AgentReply::Engines(vec![InstalledEngine {
                engine: Engine::Memcached,
                version: "1.6.18".into(),
                binary: "/usr/bin/memcached".into(),
                defaults: Default::default(),
            }]),
        ];
        for reply in &replies {
            round_trip(reply);
        }
    }

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
