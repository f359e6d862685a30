//! TestFailover and ModifyReplicationGroup: both may start a planned primary change.

use larder_model::requests::ModifyReplicationGroup;
use larder_model::{
    ClusterStatus, Failover, Fault, NodeStatus, ReplicationGroup, ReplicationGroupStatus,
};

use super::{group_event, require_group_available};
use crate::Controller;
use larder_store::Tx;

/// The only node group a cluster-mode-disabled group has.
pub const NODE_GROUP_ID: &str = "0001";

/// Moves every member to node type `t` online (Redis takes the new memory limit
/// live) and marks the group `modifying` until they are done.
pub(crate) fn retype_members(
    tx: &mut Tx<'_>,
    g: &mut ReplicationGroup,
    t: &str,
) -> Result<(), Fault> {
    g.cache_node_type = t.to_string();
    g.pending_cache_node_type = None;
    for m in &g.members {
        let Some(mut c) = tx.cluster(m)? else {
            continue;
        };
        c.cache_node_type = t.to_string();
        c.pending.cache_node_type = None;
        for n in c.nodes.iter_mut() {
            n.status = NodeStatus::Modifying;
        }
        c.status = ClusterStatus::Modifying;
        tx.put_cluster(&c)?;
    }
    g.status = ReplicationGroupStatus::Modifying;
    tx.event(group_event(
        &g.id,
        format!("Scaling replication group to node type {t}"),
    ));
    Ok(())
}

impl Controller {
    /// Starts a planned failover to the most up-to-date replica.
    pub fn test_failover(&self, id: &str, node_group_id: &str) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            if node_group_id != NODE_GROUP_ID {
                return Err(Fault::NodeGroupNotFound(format!(
                    "Node group {node_group_id} not found in {id}."
                )));
            }
            require_group_available(&g)?;
            if !g.automatic_failover {
                return Err(Fault::InvalidReplicationGroupState(format!(
                    "Replication group {id} does not have automatic failover enabled."
                )));
            }
            if g.replicas().next().is_none() {
                return Err(Fault::TestFailoverNotAvailable(format!(
                    "Replication group {id} has no replica."
                )));
            }
            g.failover = Some(Failover::new(&g.primary, None, true, "TestFailover"));
            g.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(group_event(
                &id,
                format!("Test Failover API called for node group {NODE_GROUP_ID}"),
            ));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }

    /// Applies group settings; PrimaryClusterId starts a planned switchover and
    /// CacheNodeType resizes every member online.
    pub fn modify_replication_group(
        &self,
        req: ModifyReplicationGroup,
    ) -> Result<ReplicationGroup, Fault> {
        let id = req.replication_group_id.to_ascii_lowercase();
        if let Some(ng) = &req.node_group_id {
            if ng != NODE_GROUP_ID {
                return Err(Fault::NodeGroupNotFound(format!(
                    "Node group {ng} not found in {id}."
                )));
            }
        }
        self.require_existing_parameter_group(req.cache_parameter_group_name.as_deref())?;
        let current = self.store().get_replication_group(&id)?;
        // A group named with an upgrade is the one to run on the new version: it goes
        // with the upgrade, member by member, not as a switch now.
        let with_upgrade = current.as_ref().is_some_and(|g| {
            super::upgrade::asks_upgrade(req.engine_version.as_deref(), &g.engine_version)
        });
        let switch = match current {
            Some(g) if !with_upgrade => self.parameter_switch(
                req.cache_parameter_group_name.as_deref(),
                g.engine,
                &g.engine_version,
                &g.cache_parameter_group_name,
            )?,
            _ => None,
        };
        let upgrade_group = req
            .cache_parameter_group_name
            .as_deref()
            .filter(|_| with_upgrade);
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            require_group_available(&g)?;
            let upgrade = match &req.engine_version {
                Some(v) => self.plan_upgrade(&g, v, upgrade_group)?,
                None => None,
            };
            let combined = req.cache_node_type.is_some()
                || req.primary_cluster_id.is_some()
                || switch.is_some();
            if upgrade.is_some() && combined {
                return Err(Fault::InvalidParameterCombination(
                    "An upgrade cannot be combined with CacheNodeType or PrimaryClusterId in one call.".into(),
                ));
            }
            let automatic_failover = req.automatic_failover.unwrap_or(g.automatic_failover);
            let multi_az = req.multi_az.unwrap_or(if automatic_failover {
                g.multi_az
            } else {
                false
            });
            if automatic_failover && g.replicas().next().is_none() {
                return Err(Fault::InvalidParameterCombination(
                    "Automatic failover needs at least one replica.".into(),
                ));
            }
            if multi_az && !automatic_failover {
                return Err(Fault::InvalidParameterCombination(
                    "Multi-AZ needs automatic failover.".into(),
                ));
            }
            let switch_to = match &req.primary_cluster_id {
                Some(p) => {
                    let p = p.to_ascii_lowercase();
                    if !g.members.contains(&p) {
                        return Err(Fault::InvalidParameterValue(format!(
                            "{p} is not a member of replication group {id}."
                        )));
                    }
                    (p != g.primary).then_some(p)
                }
                None => None,
            };
            g.automatic_failover = automatic_failover;
            g.multi_az = multi_az;
            if let Some(d) = &req.description {
                g.description = d.clone();
            }
            super::group_backups::modify_group_backups(tx, &mut g, &req)?;
            if let Some(a) = req.auto_minor_version_upgrade {
                g.auto_minor_version_upgrade = a;
            }
            if let Some(t) = req
                .cache_node_type
                .as_ref()
                .filter(|t| **t != g.cache_node_type)
            {
                if req.apply_immediately {
                    retype_members(tx, &mut g, t)?;
                } else {
                    // Waits for PreferredMaintenanceWindow, shown on every member.
                    g.pending_cache_node_type = Some(t.clone());
                    for m in &g.members {
                        if let Some(mut c) = tx.cluster(m)? {
                            c.pending.cache_node_type = Some(t.clone());
                            tx.put_cluster(&c)?;
                        }
                    }
                    tx.event(group_event(
                        &id,
                        format!("Node type change to {t} scheduled for the maintenance window"),
                    ));
                }
            }
            if let Some(s) = &switch {
                // Every member switches; each brings its node to the new values.
                g.cache_parameter_group_name = s.name.clone();
                for m in &g.members {
                    if let Some(mut c) = tx.cluster(m)? {
                        let mut events = Vec::new();
                        s.apply(&mut c, &mut events);
                        events.into_iter().for_each(|e| tx.event(e));
                        tx.put_cluster(&c)?;
                    }
                }
                tx.event(group_event(
                    &id,
                    format!("Cache parameter group changed to {}", s.name),
                ));
            }
            if let Some(to) = switch_to {
                g.failover = Some(Failover::new(
                    &g.primary,
                    Some(to.clone()),
                    true,
                    "ModifyReplicationGroup PrimaryClusterId",
                ));
                g.status = ReplicationGroupStatus::Modifying;
                tx.event(group_event(
                    &id,
                    format!("Primary switchover to {to} requested"),
                ));
            }
            match upgrade {
                Some(u) if req.apply_immediately => super::upgrade::start_upgrade(tx, &mut g, u)?,
                Some(u) => super::upgrade::defer_upgrade(tx, &mut g, u)?,
                None => {}
            }
            tx.put_replication_group(&g)?;
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }
}
