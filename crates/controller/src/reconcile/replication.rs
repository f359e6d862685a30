//! Replication groups: keep members attached to the current primary, keep the primary
//! and reader endpoints pointing at the right nodes, finish creates, resizes and
//! deletes. Failovers live in `failover.rs`.

use std::collections::HashSet;

use larder_agent::{
    HostPort, NodeAgent, NodeRef, ReplicationChange, ReplicationRole, ReplicationView,
};
use larder_endpoints::RedisTargets;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, NodeStatus, ReplicationGroup, ReplicationGroupStatus,
};

use crate::service::group_event;
use crate::Controller;

impl Controller {
    /// A node as its agent is asked about it: its key and where it listens.
    pub(crate) fn node_ref(&self, c: &CacheCluster, n: &CacheNode) -> NodeRef {
        NodeRef {
            key: c.node_key(&n.cache_node_id),
            host: self.node_address(n),
            port: n.port,
        }
    }

    /// Where other nodes replicate from `n`: its host's address.
    pub(crate) fn upstream(&self, n: &CacheNode) -> HostPort {
        HostPort {
            host: self.node_address(n),
            port: n.port,
        }
    }

    /// Where the endpoints reach a node for clients, as the user clients get.
    fn client_addr(&self, n: &CacheNode) -> String {
        format!("{}:{}", self.node_address(n), n.port)
    }

    /// The address the control plane's own host is dialled at: loopback for
    /// wildcard binds.
    pub(crate) fn connect_host(&self) -> String {
        larder_agent::connect_host(&self.settings().bind_host).to_string()
    }

    /// A member cluster and its single node, if it has one.
    pub(crate) fn member_node(&self, id: &str) -> Option<(CacheCluster, CacheNode)> {
        let c = self.store().get_cluster(id).ok()??;
        let n = c.nodes.first()?.clone();
        Some((c, n))
    }

    /// The address and port a primary reports `n` under when `n` replicates from it.
    fn replica_announced(&self, n: &CacheNode) -> HostPort {
        self.upstream(n)
    }

    /// Whether a member's node is running, as its host's agent last saw it.
    pub(crate) fn member_running(&self, c: &CacheCluster) -> bool {
        // A silent host's last observation stands until the host is judged lost.
        c.nodes.first().is_some_and(|n| {
            !self.host_lost(n) && self.agent_of(n).is_running(&c.node_key(&n.cache_node_id))
        })
    }

