//! Typed operation requests, filled in by the api crate from wire parameters and
//! carried out by the controller's service layer.

use crate::Tag;

/// CreateCacheCluster.
#[derive(Debug, Clone, Default)]
pub struct CreateCacheCluster {
    /// Required.
    pub cache_cluster_id: String,
    /// `redis`, `valkey` or `memcached`; required unless the cluster joins a replication group.
    pub engine: Option<String>,
    /// Major.minor or full version; defaults to the installed one.
    pub engine_version: Option<String>,
    /// Node type, e.g. `cache.t4g.micro`.
    pub cache_node_type: Option<String>,
    /// Node count (memcached 1..=40, redis 1).
    pub num_cache_nodes: Option<i64>,
    /// Joining a replication group is not supported yet.
    pub replication_group_id: Option<String>,
    /// `single-az` or `cross-az`.
    pub az_mode: Option<String>,
    /// Zone for every node.
    pub preferred_availability_zone: Option<String>,
    /// Zone per node.
    pub preferred_availability_zones: Vec<String>,
    /// Parameter group name.
    pub cache_parameter_group_name: Option<String>,
    /// Recorded.
    pub cache_subnet_group_name: Option<String>,
    /// Tags to put on the cluster.
    pub tags: Vec<Tag>,
    /// `ddd:hh24:mi-ddd:hh24:mi`.
    pub preferred_maintenance_window: Option<String>,
    /// Requested port.
    pub port: Option<i64>,
    /// Minor upgrades in the maintenance window.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Redis snapshot retention.
    pub snapshot_retention_limit: Option<i64>,
    /// Parameters Larder does not support yet; named here so they are refused clearly.
    pub unsupported: Vec<&'static str>,
}

/// ModifyCacheCluster.
#[derive(Debug, Clone, Default)]
pub struct ModifyCacheCluster {
    /// Required.
    pub cache_cluster_id: String,
    /// New node count.
    pub num_cache_nodes: Option<i64>,
    /// Nodes to remove when shrinking a memcached cluster.
    pub cache_node_ids_to_remove: Vec<String>,
    /// New node type.
    pub cache_node_type: Option<String>,
    /// Apply now instead of in the maintenance window.
    pub apply_immediately: bool,
    /// New maintenance window.
    pub preferred_maintenance_window: Option<String>,
    /// New flag.
    pub auto_minor_version_upgrade: Option<bool>,
    /// New retention.
    pub snapshot_retention_limit: Option<i64>,
    /// AZ mode for added nodes.
    pub az_mode: Option<String>,
    /// Zones for added nodes.
    pub new_availability_zones: Vec<String>,
    /// Engine version changes are not supported yet.
    pub engine_version: Option<String>,
    /// Parameter group change.
    pub cache_parameter_group_name: Option<String>,
    /// Parameters Larder does not support yet.
    pub unsupported: Vec<&'static str>,
}

/// CreateReplicationGroup (cluster mode disabled).
#[derive(Debug, Clone, Default)]
pub struct CreateReplicationGroup {
    /// Required.
    pub replication_group_id: String,
    /// Required.
    pub description: String,
    /// Grow the group from this existing cluster.
    pub primary_cluster_id: Option<String>,
    /// AutomaticFailoverEnabled.
    pub automatic_failover: Option<bool>,
    /// MultiAZEnabled.
    pub multi_az: Option<bool>,
    /// Members including the primary (1..=6).
    pub num_cache_clusters: Option<i64>,
    /// Replicas (0..=5); an alternative to NumCacheClusters.
    pub replicas_per_node_group: Option<i64>,
    /// Node groups; more than one means cluster mode, not supported yet.
    pub num_node_groups: Option<i64>,
    /// Zone per member, primary first.
    pub preferred_cache_cluster_azs: Vec<String>,
    /// Node type (inherited from the primary cluster when growing).
    pub cache_node_type: Option<String>,
    /// `redis` or `valkey`.
    pub engine: Option<String>,
    /// Engine version.
    pub engine_version: Option<String>,
    /// Parameter group.
    pub cache_parameter_group_name: Option<String>,
    /// Recorded.
    pub cache_subnet_group_name: Option<String>,
    /// Tags for the group.
    pub tags: Vec<Tag>,
    /// Weekly window.
    pub preferred_maintenance_window: Option<String>,
    /// Requested port.
    pub port: Option<i64>,
    /// Minor upgrades.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Snapshot retention.
    pub snapshot_retention_limit: Option<i64>,
}

/// ModifyReplicationGroup.
#[derive(Debug, Clone, Default)]
pub struct ModifyReplicationGroup {
    /// Required.
    pub replication_group_id: String,
    /// New description.
    pub description: Option<String>,
    /// Planned switchover to this member.
    pub primary_cluster_id: Option<String>,
    /// AutomaticFailoverEnabled.
    pub automatic_failover: Option<bool>,
    /// MultiAZEnabled.
    pub multi_az: Option<bool>,
    /// Node group for PrimaryClusterId.
    pub node_group_id: Option<String>,
    /// Online vertical scaling.
    pub cache_node_type: Option<String>,
    /// Weekly window.
    pub preferred_maintenance_window: Option<String>,
    /// Snapshot retention.
    pub snapshot_retention_limit: Option<i64>,
    /// Parameter group.
    pub cache_parameter_group_name: Option<String>,
    /// Engine version changes are not supported yet.
    pub engine_version: Option<String>,
    /// Minor upgrades.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Apply a node type change now instead of in the maintenance window.
    pub apply_immediately: bool,
}
