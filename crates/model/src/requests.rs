//! Typed operation requests, built by the api crate from parameters its operation
//! table already validated (ranges, enumerations, identifier syntax, combinations), and
//! carried out by the controller's service layer, which checks only what needs state.

use crate::{Engine, NodeType, Tag};

/// CreateCacheCluster.
#[derive(Debug, Clone)]
pub struct CreateCacheCluster {
    /// Valid and lower-cased.
    pub cache_cluster_id: String,
    /// The engine.
    pub engine: Engine,
    /// Major.minor or full version; defaults to the installed one.
    pub engine_version: Option<String>,
    /// The node type, e.g. `cache.t4g.micro`.
    pub cache_node_type: NodeType,
    /// Node count (memcached 1..=40, redis 1).
    pub num_cache_nodes: u32,
    /// AZMode cross-az (memcached only).
    pub cross_az: bool,
    /// Zone for every node (one entry) or per node.
    pub preferred_availability_zones: Vec<String>,
    /// Parameter group name.
    pub cache_parameter_group_name: Option<String>,
    /// Recorded.
    pub cache_subnet_group_name: Option<String>,
    /// Tags to put on the cluster.
    pub tags: Vec<Tag>,
    /// A valid `ddd:hh24:mi-ddd:hh24:mi`.
    pub preferred_maintenance_window: Option<String>,
    /// Requested port.
    pub port: Option<u16>,
    /// Minor upgrades in the maintenance window.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Redis snapshot retention.
    pub snapshot_retention_limit: Option<u32>,
    /// SnapshotWindow, a valid `hh24:mi-hh24:mi`.
    pub snapshot_window: Option<String>,
    /// Start the nodes from this snapshot's data (lower-cased SnapshotName).
    pub snapshot_name: Option<String>,
    /// SnapshotArns: start the (primary) node from this RDB object instead.
    pub snapshot_object: Option<crate::s3_object::S3Object>,
}

/// ModifyCacheCluster.
#[derive(Debug, Clone, Default)]
pub struct ModifyCacheCluster {
    /// Required.
    pub cache_cluster_id: String,
    /// New node count (at least 1).
    pub num_cache_nodes: Option<u32>,
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
    pub snapshot_retention_limit: Option<u32>,
    /// SnapshotWindow, a valid `hh24:mi-hh24:mi`.
    pub snapshot_window: Option<String>,
    /// AZ mode (`single-az` or `cross-az`) for added nodes.
    pub az_mode: Option<String>,
    /// Zones for added nodes.
    pub new_availability_zones: Vec<String>,
    /// Engine version changes are not supported yet.
    pub engine_version: Option<String>,
    /// Parameter group change.
    pub cache_parameter_group_name: Option<String>,
}

/// CreateReplicationGroup (cluster mode disabled).
#[derive(Debug, Clone)]
pub struct CreateReplicationGroup {
    /// Valid and lower-cased.
    pub replication_group_id: String,
    /// Required.
    pub description: String,
    /// Grow the group from this existing cluster (lower-cased).
    pub primary_cluster_id: Option<String>,
    /// AutomaticFailoverEnabled.
    pub automatic_failover: bool,
    /// MultiAZEnabled.
    pub multi_az: bool,
    /// Members including the primary (1..=6), from NumCacheClusters or ReplicasPerNodeGroup.
    pub num_cache_clusters: u32,
    /// Zone per member, primary first.
    pub preferred_cache_cluster_azs: Vec<String>,
    /// The node type; `None` only when growing from PrimaryClusterId (inherited).
    pub cache_node_type: Option<NodeType>,
    /// `redis` or `valkey`.
    pub engine: Engine,
    /// Engine version.
    pub engine_version: Option<String>,
    /// Parameter group.
    pub cache_parameter_group_name: Option<String>,
    /// Recorded.
    pub cache_subnet_group_name: Option<String>,
    /// Tags for the group.
    pub tags: Vec<Tag>,
    /// A valid weekly window.
    pub preferred_maintenance_window: Option<String>,
    /// Requested port.
    pub port: Option<u16>,
    /// Minor upgrades.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Snapshot retention.
    pub snapshot_retention_limit: Option<u32>,
    /// SnapshotWindow, a valid `hh24:mi-hh24:mi`.
    pub snapshot_window: Option<String>,
    /// Start the nodes from this snapshot's data (lower-cased SnapshotName).
    pub snapshot_name: Option<String>,
    /// SnapshotArns: start the (primary) node from this RDB object instead.
    pub snapshot_object: Option<crate::s3_object::S3Object>,
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
    pub snapshot_retention_limit: Option<u32>,
    /// SnapshotWindow, a valid `hh24:mi-hh24:mi`.
    pub snapshot_window: Option<String>,
    /// SnapshottingClusterId (lower-cased).
    pub snapshotting_cluster_id: Option<String>,
    /// Parameter group.
    pub cache_parameter_group_name: Option<String>,
    /// Engine version changes are not supported yet.
    pub engine_version: Option<String>,
    /// Minor upgrades.
    pub auto_minor_version_upgrade: Option<bool>,
    /// Apply a node type change now instead of in the maintenance window.
    pub apply_immediately: bool,
}

/// CreateSnapshot, and the final snapshot of a delete.
#[derive(Debug, Clone)]
pub struct CreateSnapshot {
    /// Valid and lower-cased.
    pub snapshot_name: String,
    /// The cluster to snapshot (lower-cased); exactly one of this and the group.
    pub cache_cluster_id: Option<String>,
    /// The replication group to snapshot (lower-cased).
    pub replication_group_id: Option<String>,
    /// Tags for the snapshot.
    pub tags: Vec<Tag>,
}

/// CopySnapshot: a copy under a new name, or an export to an S3 bucket.
#[derive(Debug, Clone)]
pub struct CopySnapshot {
    /// The snapshot copied (lower-cased).
    pub source_snapshot_name: String,
    /// The copy's name; with a bucket, the exported objects' name prefix.
    pub target_snapshot_name: String,
    /// TargetBucket: export to this bucket instead of making a snapshot.
    pub target_bucket: Option<String>,
    /// Tags for the copy.
    pub tags: Vec<Tag>,
}
