//! Memcached auto discovery: keeps each memcached cluster's configuration endpoint
//! running, bumps the config version when membership changes, and keeps the legacy
//! `AmazonElastiCache:cluster` key current on every node.

use std::net::ToSocketAddrs;

use larder_endpoints::{
    ensure_legacy_discovery_key, ConfigEndpoint, DiscoveryConfig, DiscoveryNode,
};
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
        let host = self.settings().advertise_host.clone();
        let ip = resolve_ip(&host);
        let nodes = c
            .nodes
            .iter()
            .filter(|n| c.published_members.contains(&n.cache_node_id))
            .map(|n| DiscoveryNode {
                host: host.clone(),
                ip: ip.clone(),
                port: n.port,
            })
            .collect();
        DiscoveryConfig {
            version: c.config_version,
            nodes,
        }
    }

    /// Starts the configuration endpoint of a memcached cluster if it is not running,
    /// before any node is published, so it listens by the time the cluster is available.
    pub(crate) async fn ensure_config_endpoint(&self, c: &CacheCluster) {
        let Some(port) = c.configuration_endpoint_port else {
            return;
        };
        if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
            return;
        }
        let mut eps = self.inner.config_endpoints.lock().await;
        if eps.contains_key(&c.id) {
            return;
        }
        let settings = self.settings();
        let started = ConfigEndpoint::start_with(
            &settings.bind_host,
            port,
            self.discovery_config(c),
            settings.endpoint_limits,
        );
        match started.await {
            Ok(ep) => {
                tracing::info!(cache_cluster_id = %c.id, port, "configuration endpoint listening");
                eps.insert(c.id.clone(), ep);
            }
            Err(e) => {
                tracing::warn!(cache_cluster_id = %c.id, port, error = %e, "configuration endpoint failed to start")
            }
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
        let changed = {
            let eps = self.inner.config_endpoints.lock().await;
            let mut last = self
                .inner
                .published_versions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(ep) = eps.get(id) {
                ep.update(cfg.clone());
            }
            last.insert(id.to_string(), cfg.version) != Some(cfg.version)
        };
        if changed || refresh_legacy_keys {
            for n in c
                .nodes
                .iter()
                .filter(|n| c.published_members.contains(&n.cache_node_id))
            {
                // Still the controller's own connection (memcached, no credentials); it
                // moves behind the agent interface with the endpoints.
                let addr = format!("{}:{}", self.connect_host(), n.port);
                match ensure_legacy_discovery_key(&addr, &cfg).await {
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
