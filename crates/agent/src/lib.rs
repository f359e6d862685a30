//! The local node agent: owns the engine processes (redis-server, valkey-server,
//! memcached) of this host. It renders each node's config into its own directory,
//! spawns the engine detached from the daemon so nodes outlive a daemon crash,
//! adopts such survivors on the next start, probes health and stops nodes.

mod access;
mod agent;
mod config;
mod data;
mod error;
mod installed;
mod probe;
mod process;
mod spec;

pub use access::{
    admin_name, AdminSecret, ADMIN_USER, REPLICA_RULES, REPLICA_USER, RESTRICTED_COMMANDS,
};
pub use agent::LocalAgent;
pub use config::{memcached_args, redis_config};
pub use error::AgentError;
pub use installed::{installed_engines, port_is_free, InstalledEngine};
pub use spec::{connect_host, CommandLimits, InitialData, NodeSpec};
