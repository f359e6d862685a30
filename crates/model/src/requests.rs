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
    /// Recorded.
    pub security_group_ids: Vec<String>,
    /// Tags to put on the cluster.
    pub tags: Vec<Tag>,
    /// `ddd:hh24:mi-ddd:hh24:mi`.
    pub preferred_maintenance_window: Option<String>,
    /// Requested port.
    pub port: Option<i64>,
    /// SNS topic.
    pub notification_topic_arn: Option<String>,
    /// Minor upgrades in the maintenance window.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Redis snapshot retention.
    pub snapshot_retention_limit: Option<i64>,
    /// Redis snapshot window.
    pub snapshot_window: Option<String>,
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
    /// New security groups.
    pub security_group_ids: Vec<String>,
    /// New SNS topic.
    pub notification_topic_arn: Option<String>,
    /// New flag.
    pub auto_minor_version_upgrade: Option<bool>,
    /// New retention.
    pub snapshot_retention_limit: Option<i64>,
    /// New window.
    pub snapshot_window: Option<String>,
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
