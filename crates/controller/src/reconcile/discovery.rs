//! Memcached auto discovery: keeps each memcached cluster's configuration endpoint
//! running, bumps the config version when membership changes, and keeps the legacy
//! `AmazonElastiCache:cluster` key current on every node.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::Arc;

use larder_agent::{AgentError, AgentReply, AgentRequest, ConfigEndpointSpec, NodeAgent, NodeRef};
use larder_endpoints::{DiscoveryConfig, DiscoveryNode};
use larder_model::{CacheCluster, ClusterStatus, Engine};

use super::settle::publish_membership;

use crate::Controller;

/// How long an unchanged configuration endpoint request is trusted before it is sent again.
const CONFIG_RESEND_AFTER: Duration = Duration::from_secs(30);

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
    /// endpoint listens by the time the cluster is available. Sent on change and
    /// again now and then (an agent that lost its state is healed), not on every
    /// pass: an idle fleet of memcached clusters must not cost a call per cluster
    /// and pass.
    pub(crate) async fn ensure_config_endpoint(&self, c: &CacheCluster) {
        let Some(spec) = self.config_endpoint_spec(c) else {
            return;
        };
        {
            let sent = self
                .inner
                .sent_config_endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if sent
                .get(&c.id)
                .is_some_and(|(s, at)| *s == spec && at.elapsed() < CONFIG_RESEND_AFTER)
            {
                return;
            }
        }
        let port = spec.port;
        match self.agent_on(None).config_endpoint(spec.clone()).await {
            Ok(()) => {
                self.inner
                    .sent_config_endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(c.id.clone(), (spec, Instant::now()));
            }
            Err(e) => {
                tracing::warn!(cache_cluster_id = %c.id, port, error = %e, "configuration endpoint not updated; will retry")
            }
        }
    }

    /// Forgets the configuration endpoint sent for `id` (retired with its cluster).
    pub(crate) fn forget_config_endpoint(&self, id: &str) {
        self.inner
            .sent_config_endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// One discovery step: publish membership changes, hand the current config to the
    /// endpoint and, when it changed, rewrite the legacy key on every node (the
    /// periodic rewrite is [`Controller::refresh_legacy_keys`]). True when the config
    /// version moved.
    pub(crate) async fn sync_discovery(&self, id: &str) -> bool {
        let bumped = self
            .store()
            .update_cluster_pure(id, |c, _| publish_membership(c))
            .unwrap_or(false);
        let Ok(Some(c)) = self.store().get_cluster(id) else {
            return bumped;
        };
        if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
            return bumped;
        }
        self.ensure_config_endpoint(&c).await;
        let cfg = self.discovery_config(&c);
        let published = self
            .inner
            .published_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied();
        if published == Some(cfg.version) {
            return bumped;
        }
        // The periodic refresh may be writing this cluster's keys right now: only one
        // writer at a time, so an older document never lands after a newer one. When
        // it is busy, the version stays unrecorded and the next pass writes it.
        let Some(_writing) = self.claim(legacy_key_claim(id)) else {
            return bumped;
        };
        self.inner
            .published_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), cfg.version);
        for n in c
            .nodes
            .iter()
            .filter(|n| c.published_members.contains(&n.cache_node_id))
        {
            let node = self.node_ref(&c, n);
            let written = self.agent_of(n).legacy_discovery_key(&node, &cfg).await;
            log_legacy_key(id, &n.cache_node_id, written);
        }
        bumped
    }

    /// Rewrites the legacy key on every published memcached node that lost it (an
    /// eviction, a node restarted empty): one call per host for all its nodes, not
    /// one per node. A cluster whose pass is writing its keys now is left to the next
    /// refresh, so the two never write them at once; the cluster's passes are not held
    /// up meanwhile (a hung node must not stall every memcached cluster's workflow).
    pub(crate) async fn refresh_legacy_keys(&self) {
        let Ok(clusters) = self.store().list_clusters() else {
            return;
        };
        let mut claimed = Vec::new();
        let mut by_host: HashMap<Option<String>, Vec<LegacyKey>> = HashMap::new();
        for c in clusters {
            let live = c.engine == Engine::Memcached
                && c.status != ClusterStatus::Deleting
                && !c.status.is_failed();
            if !live
                || !c
                    .nodes
                    .iter()
                    .any(|n| c.published_members.contains(&n.cache_node_id))
            {
                continue;
            }
            let Some(guard) = self.claim(legacy_key_claim(&c.id)) else {
                continue;
            };
            claimed.push(guard);
            let cfg = self.discovery_config(&c);
            for n in c
                .nodes
                .iter()
                .filter(|n| c.published_members.contains(&n.cache_node_id))
            {
                by_host.entry(n.host.clone()).or_default().push(LegacyKey {
                    cluster_id: c.id.clone(),
                    node_id: n.cache_node_id.clone(),
                    node: self.node_ref(&c, n),
                    config: cfg.clone(),
                });
            }
        }
        let mut hosts = tokio::task::JoinSet::new();
        for (host, keys) in by_host {
            let agent = self.agent_on(host.as_deref());
            hosts.spawn(refresh_on_host(agent, keys));
        }
        while hosts.join_next().await.is_some() {}
        drop(claimed);
    }
}

/// The in-flight key of whoever writes a cluster's legacy discovery keys.
fn legacy_key_claim(id: &str) -> String {
    format!("legacy-keys:{id}")
}

/// One legacy key to keep current.
struct LegacyKey {
    cluster_id: String,
    node_id: String,
    node: NodeRef,
    config: DiscoveryConfig,
}

/// Refreshes `keys` through one host's agent: in one call, or node by node for an
/// agent from before that call.
async fn refresh_on_host(agent: Arc<dyn NodeAgent>, keys: Vec<LegacyKey>) {
    let request = AgentRequest::LegacyDiscoveryKeys {
        keys: keys
            .iter()
            .map(|k| (k.node.clone(), k.config.clone()))
            .collect(),
    };
    match agent.call(request).await {
        Ok(AgentReply::Flags(flags)) if flags.len() == keys.len() => {
            for (k, written) in keys.iter().zip(flags) {
                log_legacy_key(&k.cluster_id, &k.node_id, Ok(written));
            }
        }
        Err(AgentError::Unreachable(e)) if !e.contains("unknown variant") => {
            tracing::debug!(error = %e, "legacy discovery keys not refreshed");
        }
        _ => {
            for k in &keys {
                let written = agent.legacy_discovery_key(&k.node, &k.config).await;
                log_legacy_key(&k.cluster_id, &k.node_id, written);
            }
        }
    }
}

fn log_legacy_key(id: &str, node: &str, written: Result<bool, AgentError>) {
    match written {
        Ok(true) => {
            tracing::debug!(cache_cluster_id = %id, node = %node, "legacy discovery key written")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::debug!(cache_cluster_id = %id, node = %node, error = %e, "legacy discovery key not written")
        }
    }
}
