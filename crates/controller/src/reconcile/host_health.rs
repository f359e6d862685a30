//! Whether each joined host is there. A host whose agent stops answering is not
//! lost by that alone: the control plane may be the one cut off. So when an agent
//! has been silent for [`crate::hosts::UNREACHABLE_AFTER`], every other agent that does answer
//! (the control plane's own host included, where the endpoints clients use run)
//! is asked to `PING` the silent host's redis nodes. If any of them gets an
//! answer, the host is **partitioned** from the control plane only: its nodes keep
//! serving, nothing fails over, nothing is restarted. If none does, the host is
//! **lost**, as a zone failure is: its primaries fail over to replicas on other
//! hosts and its nodes are reported lost. A lost host that answers again rejoins:
//! its nodes are attached to their groups' current primaries (never a second
//! primary), and its agent is sent every endpoint route again.
//!
//! The control plane's own host is not judged this way (nothing else could stand
//! in for it); its nodes are watched by the node health checks as before.

use std::collections::HashMap;

use larder_model::{CacheCluster, ClusterStatus, Event, LOCAL_HOST};

use crate::hosts::{answers, HostEntry};
use crate::Controller;

/// What the control plane believes of a joined host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostHealth {
    /// Its agent answers.
    Healthy,
    /// Its agent is silent but other hosts reach its nodes.
    Partitioned,
    /// Its agent is silent and nobody reaches its nodes.
    Lost,
}

impl HostHealth {
    fn as_str(self) -> &'static str {
        match self {
            HostHealth::Healthy => "healthy",
            HostHealth::Partitioned => "partitioned",
            HostHealth::Lost => "lost",
        }
    }
}

impl Controller {
    /// The health of host `id` as last judged (`Healthy` for the local host and for
    /// a host not judged yet whose agent answers).
    pub(crate) fn host_health(&self, id: Option<&str>) -> HostHealth {
        let Some(id) = id.filter(|id| *id != LOCAL_HOST) else {
            return HostHealth::Healthy;
        };
        let entry = self.hosts().get(Some(id));
        if let Some(e) = entry.filter(|e| !e.dialled) {
            // Not connected since this control plane started: nothing is done there
            // until it answers, and nothing judged until it had the time to.
            if e.answers() {
                return HostHealth::Partitioned;
            }
        }
        let judged = self
            .inner
            .host_health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied();
        match judged {
            Some(h) => h,
            None if !answers(self.agent_on(Some(id)).as_ref()) => {
                // Silent and not judged yet: nothing is decided about it, nothing done on it.
                HostHealth::Partitioned
            }
            None => HostHealth::Healthy,
        }
    }

    /// Whether `n`'s host answers the control plane (steps can be carried out there).
    pub(crate) fn host_healthy(&self, n: &larder_model::CacheNode) -> bool {
        self.host_health(n.host.as_deref()) == HostHealth::Healthy
    }

    /// Whether `n`'s host is judged lost.
    pub(crate) fn host_lost(&self, n: &larder_model::CacheNode) -> bool {
        self.host_health(n.host.as_deref()) == HostHealth::Lost
    }

