//! CreateCacheCluster.

use chrono::Utc;
use larder_model::requests::CreateCacheCluster;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Engine, Fault, NodeStatus, PendingModifiedValues,
    RestoreFrom,
};

use super::{check_common_settings, CommonSettings};
use crate::Controller;

impl Controller {
    /// Checks what needs state (installed versions, parameter groups, ports, quotas),
    /// records the new cluster as `creating` and wakes the
    /// reconcile loop. Nothing is written when any check fails.
    pub fn create_cache_cluster(&self, req: CreateCacheCluster) -> Result<CacheCluster, Fault> {
        let id = req.cache_cluster_id.clone();
        let engine = req.engine;
        let num = req.num_cache_nodes as i64;
        let node_type = req.cache_node_type;
        let version = self
            .engines()
            .resolve(engine, req.engine_version.as_deref())?
            .clone();
        let parameter_group =
            self.resolve_parameter_group(req.cache_parameter_group_name.as_deref(), &version)?;
        let restore = match (&req.snapshot_name, &req.snapshot_object) {
            (Some(name), _) => Some(self.restore_source(name)?),
            (None, Some(o)) => Some(RestoreFrom::from_object(o)),
            (None, None) => None,
        };
        let subnet_group = self.resolve_subnet_group(req.cache_subnet_group_name.as_deref())?;
        let cross_az = req.cross_az;
        let CommonSettings { tags } = check_common_settings(&req.tags)?;
        let backups = super::backup_settings::for_create(
            &id,
            engine,
            req.snapshot_retention_limit,
            req.snapshot_window.as_deref(),
            req.preferred_maintenance_window.as_deref(),
        )?;

        let requested_zones = &req.preferred_availability_zones;
        let settings = self.settings();
        let mut view = self.placement_view_in(None, subnet_group.as_deref())?;
        let places = view
            .placer
            .place(settings, &[], requested_zones, cross_az, num as usize)?;
        let config_port = match engine {
            Engine::Memcached => Some(view.placer.endpoint_ports(1)?[0]),
            _ => None,
        };
        let now = Utc::now();
        let nodes: Vec<CacheNode> = (0..num as usize)
            .map(|i| CacheNode {
                cache_node_id: larder_model::ids::cache_node_id(i as u32 + 1),
                status: NodeStatus::Creating,
                create_time: now,
                port: places[i].port,
                availability_zone: places[i].zone.clone(),
                host: places[i].host.clone(),
                node_type: node_type.name.to_string(),
                attempts: 0,
                retry_at: None,
                // The api allows SnapshotName only for a one-node redis cluster.
                restore_from: restore.clone(),
            })
            .collect();
        let cluster = CacheCluster {
            id: id.clone(),
            engine,
            engine_version: version.version.clone(),
            cache_node_type: node_type.name.to_string(),
            status: ClusterStatus::Creating,
            next_node_number: num as u32 + 1,
            preferred_availability_zone: places[0].zone.clone(),
            az_mode: if cross_az { "cross-az" } else { "single-az" }.into(),
            preferred_maintenance_window: backups.maintenance,
            cache_parameter_group_name: parameter_group,
            parameter_apply: Default::default(),
            requested_port: req.port,
            create_time: now,
            configuration_endpoint_port: config_port,
            config_version: 0,
            published_members: Vec::new(),
            pending: PendingModifiedValues::default(),
            upgrade: None,
            pending_upgrade: None,
            service_updates: Vec::new(),
            security_group_ids: Vec::new(),
            cache_subnet_group_name: subnet_group,
            auto_minor_version_upgrade: req.auto_minor_version_upgrade.unwrap_or(true),
            snapshot_retention_limit: backups.retention,
            snapshot_window: backups.window,
            automated_snapshot_day: None,
            notification_topic_arn: None,
            replication_group_id: None,
            nodes,
        };
        let max_nodes = settings.max_nodes as usize;
        let max_clusters = settings.max_clusters as usize;
        let quota = |all: &[CacheCluster]| {
            let nodes: usize = all.iter().map(|c| c.nodes.len()).sum();
            if nodes + num as usize > max_nodes {
                return Err(Fault::NodeQuotaForCustomerExceeded(format!(
                    "This host runs at most {max_nodes} cache nodes."
                )));
            }
            if all.len() + 1 > max_clusters {
                return Err(Fault::ClusterQuotaForCustomerExceeded(format!(
                    "This host runs at most {max_clusters} cache clusters."
                )));
            }
            Ok(())
        };
        let arn = settings.cluster_arn(&id);
        let tag_entry = (!tags.is_empty()).then_some((arn.as_str(), tags.as_slice()));
        self.store()
            .create_cluster(&cluster, tag_entry, &[], &quota)?;
        tracing::info!(cache_cluster_id = %id, engine = %engine, nodes = num, "cache cluster requested");
        self.wake();
        Ok(cluster)
    }
}
