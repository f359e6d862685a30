//! CreateCacheCluster.

use chrono::Utc;
use larder_model::ids::{normalize_identifier, CACHE_CLUSTER_ID_MAX};
use larder_model::requests::CreateCacheCluster;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Engine, Fault, NodeStatus, NodeType,
    PendingModifiedValues,
};

use super::{check_common_settings, check_parameter_group, refuse_unsupported, CommonSettings};
use crate::placement::{allocate_ports, choose_zones};
use crate::Controller;

/// Most nodes in one memcached cluster, as on ElastiCache.
pub const MAX_MEMCACHED_NODES: i64 = 40;

impl Controller {
    /// Validates the request, records the new cluster as `creating` and wakes the
    /// reconcile loop. Nothing is written when any check fails.
    pub fn create_cache_cluster(&self, req: CreateCacheCluster) -> Result<CacheCluster, Fault> {
        let id = normalize_identifier(
            "CacheClusterId",
            &req.cache_cluster_id,
            CACHE_CLUSTER_ID_MAX,
        )?;
        if req.replication_group_id.is_some() {
            return Err(Fault::InvalidParameterCombination(
                "Adding a cache cluster to a replication group is not supported by Larder yet."
                    .into(),
            ));
        }
        refuse_unsupported(&req.unsupported)?;
        let engine_name = req
            .engine
            .as_deref()
            .ok_or_else(|| Fault::missing("Engine"))?;
        let engine = Engine::parse(engine_name).ok_or_else(|| {
            Fault::invalid("Engine", engine_name, "must be redis, valkey or memcached")
        })?;
        let node_type_name = req
            .cache_node_type
            .as_deref()
            .ok_or_else(|| Fault::missing("CacheNodeType"))?;
        let node_type = NodeType::find(node_type_name).ok_or_else(|| {
            Fault::InvalidParameterValue(format!("Invalid node type: {node_type_name}"))
        })?;
        let num = req.num_cache_nodes.unwrap_or(1);
        if num < 1 {
            return Err(Fault::invalid(
                "NumCacheNodes",
                &num.to_string(),
                "must be at least 1",
            ));
        }
        if engine.is_redis_like() && num > 1 {
            return Err(Fault::InvalidParameterValue(format!(
                "Cannot create a {engine} cluster with a NumCacheNodes parameter greater than 1."
            )));
        }
        if num > MAX_MEMCACHED_NODES {
            return Err(Fault::NodeQuotaForClusterExceeded(format!(
                "A memcached cluster can have at most {MAX_MEMCACHED_NODES} nodes."
            )));
        }
        let version = self
            .engines()
            .resolve(engine, req.engine_version.as_deref())?
            .clone();
        let parameter_group = check_parameter_group(
            req.cache_parameter_group_name.as_deref(),
            &version.default_parameter_group(),
        )?;
        let cross_az = match req.az_mode.as_deref() {
            None | Some("single-az") => false,
            Some("cross-az") if engine == Engine::Memcached => true,
            Some("cross-az") => {
                return Err(Fault::InvalidParameterCombination(
                    "AZMode cross-az is only supported for memcached clusters.".into(),
                ))
            }
            Some(other) => {
                return Err(Fault::invalid(
                    "AZMode",
                    other,
                    "must be single-az or cross-az",
                ))
            }
        };
        if req.preferred_availability_zone.is_some() && !req.preferred_availability_zones.is_empty()
        {
            return Err(Fault::InvalidParameterCombination(
                "Only one of PreferredAvailabilityZone and PreferredAvailabilityZones may be given."
                    .into(),
            ));
        }
        if !req.preferred_availability_zones.is_empty()
            && req.preferred_availability_zones.len() as i64 != num
        {
            return Err(Fault::InvalidParameterValue(
                "The number of PreferredAvailabilityZones must equal NumCacheNodes.".into(),
            ));
        }
        let CommonSettings { window, tags } = check_common_settings(
            engine,
            req.preferred_maintenance_window.as_deref(),
            req.port,
            req.snapshot_retention_limit,
            &req.tags,
        )?;

        let requested_zones: Vec<String> = match &req.preferred_availability_zone {
            Some(z) => vec![z.clone()],
            None => req.preferred_availability_zones.clone(),
        };
        let settings = self.settings();
        let view = self.placement_view(None)?;
        let mut used = view.reserved.clone();
        let endpoint_ports = usize::from(engine == Engine::Memcached);
        let ports = allocate_ports(settings, &mut used, num as usize + endpoint_ports)?;
        let zones = choose_zones(settings, &[], &requested_zones, cross_az, num as usize)?;
        let now = Utc::now();
        let nodes: Vec<CacheNode> = (0..num as usize)
            .map(|i| CacheNode {
                cache_node_id: larder_model::ids::cache_node_id(i as u32 + 1),
                status: NodeStatus::Creating,
                create_time: now,
                port: ports[i],
                availability_zone: zones[i].clone(),
                node_type: node_type.name.to_string(),
            })
            .collect();
        let cluster = CacheCluster {
            id: id.clone(),
            engine,
            engine_version: version.version.clone(),
            cache_node_type: node_type.name.to_string(),
            status: ClusterStatus::Creating,
            next_node_number: num as u32 + 1,
            preferred_availability_zone: zones[0].clone(),
            az_mode: if cross_az { "cross-az" } else { "single-az" }.into(),
            preferred_maintenance_window: window.to_ascii_lowercase(),
            cache_parameter_group_name: parameter_group,
            requested_port: req.port.map(|p| p as u16),
            create_time: now,
            configuration_endpoint_port: (engine == Engine::Memcached).then(|| ports[num as usize]),
            config_version: 0,
            published_members: Vec::new(),
            pending: PendingModifiedValues::default(),
            security_group_ids: Vec::new(),
            cache_subnet_group_name: req.cache_subnet_group_name.clone(),
            auto_minor_version_upgrade: req.auto_minor_version_upgrade.unwrap_or(true),
            snapshot_retention_limit: req.snapshot_retention_limit.unwrap_or(0) as u32,
            snapshot_window: None,
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