    /// Judges every joined host once; called by the health loop.
    pub(crate) async fn check_hosts(&self) {
        let joined: Vec<HostEntry> = self
            .hosts()
            .all()
            .into_iter()
            .filter(|h| h.host.id != LOCAL_HOST)
            .collect();
        let all_well = joined
            .iter()
            .all(|h| h.answers() && self.host_health(Some(&h.host.id)) == HostHealth::Healthy);
        if all_well {
            // The common case costs no store read.
            return;
        }
        let Ok(clusters) = self.store().list_clusters() else {
            return;
        };
        for host in joined {
            // What was judged last (a host never judged was healthy), not what
            // `host_health` assumes of a silent host meanwhile.
            let before = self
                .inner
                .host_health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&host.host.id)
                .copied()
                .unwrap_or(HostHealth::Healthy);
            let silent = !host.answers();
            let now = match (silent, before) {
                (false, _) => HostHealth::Healthy,
                // Lost stays lost until its agent answers again: its primaries may
                // have failed over, and only a rejoin through the agent is safe.
                (true, HostHealth::Lost) => HostHealth::Lost,
                (true, _) if self.others_reach(&host, &clusters).await => HostHealth::Partitioned,
                (true, _) => HostHealth::Lost,
            };
            self.inner
                .host_health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(host.host.id.clone(), now);
            if now != before {
                self.host_changed(&host, before, now, &clusters);
                if now == HostHealth::Lost {
                    self.fail_over_decided();
                }
            }
        }
    }

    /// Whether any other answering agent gets a reply from one of `host`'s redis
    /// nodes. A host without redis nodes has nothing to ask about.
    async fn others_reach(&self, host: &HostEntry, clusters: &[CacheCluster]) -> bool {
        let nodes: Vec<_> = clusters
            .iter()
            .filter(|c| c.engine.is_redis_like() && c.status != ClusterStatus::Deleting)
            .flat_map(|c| c.nodes.iter().map(move |n| (c, n)))
            .filter(|(_, n)| n.host.as_deref() == Some(host.host.id.as_str()))
            .map(|(c, n)| self.node_ref(c, n))
            .collect();
        if nodes.is_empty() {
            return false;
        }
        let timeout = self.settings().health_check_timeout;
        let mut asks = tokio::task::JoinSet::new();
        for witness in self.hosts().all() {
            let answers = witness.answers();
            if witness.host.id == host.host.id || !answers {
                continue;
            }
            for node in nodes.clone() {
                let agent = witness.agent.clone();
                asks.spawn(async move { agent.ping(&node, timeout).await });
            }
        }
        let mut reached = false;
        while let Some(r) = asks.join_next().await {
            reached |= r.unwrap_or(false);
        }
        reached
    }

    /// Records a host's change of health with an event on every cluster it runs
    /// nodes of, and lets the loop act on it at once.
    fn host_changed(
        &self,
        host: &HostEntry,
        before: HostHealth,
        now: HostHealth,
        clusters: &[CacheCluster],
    ) {
        let id = &host.host.id;
        let zone = host.host.zones.join(",");
        tracing::warn!(host = %id, zone = %zone, from = before.as_str(), to = now.as_str(), "host health changed");
        let mut per_cluster: HashMap<&str, Vec<&str>> = HashMap::new();
        for c in clusters {
            for n in c
                .nodes
                .iter()
                .filter(|n| n.host.as_deref() == Some(id.as_str()))
            {
                per_cluster.entry(&c.id).or_default().push(&n.cache_node_id);
            }
        }
        let mut events = Vec::new();
        for (cluster, nodes) in per_cluster {
            let nodes = nodes.join(",");
            let message = match now {
                HostHealth::Lost => format!(
                    "Cache node {nodes} lost: host {id} ({zone}) answers neither the control plane nor the other hosts"
                ),
                HostHealth::Partitioned => format!(
                    "Host {id} ({zone}) does not answer the control plane, but cache node {nodes} answers the other hosts; no failover"
                ),
                HostHealth::Healthy if before == HostHealth::Lost => format!(
                    "Host {id} ({zone}) answers again; cache node {nodes} rejoins"
                ),
                HostHealth::Healthy => format!(
                    "Host {id} ({zone}) answers the control plane again"
                ),
            };
            events.push(Event::cache_cluster(cluster, message));
        }
        if let Err(e) = self.store().append_events(&events) {
            tracing::warn!(host = %id, error = %e, "host events not recorded");
        }
        if now == HostHealth::Healthy {
            // It may have restarted with routes older than what happened meanwhile.
            self.forget_sent_to(id);
            self.forget_sent_policies();
        }
        self.wake();
    }
}
