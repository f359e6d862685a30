//! CreateReplicationGroup, DescribeReplicationGroups, DeleteReplicationGroup.

use chrono::Utc;
use larder_model::ids::cache_node_id;
use larder_model::requests::CreateReplicationGroup;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Event, Fault, NodeStatus, NodeType,
    PendingModifiedValues, ReplicationGroup, ReplicationGroupStatus, SourceType,
};

use super::{check_common_settings, CommonSettings};
use crate::placement::NodePlace;
use crate::Controller;

/// An event about a replication group, now.
pub(crate) fn group_event(id: &str, message: impl Into<String>) -> Event {
    Event {
        source_identifier: id.to_string(),
        source_type: SourceType::ReplicationGroup,
        message: message.into(),
        date: Utc::now(),
    }
}

/// Refuses an operation unless the group is `available`.
pub(crate) fn require_group_available(g: &ReplicationGroup) -> Result<(), Fault> {
    if g.status != ReplicationGroupStatus::Available {
        return Err(Fault::InvalidReplicationGroupState(format!(
            "Replication group {} is not in available state (it is {}).",
            g.id,
            g.status.as_str()
        )));
    }
    Ok(())
}

/// A new one-node member cluster of a group, waiting to be started.
pub(crate) fn new_member(g: &ReplicationGroup, id: String, place: NodePlace) -> CacheCluster {
    let now = Utc::now();
    let NodePlace { host, zone, port } = place;
    CacheCluster {
        id,
        engine: g.engine,
        engine_version: g.engine_version.clone(),
        cache_node_type: g.cache_node_type.clone(),
        status: ClusterStatus::Creating,
        nodes: vec![CacheNode {
            cache_node_id: cache_node_id(1),
            status: NodeStatus::Creating,
            create_time: now,
            port,
            availability_zone: zone.clone(),
            host,
            node_type: g.cache_node_type.clone(),
            attempts: 0,
            retry_at: None,
            restore_from: None,
        }],
        next_node_number: 2,
        preferred_availability_zone: zone,
        az_mode: "single-az".into(),
        preferred_maintenance_window: g.preferred_maintenance_window.clone(),
        cache_parameter_group_name: g.cache_parameter_group_name.clone(),
        parameter_apply: Default::default(),
        requested_port: g.requested_port,
        create_time: now,
        configuration_endpoint_port: None,
        config_version: 0,
        published_members: Vec::new(),
        pending: PendingModifiedValues::default(),
        upgrade: None,
        pending_upgrade: None,
        service_updates: Vec::new(),
        security_group_ids: g.security_group_ids.clone(),
        cache_subnet_group_name: g.cache_subnet_group_name.clone(),
        auto_minor_version_upgrade: g.auto_minor_version_upgrade,
        snapshot_retention_limit: g.snapshot_retention_limit,
        snapshot_window: g.snapshot_window.clone(),
        automated_snapshot_day: None,
        notification_topic_arn: None,
        replication_group_id: Some(g.id.clone()),
    }
}

