//! Stable client-facing addresses. For now: the memcached configuration endpoint
//! with ElastiCache auto discovery (`config get cluster`), which also forwards
//! ordinary memcached commands to a node, and the legacy discovery key.

mod discovery;
mod endpoint;
mod legacy;
mod protocol;
mod relay;
mod upstream;

pub use discovery::{config_get_cluster_reply, discovery_payload, DiscoveryConfig, DiscoveryNode};
pub use endpoint::ConfigEndpoint;
pub use legacy::{ensure_legacy_discovery_key, LEGACY_DISCOVERY_KEY};
