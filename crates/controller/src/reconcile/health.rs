//! Failure detection for replication group primaries. A dead process is a failure at
//! once; a live but silent one after a few missed probes in a row, so one slow reply
//! does not cause a failover.

use std::collections::HashMap;

use larder_agent::{AgentError, AgentReply, AgentRequest};
use larder_model::{CacheCluster, Failover, NodeStatus, ReplicationGroup, ReplicationGroupStatus};
use tokio::sync::watch;

use crate::service::group_event;
use crate::Controller;

/// A failed probe: the primary's cluster and whether its process is gone (rather
/// than only silent).
type Failure = (Box<CacheCluster>, bool);

impl Controller {
    /// Probes every group's primary until shutdown. Groups are probed concurrently,
    /// so one hung primary's probe timeouts do not slow detection for the others.
    pub async fn health_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.settings().health_check_interval;
        let mut failures: HashMap<String, u32> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            self.check_hosts().await;
            let Ok(groups) = self.store().list_replication_groups() else {
                continue;
            };
            let mut probes = tokio::task::JoinSet::new();
            for g in groups {
                let me = self.clone();
                probes.spawn(async move {
                    let verdict = me.probe_primary(&g).await;
                    (g, verdict)
                });
            }
            while let Some(Ok((g, verdict))) = probes.join_next().await {
                let Some((c, dead)) = verdict else {
                    failures.remove(&g.id);
                    continue;
                };
                let misses = failures.entry(g.id.clone()).or_insert(0);
                *misses += 1;
                if !dead && *misses < self.settings().health_check_failures {
                    continue;
                }
                failures.remove(&g.id);
                if !self.failover_covers(&c) {
                    continue;
                }
                let reason = if dead {
                    "process exited"
                } else {
                    "not answering health checks"
                };
                self.start_automatic_failover(&g.id, &g.primary, reason);
            }
        }
    }

    /// One health probe of a group's primary; `None` when it answered or is not
    /// watched now (automatic failover off, or the group busy).
    pub(super) async fn probe_primary(&self, g: &ReplicationGroup) -> Option<Failure> {
        let watching = g.automatic_failover
            && g.failover.is_none()
            && matches!(
                g.status,
                ReplicationGroupStatus::Available | ReplicationGroupStatus::Modifying
            );
        let c = watching
            .then(|| self.store().get_cluster(&g.primary).ok().flatten())
            .flatten()?;
        let n = c
            .nodes
            .first()
            .filter(|n| n.status == NodeStatus::Available)?;
        if self.host_lost(n) {
            // Nobody reaches its host: as good as a process that exited.
            return Some((Box::new(c.clone()), true));
        }
        if !self.host_healthy(n) {
            // Its agent is silent but its nodes answer other hosts (or that is not
            // known yet): no verdict, so a cut to the control plane fails nothing over.
            return None;
        }
        let agent = self.agent_of(n);
        let node = self.node_ref(&c, n);
        if !agent.is_running(&node.key) {
            return Some((Box::new(c.clone()), true));
        }
        let timeout_ms = self.settings().health_check_timeout.as_millis() as u64;
        match agent.call(AgentRequest::Ping { node, timeout_ms }).await {
            Ok(AgentReply::Flag(true)) => None,
            // The agent did not answer, not the node: the host checks decide.
            Err(AgentError::Unreachable(_)) => None,
            _ => Some((Box::new(c.clone()), false)),
        }
    }

    pub(super) fn start_automatic_failover(&self, id: &str, primary: &str, reason: &str) {
        let started = self.store().transaction(|tx| {
            let Some(mut g) = tx.replication_group(id)? else {
                return Ok(false);
            };
            if g.primary != primary || g.failover.is_some() {
                return Ok(false);
            }
            g.failover = Some(Failover::new(primary, None, false, reason));
            g.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(group_event(
                id,
                format!("Primary node {primary} failed ({reason}); automatic failover started"),
            ));
            Ok(true)
        });
        if started.unwrap_or(false) {
            tracing::warn!(replication_group_id = %id, primary, reason, "automatic failover started");
            self.wake();
        }
    }
}
