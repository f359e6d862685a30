//! Stable client-facing addresses: the memcached configuration endpoint with
//! ElastiCache auto discovery (`config get cluster`), which also forwards ordinary
//! memcached commands to a node, the legacy discovery key, and the Redis primary
//! and reader endpoints that follow failover.

mod binary_frames;
mod c_number;
mod config_session;
mod data_plane;
mod discovery;
mod endpoint;
mod fences;
mod forwarder;
mod handshake;
mod in_flight;
mod legacy;
mod limits;
mod mux;
mod resp;
mod session;
mod shareable;
mod sockmap;
mod splice;
mod text_replies;
mod text_requests;
mod upstream;

#[doc(hidden)]
pub use data_plane::{hold_data_plane, DataPlaneHold};
pub use discovery::{config_get_cluster_reply, discovery_payload, DiscoveryConfig, DiscoveryNode};
pub use endpoint::ConfigEndpoint;
pub use forwarder::{
    EndpointOptions, EndpointRole, KernelSplice, Multiplexing, RedisEndpoint, RedisTargets,
    CONNECT_TIMEOUT, COPY_BUFFER, WAIT_FOR_TARGET,
};
pub use legacy::{
    ensure_legacy_discovery_key, ensure_legacy_discovery_key_on, legacy_key_conn, LegacyKeyConn,
    LEGACY_DISCOVERY_KEY,
};
pub use limits::{ConnectionLimits, DEFAULT_MAX_CONNECTIONS};
pub use splice::SpliceStats;