    /// What the endpoints should point at now. No primary while a failover runs, so
    /// new connections wait for the promoted node instead of reaching the old one.
    pub(crate) fn group_targets(&self, g: &ReplicationGroup) -> RedisTargets {
        // A node whose type changes keeps serving (redis takes the new limit live), so
        // it stays routed; one that restarts drops out as its process goes.
        let running = |c: &CacheCluster| {
            c.nodes
                .first()
                .is_some_and(|n| matches!(n.status, NodeStatus::Available | NodeStatus::Modifying))
                && self.member_running(c)
        };
        let serving = self
            .inner
            .serving_replicas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&g.id)
            .cloned();
        let mut primary = None;
        let mut replicas = Vec::new();
        for m in &g.members {
            let Some((c, n)) = self.member_node(m) else {
                continue;
            };
            if !running(&c) {
                continue;
            }
            if *m == g.primary {
                if g.failover.is_none() {
                    primary = Some(self.client_addr(&n));
                }
            } else if serving.as_ref().is_none_or(|s| s.contains(m)) {
                // Until the first replication check after a daemon start, running is enough.
                replicas.push(self.client_addr(&n));
            }
        }
        RedisTargets {
            generation: g.role_generation,
            primary,
            replicas,
        }
    }

    /// Points every replica at the primary and makes sure the primary is not a replica.
    /// Returns true when every replica reports a live link.
    pub(super) async fn converge_replication(
        &self,
        g: &ReplicationGroup,
        primary_upstream: Option<(&str, u16)>,
    ) -> bool {
        let Some((pc, pn)) = self.member_node(&g.primary) else {
            return false;
        };
        let primary_at = self.upstream(&pn);
        let mut all_linked = true;
        // With diskless sync the primary holds a new replica's stream until that
        // replica's first ACK (up to a second later), so the primary's view decides.
        let mut online: Vec<HostPort> = Vec::new();
        let mut replicas: Vec<HostPort> = Vec::new();
        // Replicas fit to serve reads: attached to this primary, link up, not syncing.
        let mut serving: HashSet<String> = HashSet::new();
        for m in &g.members {
            let Some((c, n)) = self.member_node(m) else {
                all_linked = false;
                continue;
            };
            if self.host_lost(&n) && *m != g.primary {
                // A replica on a lost host does not hold the group back; it is
                // attached again when its host answers.
                continue;
            }
            if n.status != NodeStatus::Available || !self.host_healthy(&n) {
                all_linked = false;
                continue;
            }
            let agent = self.agent_of(&n);
            let node = self.node_ref(&c, &n);
            let Some(info) = replication_of(agent.as_ref(), &node).await else {
                all_linked = false;
                continue;
            };
            let is_replica = info.role == ReplicationRole::Replica;
            if *m == g.primary {
                if let Some((src_host, src_port)) = primary_upstream {
                    let source = HostPort {
                        host: src_host.to_string(),
                        port: src_port,
                    };
                    if !is_replica || info.primary.as_ref() != Some(&source) {
                        tracing::info!(replication_group_id = %g.id, source = %format!("{src_host}:{src_port}"), "primary replicating from the migration source");
                        let change = ReplicationChange::AttachSource { source };
                        let _ = agent.replicate(&node, change).await;
                    }
                    continue;
                }
                online = info.online_replicas.clone();
                if info.role != ReplicationRole::Primary {
                    tracing::warn!(replication_group_id = %g.id, member = %m, "primary was a replica; promoting");
                    let _ = agent.replicate(&node, ReplicationChange::Promote).await;
                }
                continue;
            }
            replicas.push(self.replica_announced(&n));
            let attached = is_replica && info.primary.as_ref() == Some(&primary_at);
            if !attached {
                // Also fences a demoted primary that came back believing it still leads.
                tracing::info!(replication_group_id = %g.id, member = %m, "attaching replica to the primary");
                let primary = primary_at.clone();
                let _ = agent
                    .replicate(&node, ReplicationChange::Attach { primary })
                    .await;
                all_linked = false;
            } else if !info.link_up {
                all_linked = false;
            } else if !info.sync_in_progress {
                serving.insert(m.clone());
            }
        }
        self.inner
            .serving_replicas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(g.id.clone(), serving);
        if !all_linked || !replicas.iter().all(|r| online.contains(r)) {
            return false;
        }
        // The streaming check writes to the replication stream, so only when a status
        // decision waits on it, not on every pass over an available group.
        if replicas.is_empty() || g.status == ReplicationGroupStatus::Available {
            return true;
        }
        let primary = self.node_ref(&pc, &pn);
        let wait = std::time::Duration::from_millis(200);
        let agent = self.agent_of(&pn);
        let streaming = agent.streaming_replicas(&primary, replicas.len(), wait);
        matches!(streaming.await, Ok(n) if n >= replicas.len())
    }

    /// One step for a group. True when something moved.
    pub(crate) async fn group_step(&self, g: &ReplicationGroup) -> bool {
        if g.status == ReplicationGroupStatus::Deleting {
            return self.delete_group_step(g).await;
        }
        if g.status == ReplicationGroupStatus::CreateFailed {
            // Terminal: nothing is tried until DeleteReplicationGroup.
            return false;
        }
        if g.failover.is_some() {
            self.sync_group_endpoints(g).await;
            return self.failover_step(g).await;
        }
        if let Some(m) = &g.migration {
            self.sync_group_endpoints(g).await;
            return self.migration_step(g, m).await;
        }
        if let Some(u) = &g.upgrade {
            self.sync_group_endpoints(g).await;
            return self.upgrade_step(g, u).await;
        }
        if let Some(m) = &g.reboot_after_switchover {
            if self.reboot_old_primary(&g.id, m) {
                return true;
            }
        }
        if (g.pending_cache_node_type.is_some() || g.pending_upgrade.is_some())
            && self.apply_group_pending(&g.id)
        {
            return true;
        }
        let settled = self.converge_replication(g, None).await;
        self.sync_group_endpoints(g).await;
        if !settled || g.status == ReplicationGroupStatus::Available {
            return false;
        }
        let members_ready = g.members.iter().all(|m| {
            self.member_node(m)
                .is_some_and(|(c, _)| c.status == ClusterStatus::Available)
        });
        let leftovers = self
            .store()
            .list_clusters()
            .map(|all| {
                all.iter().any(|c| {
                    c.replication_group_id.as_deref() == Some(&g.id) && !g.members.contains(&c.id)
                })
            })
            .unwrap_or(true);
        if !members_ready || leftovers {
            return false;
        }
        // The last step of a group workflow; the crash-test seam applies here too.
        self.step_delay().await;
        let id = g.id.clone();
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                if cur.status == ReplicationGroupStatus::Available
                    || cur.failover.is_some()
                    || cur.status == ReplicationGroupStatus::Deleting
                {
                    return Ok(false);
                }
                let message = if cur.status == ReplicationGroupStatus::Creating {
                    "Replication group created"
                } else {
                    "Replication group modified"
                };
                cur.status = ReplicationGroupStatus::Available;
                tx.put_replication_group(&cur)?;
                tx.event(group_event(&id, message));
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Applies a node type change that waited for the group's maintenance window, once
    /// the window is open. True when applied.
    /// The switchover a reboot of the primary asked for is over: the old primary, a
    /// replica now, reboots. If the primary did not move (the switchover was given
    /// up), the reboot is not done and an event says so.
    fn reboot_old_primary(&self, id: &str, member: &str) -> bool {
        self.store()
            .transaction(|tx| {
                let Some(mut g) = tx.replication_group(id)? else {
                    return Ok(false);
                };
                if g.failover.is_some() || g.reboot_after_switchover.as_deref() != Some(member) {
                    return Ok(false);
                }
                if g.primary == member {
                    g.reboot_after_switchover = None;
                    tx.put_replication_group(&g)?;
                    tx.event(crate::service::group_event(
                        id,
                        format!("Reboot of {member} not done: the primary could not be switched away from it"),
                    ));
                    return Ok(true);
                }
                let Some(mut c) = tx.cluster(member)? else {
                    g.reboot_after_switchover = None;
                    tx.put_replication_group(&g)?;
                    return Ok(true);
                };
                if c.status != ClusterStatus::Available {
                    return Ok(false);
                }
                for n in c.nodes.iter_mut() {
                    n.status = larder_model::NodeStatus::Rebooting;
                }
                c.status = ClusterStatus::RebootingNodes;
                g.reboot_after_switchover = None;
                tx.put_cluster(&c)?;
                tx.put_replication_group(&g)?;
                tx.event(crate::service::group_event(
                    id,
                    format!("Primary moved to {}; rebooting {member}", g.primary),
                ));
                Ok(true)
            })
            .unwrap_or(false)
    }

    fn apply_group_pending(&self, id: &str) -> bool {
        let now = self.settings().clock.now();
        self.store()
            .transaction(|tx| {
                let Some(mut g) = tx.replication_group(id)? else {
                    return Ok(false);
                };
                let window =
                    larder_model::MaintenanceWindow::parse(&g.preferred_maintenance_window)?;
                if g.status != ReplicationGroupStatus::Available || !window.contains(now) {
                    return Ok(false);
                }
                // One change per pass: a node type change first; a deferred upgrade
                // starts once the group is available again.
                if let Some(t) = g.pending_cache_node_type.clone() {
                    crate::service::retype_members(tx, &mut g, &t)?;
                } else if g.pending_upgrade.is_some() && g.upgrade.is_none() {
                    crate::service::start_pending_upgrade(tx, &mut g)?;
                } else {
                    return Ok(false);
                }
                tx.put_replication_group(&g)?;
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Keeps the primary replicating from the migration source and cuts over once
    /// CompleteMigration asked and the link is in sync (or forced).
    async fn migration_step(&self, g: &ReplicationGroup, m: &larder_model::Migration) -> bool {
        self.converge_replication(g, Some((&m.address, m.port)))
            .await;
        if !m.completing {
            return false;
        }
        let Some((c, n)) = self.member_node(&g.primary) else {
            return false;
        };
        let node = self.node_ref(&c, &n);
        let agent = self.agent_of(&n);
        let Ok(info) = agent.replication_info(&node).await else {
            return false;
        };
        let in_sync = info.link_up && !info.sync_in_progress;
        if !in_sync && !m.force {
            return false;
        }
        let promote = agent.replicate(&node, ReplicationChange::Promote);
        if promote.await.is_err() {
            return false;
        }
        let id = g.id.clone();
        let source = format!("{}:{}", m.address, m.port);
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                cur.migration = None;
                cur.status = ReplicationGroupStatus::Modifying;
                tx.put_replication_group(&cur)?;
                tx.event(group_event(
                    &id,
                    format!("Migration from {source} completed"),
                ));
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Tears a deleting group down: members first (the primary kept as a standalone
    /// cluster when asked), then the endpoints, then the record. The endpoints go
    /// before the record, so a crash between the two cannot leave them listening for
    /// a group nobody remembers.
    async fn delete_group_step(&self, g: &ReplicationGroup) -> bool {
        if self.snapshot_reads(None, Some(&g.id)) {
            // A final snapshot still reads a member: it keeps running meanwhile.
            return false;
        }
        let id = g.id.clone();
        let retain = g.retain_primary_on_delete.then(|| g.primary.clone());
        let members_gone = self.store().transaction(|tx| {
            let mut remaining = false;
            for c in tx.clusters()? {
                if c.replication_group_id.as_deref() != Some(id.as_str()) {
                    continue;
                }
                if Some(&c.id) == retain.as_ref() {
                    let mut c = c;
                    c.replication_group_id = None;
                    tx.put_cluster(&c)?;
                    continue;
                }
                remaining = true;
                if c.status != ClusterStatus::Deleting {
                    let mut c = c;
                    c.status = ClusterStatus::Deleting;
                    tx.put_cluster(&c)?;
                }
            }
            Ok(!remaining)
        });
        if !members_gone.unwrap_or(false) {
            return false;
        }
        if !self.retire_group_endpoints(&id).await {
            return false;
        }
        let arn = self.settings().arn("replicationgroup", &id);
        let done = self.store().transaction(|tx| {
            let member_left = tx
                .clusters()?
                .iter()
                .any(|c| c.replication_group_id.as_deref() == Some(id.as_str()));
            if member_left || tx.replication_group(&id)?.is_none() {
                return Ok(false);
            }
            tx.delete_replication_group(&id)?;
            tx.delete_tags(&arn)?;
            tx.event(group_event(&id, "Replication group deleted"));
            Ok(true)
        });
        if done.unwrap_or(false) {
            self.inner
                .serving_replicas
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            tracing::info!(replication_group_id = %id, "replication group deleted");
            self.wake();
            return true;
        }
        false
    }

    /// The replication group a member belongs to, when it is the primary of a group
    /// whose failover can take over (automatic failover on and a replica running).
    pub(crate) fn failover_covers(&self, c: &CacheCluster) -> bool {
        let Some(gid) = &c.replication_group_id else {
            return false;
        };
        let Ok(Some(g)) = self.store().get_replication_group(gid) else {
            return false;
        };
        if g.primary != c.id || !g.automatic_failover {
            return false;
        }
        let covered = g.replicas().any(|r| {
            self.member_node(r)
                .is_some_and(|(rc, _)| self.member_running(&rc))
        });
        covered
    }

    /// The `replicaof` directive a member's node starts with.
    pub(crate) fn replication_config(&self, c: &CacheCluster) -> Vec<(String, String)> {
        let Some(gid) = &c.replication_group_id else {
            return Vec::new();
        };
        let Ok(Some(g)) = self.store().get_replication_group(gid) else {
            return Vec::new();
        };
        if g.primary == c.id {
            return Vec::new();
        }
        match self.member_node(&g.primary) {
            Some((_, n)) => vec![(
                "replicaof".into(),
                format!("{} {}", self.node_address(&n), n.port),
            )],
            None => Vec::new(),
        }
    }
}

/// A member's replication as its agent last pushed it (no round trip: this is asked
/// for every member on every pass), or asked for when the agent pushed none (an
/// older agent, a node it has not read since its start). The agent reads a node
/// again before it answers a request that changes it, and the link reads its
/// observation back after such a request, so a pushed state is never older than
/// the control plane's own last change to the node.
async fn replication_of(agent: &dyn NodeAgent, node: &NodeRef) -> Option<ReplicationView> {
    if let Some(view) = agent.replication_view(&node.key) {
        return Some(view);
    }
    let info = agent.replication_info(node).await.ok()?;
    Some(ReplicationView::from(&info))
}
