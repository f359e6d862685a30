//! ModifyCacheCluster: node count and node type changes, applied now or in the
//! maintenance window.

use std::collections::HashSet;

use chrono::Utc;
use larder_model::requests::ModifyCacheCluster;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Engine, Event, Fault, MaintenanceWindow, NodeStatus,
};

use super::require_available;
use crate::placement::Placer;
use crate::{Controller, Settings};

/// The node-level part of a modification, the part that can wait for the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeChanges {
    /// Target node count.
    pub num_cache_nodes: Option<u32>,
    /// Nodes to remove.
    pub ids_to_remove: Vec<String>,
    /// Target node type.
    pub node_type: Option<String>,
    /// Zones for added nodes.
    pub new_zones: Vec<String>,
}

impl NodeChanges {
    fn is_empty(&self) -> bool {
        self.num_cache_nodes.is_none() && self.ids_to_remove.is_empty() && self.node_type.is_none()
    }
}

/// Checks node changes against the cluster's current state (its engine, node count and
/// node ids); returns them with no-ops dropped. Values were checked by the api.
fn validate_node_changes(c: &CacheCluster, mut ch: NodeChanges) -> Result<NodeChanges, Fault> {
    let current = c.num_cache_nodes();
    if ch.node_type.as_deref() == Some(c.cache_node_type.as_str()) {
        ch.node_type = None;
    }
    if ch.num_cache_nodes == Some(current) && ch.ids_to_remove.is_empty() {
        ch.num_cache_nodes = None;
    }
    if ch.num_cache_nodes.is_some() && ch.node_type.is_some() {
        return Err(Fault::InvalidParameterCombination(
            "NumCacheNodes and CacheNodeType cannot be changed in the same request.".into(),
        ));
    }
    if let Some(n) = ch.num_cache_nodes {
        if c.engine.is_redis_like() {
            return Err(Fault::InvalidParameterValue(format!(
                "Cannot change NumCacheNodes of a {} cluster; it always has 1 node.",
                c.engine
            )));
        }
        if n < current {
            let unique: HashSet<&String> = ch.ids_to_remove.iter().collect();
            if unique.len() != ch.ids_to_remove.len()
                || ch.ids_to_remove.len() as u32 != current - n
            {
                return Err(Fault::InvalidParameterValue(format!(
                    "Reducing NumCacheNodes from {current} to {n} requires exactly {} distinct CacheNodeIdsToRemove.",
                    current - n
                )));
            }
            for id in &ch.ids_to_remove {
                if !c.member_nodes().any(|m| &m.cache_node_id == id) {
                    return Err(Fault::InvalidParameterValue(format!(
                        "Cache node {id} does not exist in cache cluster {}.",
                        c.id
                    )));
                }
            }
        } else if !ch.ids_to_remove.is_empty() {
            return Err(Fault::InvalidParameterCombination(
                "CacheNodeIdsToRemove can only be given when NumCacheNodes decreases.".into(),
            ));
        }
    }
    Ok(ch)
}

