//! What the control plane tells an agent about the endpoints it serves. Plain data:
//! the same values travel over the agent interface and are kept in the agent's state
//! file, so a restarted agent serves the last routes it was told.

use larder_endpoints::{ConnectionLimits, DiscoveryConfig, EndpointOptions, RedisTargets};
use serde::{Deserialize, Serialize};

/// A replication group's primary and reader endpoints and where they send clients now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEndpointSpec {
    /// ReplicationGroupId.
    pub group_id: String,
    /// Address both endpoints listen on.
    pub bind: String,
    /// Port of the PrimaryEndpoint.
    pub primary_port: u16,
    /// Port of the ReaderEndpoint.
    pub reader_port: u16,
    /// How the endpoints serve clients.
    pub options: EndpointOptions,
    /// The primary (none while a failover runs) and the replicas fit to serve reads.
    pub targets: RedisTargets,
}

impl GroupEndpointSpec {
    /// Whether `other` can be served by re-routing these listeners: everything but
    /// the targets is the same.
    pub fn same_listeners(&self, other: &GroupEndpointSpec) -> bool {
        self.group_id == other.group_id
            && self.bind == other.bind
            && self.primary_port == other.primary_port
            && self.reader_port == other.reader_port
            && self.options == other.options
    }
}

/// A memcached cluster's configuration endpoint and the membership it publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEndpointSpec {
    /// CacheClusterId.
    pub cluster_id: String,
    /// Address the endpoint listens on.
    pub bind: String,
    /// Port of the ConfigurationEndpoint.
    pub port: u16,
    /// Caps on client connections.
    pub limits: ConnectionLimits,
    /// What `config get cluster` answers.
    pub config: DiscoveryConfig,
}

impl ConfigEndpointSpec {
    /// Whether `other` can be served by publishing its config on this listener.
    pub fn same_listener(&self, other: &ConfigEndpointSpec) -> bool {
        self.cluster_id == other.cluster_id
            && self.bind == other.bind
            && self.port == other.port
            && self.limits == other.limits
    }
}