impl Controller {
    /// Validates and records a new group and its member clusters as `creating`.
    pub fn create_replication_group(
        &self,
        req: CreateReplicationGroup,
    ) -> Result<ReplicationGroup, Fault> {
        let id = req.replication_group_id.clone();
        let engine = req.engine;
        let existing_primary = match &req.primary_cluster_id {
            Some(pid) => {
                let pid = pid.clone();
                let c = self
                    .store()
                    .get_cluster(&pid)?
                    .ok_or(Fault::CacheClusterNotFound(pid.clone()))?;
                if c.status != ClusterStatus::Available {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {pid} is not available."
                    )));
                }
                if !c.engine.is_redis_like() || c.replication_group_id.is_some() {
                    return Err(Fault::InvalidParameterValue(format!(
                        "Cache cluster {pid} cannot become a primary: it must be a standalone Redis cluster."
                    )));
                }
                Some(c)
            }
            None => None,
        };
        let total = i64::from(req.num_cache_clusters);
        let (automatic_failover, multi_az) = (req.automatic_failover, req.multi_az);
        // The api requires CacheNodeType unless the group grows from PrimaryClusterId.
        let node_type = match (req.cache_node_type, &existing_primary) {
            (Some(t), _) => t,
            (None, Some(p)) => NodeType::find(&p.cache_node_type).ok_or_else(|| {
                Fault::Internal(format!("unknown stored node type {}", p.cache_node_type))
            })?,
            (None, None) => return Err(Fault::missing("CacheNodeType")),
        };
        let version = match &existing_primary {
            Some(p) => self
                .engines()
                .resolve(p.engine, Some(&p.engine_version))?
                .clone(),
            None => self
                .engines()
                .resolve(engine, req.engine_version.as_deref())?
                .clone(),
        };
        // A group grown from a cluster keeps that cluster's parameter group: its
        // primary already runs with those values, so another one would split them.
        let parameter_group = match &existing_primary {
            Some(p) => {
                let own = &p.cache_parameter_group_name;
                let named = self
                    .resolve_parameter_group(req.cache_parameter_group_name.as_deref(), &version)?;
                if req.cache_parameter_group_name.is_some() && &named != own {
                    return Err(Fault::InvalidParameterCombination(format!(
                        "Cache cluster {} uses parameter group {own}; the replication group grown from it must too.",
                        p.id
                    )));
                }
                own.clone()
            }
            None => {
                self.resolve_parameter_group(req.cache_parameter_group_name.as_deref(), &version)?
            }
        };
        let CommonSettings { tags } = check_common_settings(&req.tags)?;
        let backups = super::backup_settings::for_create(
            &id,
            version.engine,
            req.snapshot_retention_limit,
            req.snapshot_window.as_deref(),
            req.preferred_maintenance_window.as_deref(),
        )?;

        let settings = self.settings().clone();
        // A group grown from a cluster keeps the cluster's subnet group unless one is named.
        let subnet_group = match (&existing_primary, req.cache_subnet_group_name.as_deref()) {
            (Some(p), None) => p.cache_subnet_group_name.clone(),
            (_, named) => self.resolve_subnet_group(named)?,
        };
        let mut view = self.placement_view_in(None, subnet_group.as_deref())?;
        let new_members = (total - i64::from(existing_primary.is_some())) as usize;
        let existing_nodes: Vec<&CacheNode> = existing_primary
            .iter()
            .flat_map(|p| p.nodes.iter())
            .collect();
        let requested_zones: Vec<String> = if existing_primary.is_some() {
            req.preferred_cache_cluster_azs
                .iter()
                .skip(1)
                .cloned()
                .collect()
        } else {
            req.preferred_cache_cluster_azs.clone()
        };
        let places = view.placer.place(
            &settings,
            &existing_nodes,
            &requested_zones,
            true,
            new_members,
        )?;
        let endpoint_ports = view.placer.endpoint_ports(2)?;
        let first_new = if existing_primary.is_some() { 2 } else { 1 };
        let mut group = ReplicationGroup {
            id: id.clone(),
            description: req.description.clone(),
            status: ReplicationGroupStatus::Creating,
            engine: version.engine,
            engine_version: version.version.clone(),
            cache_node_type: node_type.name.to_string(),
            cache_parameter_group_name: parameter_group,
            members: Vec::new(),
            primary: String::new(),
            role_generation: 1,
            automatic_failover,
            multi_az,
            primary_endpoint_port: endpoint_ports[0],
            reader_endpoint_port: endpoint_ports[1],
            next_member_number: first_new + new_members as u32,
            failover: None,
            retain_primary_on_delete: false,
            create_time: Utc::now(),
            preferred_maintenance_window: backups.maintenance,
            snapshot_retention_limit: backups.retention,
            snapshot_window: backups.window,
            snapshotting_cluster_id: None,
            automated_snapshot_day: None,
            auto_minor_version_upgrade: req.auto_minor_version_upgrade.unwrap_or(true),
            security_group_ids: Vec::new(),
            cache_subnet_group_name: subnet_group,
            requested_port: req.port,
            migration: None,
            pending_cache_node_type: None,
            upgrade: None,
            service_updates: Vec::new(),
            pending_upgrade: None,
            reboot_after_switchover: None,
        };
        let mut members: Vec<CacheCluster> = Vec::new();
        for (i, place) in places.into_iter().enumerate() {
            let member_id = group.member_id(first_new + i as u32);
            members.push(new_member(&group, member_id, place));
        }
        group.members = existing_primary
            .iter()
            .map(|p| p.id.clone())
            .chain(members.iter().map(|m| m.id.clone()))
            .collect();
        group.primary = group.members[0].clone();
        if group.snapshot_retention_limit > 0 {
            // As the service does: the first replica, or the primary of a lone node.
            group.snapshotting_cluster_id = group.members.get(1).or(group.members.first()).cloned();
        }
        let restore = match (&req.snapshot_name, &req.snapshot_object) {
            (Some(name), _) => Some(self.restore_source(name)?),
            (None, Some(o)) => Some(larder_model::RestoreFrom::from_object(o)),
            (None, None) => None,
        };
        if let Some(restore) = restore {
            // The primary starts with the data; the replicas copy it by full sync.
            if let Some(node) = members
                .iter_mut()
                .find(|m| m.id == group.primary)
                .and_then(|m| m.nodes.first_mut())
            {
                node.restore_from = Some(restore);
            }
        }
        let max_nodes = settings.max_nodes as usize;
        let arn = settings.arn("replicationgroup", &id);
        let out = group.clone();
        self.store().transaction(|tx| {
            if tx.replication_group(&id)?.is_some() {
                return Err(Fault::ReplicationGroupAlreadyExists(id.clone()));
            }
            let all = tx.clusters()?;
            let nodes: usize = all.iter().map(|c| c.nodes.len()).sum();
            if nodes + members.len() > max_nodes {
                return Err(Fault::NodeQuotaForCustomerExceeded(format!(
                    "This host runs at most {max_nodes} cache nodes."
                )));
            }
            for m in &members {
                if tx.cluster(&m.id)?.is_some() {
                    return Err(Fault::CacheClusterAlreadyExists(m.id.clone()));
                }
                tx.put_cluster(m)?;
            }
            if let Some(p) = &existing_primary {
                let mut p = tx
                    .cluster(&p.id)?
                    .ok_or_else(|| Fault::CacheClusterNotFound(p.id.clone()))?;
                if p.status != ClusterStatus::Available || p.replication_group_id.is_some() {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {} is not available.",
                        p.id
                    )));
                }
                p.replication_group_id = Some(id.clone());
                // Backups are the group's from now on; the member shows its settings.
                p.snapshot_retention_limit = group.snapshot_retention_limit;
                p.snapshot_window = group.snapshot_window.clone();
                tx.put_cluster(&p)?;
            }
            tx.put_replication_group(&group)?;
            if !tags.is_empty() {
                tx.put_tags(&arn, &tags)?;
            }
            tx.event(group_event(&id, "Replication group creation started"));
            Ok(())
        })?;
        tracing::info!(replication_group_id = %id, members = total, "replication group requested");
        self.wake();
        Ok(out)
    }

    /// One group (or `ReplicationGroupNotFoundFault`), or a page of all of them.
    pub fn describe_replication_groups(
        &self,
        id: Option<&str>,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<(Vec<ReplicationGroup>, Option<String>), Fault> {
        let size = super::describe::page_size(max_records);
        if let Some(id) = id {
            let id = id.to_ascii_lowercase();
            let g = self
                .store()
                .get_replication_group(&id)?
                .ok_or(Fault::ReplicationGroupNotFound(id))?;
            return Ok((vec![g], None));
        }
        let mut rest: Vec<ReplicationGroup> = self
            .store()
            .list_replication_groups()?
            .into_iter()
            .filter(|g| marker.is_none_or(|m| g.id.as_str() > m))
            .collect();
        let more = rest.len() > size;
        rest.truncate(size);
        let marker = if more {
            rest.last().map(|g| g.id.clone())
        } else {
            None
        };
        Ok((rest, marker))
    }

    /// Marks an available or failed group `deleting`; the reconcile loop removes its
    /// members (keeping the primary as a standalone cluster with RetainPrimaryCluster).
    /// A group whose member failed for good is deletable too, even one that was
    /// `modifying` (a replica that could not be added), since it cannot settle.
    pub fn delete_replication_group(
        &self,
        id: &str,
        retain_primary: bool,
    ) -> Result<ReplicationGroup, Fault> {
        self.delete_replication_group_with_snapshot(id, retain_primary, None)
    }

    /// DeleteReplicationGroup with `FinalSnapshotIdentifier`: the snapshot (from a
    /// healthy replica) is recorded with the deletion; the members are removed only
    /// once it is no longer `creating`.
    pub fn delete_replication_group_with_snapshot(
        &self,
        id: &str,
        retain_primary: bool,
        final_snapshot: Option<&str>,
    ) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            let mut failed = g.status == ReplicationGroupStatus::CreateFailed;
            for m in &g.members {
                failed |= tx.cluster(m)?.is_some_and(|c| c.status.is_failed());
            }
            if !failed {
                require_group_available(&g)?;
            }
            if let Some(name) = final_snapshot {
                if failed {
                    return Err(Fault::InvalidReplicationGroupState(format!(
                        "Replication group {id} has failed members: no data for a final snapshot."
                    )));
                }
                self.record_final_snapshot(tx, name, None, Some(&id))?;
            }

            g.status = ReplicationGroupStatus::Deleting;
            g.retain_primary_on_delete = retain_primary;
            tx.put_replication_group(&g)?;
            tx.event(group_event(&id, "Replication group deletion started"));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }
}
