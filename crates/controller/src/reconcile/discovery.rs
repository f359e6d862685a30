//! Memcached auto discovery: keeps each memcached cluster's configuration endpoint
//! running, bumps the config version when membership changes, and keeps the legacy
//! `AmazonElastiCache:cluster` key current on every node.

use std::net::ToSocketAddrs;

use larder_agent::ConfigEndpointSpec;
use larder_endpoints::{DiscoveryConfig, DiscoveryNode};
use larder_model::{CacheCluster, ClusterStatus, Engine};

use super::settle::publish_membership;

use crate::Controller;

/// The IP clients should dial for a host name; the name itself when it does not resolve.
fn resolve_ip(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_string();
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| host.to_string())
}

impl Controller {
    fn discovery_config(&self, c: &CacheCluster) -> DiscoveryConfig {
        let nodes = c
            .nodes
            .iter()
            .filter(|n| c.published_members.contains(&n.cache_node_id))
            .map(|n| {
                let host = self.node_endpoint_address(n);
                DiscoveryNode {
                    ip: resolve_ip(&host),
                    host,
                    port: n.port,
                }
            })
            .collect();
        DiscoveryConfig {
            version: c.config_version,
            nodes,
        }
    }

    /// What a memcached cluster's configuration endpoint should publish now.
    fn config_endpoint_spec(&self, c: &CacheCluster) -> Option<ConfigEndpointSpec> {
        let port = c.configuration_endpoint_port?;
        if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
            return None;
        }
        Some(ConfigEndpointSpec {
            cluster_id: c.id.clone(),
            bind: self.settings().bind_host.clone(),
            port,
            limits: self.settings().endpoint_limits,
            config: self.discovery_config(c),
        })
    }

    /// Tells the agent to run the configuration endpoint of a memcached cluster with
    /// its current membership. Called before any node is published too, so the
    /// endpoint listens by the time the cluster is available.
    pub(crate) async fn ensure_config_endpoint(&self, c: &CacheCluster) {
        let Some(spec) = self.config_endpoint_spec(c) else {
            return;
        };
        let port = spec.port;
        if let Err(e) = self.agent_on(None).config_endpoint(spec).await {
            tracing::warn!(cache_cluster_id = %c.id, port, error = %e, "configuration endpoint not updated; will retry");
        }
    }

    /// One discovery step: publish membership changes, hand the current config to the
    /// endpoint and, when it changed or on the periodic refresh, rewrite the legacy key
    /// on every node. True when the config version moved.
    pub(crate) async fn sync_discovery(&self, id: &str, refresh_legacy_keys: bool) -> bool {
        let bumped = self
            .store()
            .update_cluster(id, |c, _| Ok(publish_membership(c)))
            .unwrap_or(false);
        let Ok(Some(c)) = self.store().get_cluster(id) else {
            return bumped;
        };
        if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
            return bumped;
        }
        self.ensure_config_endpoint(&c).await;
        let cfg = self.discovery_config(&c);
        let changed = self
            .inner
            .published_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), cfg.version)
            != Some(cfg.version);
        if changed || refresh_legacy_keys {
            for n in c
                .nodes
                .iter()
                .filter(|n| c.published_members.contains(&n.cache_node_id))
            {
                let node = self.node_ref(&c, n);
                match self.agent_of(n).legacy_discovery_key(&node, &cfg).await {
                    Ok(true) => {
                        tracing::debug!(cache_cluster_id = %id, node = %n.cache_node_id, "legacy discovery key written")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::debug!(cache_cluster_id = %id, node = %n.cache_node_id, error = %e, "legacy discovery key not written")
                    }
                }
            }
        }
        bumped
    }
}
