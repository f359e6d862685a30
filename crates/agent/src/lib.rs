//! The local node agent: owns the engine processes (redis-server, valkey-server,
//! memcached) of this host. It renders each node's config into its own directory,
//! spawns the engine detached from the daemon so nodes outlive a daemon crash,
//! adopts such survivors on the next start, probes health and stops nodes. The
//! control plane reaches it only through the agent interface ([`NodeAgent`],
//! [`AgentRequest`]), which also carries the node commands (replication, fencing,
//! `CONFIG SET`) the agent sends as Larder's own user, and the endpoints: the
//! agent runs every primary, reader and configuration endpoint of its host and
//! keeps their last routes in a state file, so they outlive the control plane.

mod access;
mod agent;
mod calls;
mod config;
mod data;
mod endpoint_host;
mod endpoint_spec;
mod engine_defaults;
mod error;
mod installed;
mod interface;
mod legacy_keys;
mod node_conn;
mod observe;
mod pidfd;
mod probe;
mod process;
pub use process::is_alive as process_is_alive;
mod redis_ops;
mod repl_watch;
mod serve;
mod snapshot_files;
pub use snapshot_files::{snapshot_file_digest, CHUNK_MAX as SNAPSHOT_CHUNK_MAX};
mod spec;
mod supervise;

pub use access::{
    admin_name, AdminSecret, ADMIN_USER, REPLICA_RULES, REPLICA_USER, RESTRICTED_COMMANDS,
};
pub use agent::LocalAgent;
pub use config::{memcached_args, redis_config};
pub use endpoint_spec::{ConfigEndpointSpec, GroupEndpointSpec};
pub use error::AgentError;
#[cfg(feature = "fake")]
pub mod fake;
pub use installed::{
    binary_for, installed_engines, port_is_free, InstalledEngine, ENGINE_BINARIES_ENV,
};
pub use interface::{
    AgentFuture, AgentReply, AgentRequest, HostPort, NodeAgent, NodeRef, ReplicationChange,
    ReplicationInfo, ReplicationRole, ReplicationView, SnapshotChunk, SnapshotSave, SourceCheck,
    StagedRestore,
};
pub use observe::Observation;
pub use spec::{connect_host, CommandLimits, InitialData, NodeSpec};
pub use supervise::RestartPolicy;