/// Turns node changes into node records: new nodes as `creating` with ports and zones,
/// removed ones as `deleting`, retyped ones as `modifying`. The caller holds the
/// placement lock and passes every other cluster, so ports are not handed out twice.
pub(crate) fn apply_node_changes(
    settings: &Settings,
    c: &mut CacheCluster,
    placer: &Placer,
    ch: &NodeChanges,
) -> Result<bool, Fault> {
    let mut changed = false;
    if let Some(n) = ch.num_cache_nodes {
        let current = c.num_cache_nodes();
        if n > current {
            let add = (n - current) as usize;
            // The closure may run again: place from the lock-time view each time.
            let mut placer = placer.clone();
            placer.hold(c);
            let existing: Vec<&CacheNode> = c.member_nodes().collect();
            let places = placer.place(
                settings,
                &existing,
                &ch.new_zones,
                c.az_mode == "cross-az",
                add,
            )?;
            let now = Utc::now();
            for place in places {
                let id = larder_model::ids::cache_node_id(c.next_node_number);
                c.next_node_number += 1;
                c.nodes.push(CacheNode {
                    cache_node_id: id,
                    status: NodeStatus::Creating,
                    create_time: now,
                    port: place.port,
                    availability_zone: place.zone,
                    host: place.host,
                    node_type: c.cache_node_type.clone(),
                    attempts: 0,
                    retry_at: None,
                    restore_from: None,
                });
            }
        }
        for node in c.nodes.iter_mut() {
            if ch.ids_to_remove.contains(&node.cache_node_id) {
                node.status = NodeStatus::Deleting;
            }
        }
        changed = true;
    }
    if let Some(t) = &ch.node_type {
        c.cache_node_type = t.clone();
        for node in c
            .nodes
            .iter_mut()
            .filter(|n| n.status != NodeStatus::Deleting)
        {
            node.status = NodeStatus::Modifying;
        }
        changed = true;
    }
    if changed {
        c.status = ClusterStatus::Modifying;
    }
    Ok(changed)
}

impl Controller {
    /// Validates and records a modification. Node changes happen now with
    /// `ApplyImmediately`, otherwise they wait in PendingModifiedValues.
    pub fn modify_cache_cluster(&self, req: ModifyCacheCluster) -> Result<CacheCluster, Fault> {
        let id = req.cache_cluster_id.to_ascii_lowercase();
        let settings = self.settings().clone();
        let subnet_group = self.cluster_subnet_group(&id)?;
        let view = self.placement_view_in(Some(&id), subnet_group.as_deref())?;
        let (others, placer) = (&view.clusters, &view.placer);
        let max_nodes = settings.max_nodes as usize;
        self.require_existing_parameter_group(req.cache_parameter_group_name.as_deref())?;
        let current = self.store().get_cluster(&id)?;
        // A group named with an upgrade is the one the node restarts with on the new
        // version, not a switch now.
        let with_upgrade = current.as_ref().is_some_and(|c| {
            super::upgrade::asks_upgrade(req.engine_version.as_deref(), &c.engine_version)
        });
        let switch = match current {
            Some(c) if !with_upgrade => self.parameter_switch(
                req.cache_parameter_group_name.as_deref(),
                c.engine,
                &c.engine_version,
                &c.cache_parameter_group_name,
            )?,
            _ => None,
        };
        let upgrade_group = req
            .cache_parameter_group_name
            .as_deref()
            .filter(|_| with_upgrade);
        let out = self.store().update_cluster(&id, |c, change| {
            require_available(c)?;
            super::refuse_member(c)?;
            let upgrade = match &req.engine_version {
                Some(v) => self.plan_in_place_upgrade(c, v, upgrade_group)?,
                None => None,
            };
            let engine = c.engine;
            let requested = NodeChanges {
                num_cache_nodes: req.num_cache_nodes,
                ids_to_remove: req.cache_node_ids_to_remove.clone(),
                node_type: req.cache_node_type.clone(),
                new_zones: req.new_availability_zones.clone(),
            };
            let ch = validate_node_changes(c, requested)?;
            if upgrade.is_some() && (!ch.is_empty() || switch.is_some()) {
                return Err(Fault::InvalidParameterCombination(
                    "Give EngineVersion alone: an upgrade cannot be combined with node changes or CacheParameterGroupName in one call.".into(),
                ));
            }
            if let Some(n) = ch.num_cache_nodes {
                let total: usize =
                    others.iter().map(|o| o.nodes.len()).sum::<usize>() + c.nodes.len();
                let add = n.saturating_sub(c.num_cache_nodes()) as usize;
                if total + add > max_nodes {
                    return Err(Fault::NodeQuotaForCustomerExceeded(format!(
                        "This host runs at most {max_nodes} cache nodes."
                    )));
                }
            }
            let backups = super::backup_settings::for_modify(
                &c.id,
                engine,
                &super::backup_settings::Backups {
                    retention: c.snapshot_retention_limit,
                    window: c.snapshot_window.clone(),
                    maintenance: c.preferred_maintenance_window.clone(),
                },
                req.snapshot_retention_limit,
                req.snapshot_window.as_deref(),
                req.preferred_maintenance_window.as_deref(),
            )?;
            c.preferred_maintenance_window = backups.maintenance;
            c.snapshot_retention_limit = backups.retention;
            c.snapshot_window = backups.window;
            if let Some(a) = req.auto_minor_version_upgrade {
                c.auto_minor_version_upgrade = a;
            }
            if let Some(m) = &req.az_mode {
                if engine == Engine::Memcached {
                    c.az_mode = m.clone();
                }
            }
            if let Some(s) = &switch {
                // Applied at once: dynamic values now, static ones at each node's reboot.
                s.apply(c, &mut change.events);
            }
            if let Some(u) = upgrade {
                if req.apply_immediately {
                    super::upgrade::start_in_place(c, u, &mut change.events);
                } else {
                    change.events.push(Event::cache_cluster(
                        &c.id,
                        format!(
                            "Engine upgrade from {} to {} scheduled for the maintenance window {}",
                            c.engine_version, u.target, c.preferred_maintenance_window
                        ),
                    ));
                    c.pending.engine_version = Some(u.target.clone());
                    c.pending_upgrade = Some(u);
                }
                return Ok(c.clone());
            }
            if ch.is_empty() {
                return Ok(c.clone());
            }
            if req.apply_immediately {
                c.pending = Default::default();
                apply_node_changes(&settings, c, placer, &ch)?;
                change.events.push(Event::cache_cluster(
                    &c.id,
                    "Cache cluster modification started",
                ));
            } else {
                c.pending.num_cache_nodes = ch.num_cache_nodes;
                c.pending.cache_node_ids_to_remove = ch.ids_to_remove.clone();
                c.pending.cache_node_type = ch.node_type.clone();
            }
            Ok(c.clone())
        })?;
        self.wake();
        Ok(out)
    }

