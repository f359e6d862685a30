//! Memcached auto discovery: keeps each memcached cluster's configuration endpoint
//! running, bumps the config version when membership changes, and keeps the legacy
//! `AmazonElastiCache:cluster` key current on every node.

use std::net::ToSocketAddrs;

use larder_endpoints::{
    ensure_legacy_discovery_key, ConfigEndpoint, DiscoveryConfig, DiscoveryNode,
};
use larder_model::{CacheCluster, ClusterStatus, Engine, NodeStatus};

use crate::Controller;

/// Nodes clients may be told about: members that have finished starting.
fn published(c: &CacheCluster) -> Vec<String> {
    c.nodes
        .iter()
        .filter(|n| !matches!(n.status, NodeStatus::Creating | NodeStatus::Deleting))
        .map(|n| n.cache_node_id.clone())
        .collect()
}

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

    /// One discovery step for a cluster. True when the config version moved.
    pub(crate) async fn sync_discovery(&self, id: &str, refresh_legacy_keys: bool) -> bool {
        let bumped = self.store().update_cluster(id, |c, _| {
            if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
                return Ok(false);
            }
            let now = published(c);
            if now.is_empty() || now == c.published_members {
                return Ok(false);
            }
            c.config_version += 1;
            c.published_members = now;
            Ok(true)
        });
        let bumped = bumped.unwrap_or(false);
        let Ok(Some(c)) = self.store().get_cluster(id) else {
            return bumped;
        };
        let Some(port) = c.configuration_endpoint_port else {
            return bumped;
        };
        if c.status == ClusterStatus::Deleting || c.published_members.is_empty() {
            return bumped;
        }
        let cfg = self.discovery_config(&c);
        {
            let mut eps = self.inner.config_endpoints.lock().await;
            match eps.get(id) {
                Some(ep) => ep.update(cfg.clone()),
                None => match ConfigEndpoint::start(&self.settings().bind_host, port, cfg.clone())
                    .await
                {
                    Ok(ep) => {
                        tracing::info!(cache_cluster_id = %id, port, "configuration endpoint listening");
                        eps.insert(id.to_string(), ep);
                    }
                    Err(e) => {
                        tracing::warn!(cache_cluster_id = %id, port, error = %e, "configuration endpoint failed to start")
                    }
                },
            }
        }
        if bumped || refresh_legacy_keys {
            for n in c
                .nodes
                .iter()
                .filter(|n| c.published_members.contains(&n.cache_node_id))
            {
                let addr = format!("{}:{}", connect_host(&self.settings().bind_host), n.port);
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

/// Where the daemon itself reaches a node: loopback for wildcard binds.
fn connect_host(bind: &str) -> String {
    match bind {
        "0.0.0.0" | "" => "127.0.0.1".into(),
        "::" => "[::1]".into(),
        b => b.into(),
    }
}