    /// Applies pending modifications of clusters whose maintenance window is open.
    pub(crate) fn apply_due_pending(&self, id: &str) -> Result<(), Fault> {
        let settings = self.settings().clone();
        let subnet_group = self.cluster_subnet_group(id)?;
        let view = self.placement_view_in(Some(id), subnet_group.as_deref())?;
        let placer = &view.placer;
        self.store().update_cluster(id, |c, change| {
            // A group member's pending node type belongs to its group, which applies it
            // to every member at once.
            if c.pending.is_empty()
                || c.status != ClusterStatus::Available
                || c.replication_group_id.is_some()
            {
                return Ok(());
            }
            let window = MaintenanceWindow::parse(&c.preferred_maintenance_window)?;
            if !window.contains(settings.clock.now()) {
                return Ok(());
            }
            let ch = NodeChanges {
                num_cache_nodes: c.pending.num_cache_nodes,
                ids_to_remove: c.pending.cache_node_ids_to_remove.clone(),
                node_type: c.pending.cache_node_type.clone(),
                new_zones: Vec::new(),
            };
            // Node changes first; a deferred upgrade starts once they are done.
            if ch.is_empty() {
                if let Some(v) = c.pending.engine_version.take() {
                    // The plan made at the request (with the group it named), else one
                    // made now.
                    let planned = match c.pending_upgrade.take() {
                        Some(u) => Some(u),
                        None => self.plan_in_place_upgrade(c, &v, None)?,
                    };
                    if let Some(u) = planned {
                        super::upgrade::start_in_place(c, u, &mut change.events);
                    }
                }
                return Ok(());
            }
            let upgrade_later = c.pending.engine_version.take();
            c.pending = Default::default();
            c.pending.engine_version = upgrade_later;
            apply_node_changes(&settings, c, placer, &ch)?;
            change.events.push(Event::cache_cluster(
                &c.id,
                "Applying pending modifications in the maintenance window",
            ));
            Ok(())
        })
    }
}
