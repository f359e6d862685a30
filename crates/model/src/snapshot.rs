//! Snapshots: a copy of a redis node's dataset (an RDB file made by the node), with
//! the settings of the cluster or group it was taken from, as DescribeSnapshots shows
//! them. The record is also the workflow's state: `status` and each node snapshot's
//! recorded file say which step comes next, so a restarted daemon resumes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Engine;

/// Longest SnapshotName Larder accepts. The names become file names on the agents
/// and the control plane, so they are bounded and checked like identifiers.
pub const SNAPSHOT_NAME_MAX: usize = 255;

/// The lifecycle of a snapshot, with ElastiCache's status strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    /// The node is saving, or its file is being copied to the control plane.
    Creating,
    /// Every file is complete, its size and SHA-256 recorded.
    Available,
    /// DeleteSnapshot was accepted; the files and then the record go.
    Deleting,
    /// The snapshot could not be made (the source went away, the save failed every
    /// attempt); the events say why. It holds no data and can only be deleted.
    Failed,
}

impl SnapshotStatus {
    /// The status string the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::Failed => "failed",
        }
    }
}

/// Who asked for the snapshot (`SnapshotSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSource {
    /// CreateSnapshot, or a final snapshot on delete.
    Manual,
    /// The daily automatic backup.
    Automated,
}

impl SnapshotSource {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotSource::Manual => "manual",
            SnapshotSource::Automated => "automated",
        }
    }
}

/// The file of one node in a snapshot, once the node has saved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
}

/// One node's part of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    /// The member cluster the data was taken from.
    pub cache_cluster_id: String,
    /// The node it was taken from ("0001").
    pub cache_node_id: String,
    /// The shard; "0001" for a replication group (one node group), none for a cluster.
    pub node_group_id: Option<String>,
    /// When the source node was created.
    pub cache_node_create_time: DateTime<Utc>,
    /// The host (agent) that runs the source node; none for the control plane's host.
    #[serde(default)]
    pub host: Option<String>,
    /// The node's port, to reach it through its agent.
    pub port: u16,
    /// What the node saved, recorded once its agent has the file complete. Until
    /// then the save step runs (again); after it, the copy step.
    pub file: Option<SnapshotFile>,
    /// When the node's dataset was saved.
    pub snapshot_create_time: Option<DateTime<Utc>>,
}

impl NodeSnapshot {
    /// The node key naming the node's process and directory on its host, and its
    /// file in the snapshot.
    pub fn node_key(&self) -> String {
        format!("{}-{}", self.cache_cluster_id, self.cache_node_id)
    }
}

/// A snapshot: the source's settings at the time, the files, and the progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Lower-case SnapshotName.
    pub name: String,
    /// Where it is in its lifecycle.
    pub status: SnapshotStatus,
    /// Manual or automated.
    pub source: SnapshotSource,
    /// The single-node cluster it was taken of, or the group member whose node was
    /// used (ElastiCache reports the member for a group snapshot too).
    pub cache_cluster_id: Option<String>,
    /// The replication group it was taken of.
    pub replication_group_id: Option<String>,
    /// The group's description.
    pub replication_group_description: Option<String>,
    /// Engine of the source.
    pub engine: Engine,
    /// Engine version of the source.
    pub engine_version: String,
    /// Node type of the source.
    pub cache_node_type: String,
    /// Nodes of the source cluster (a group: its member count).
    pub num_cache_nodes: u32,
    /// Zone of the source node.
    pub preferred_availability_zone: String,
    /// When the source cluster or group was created.
    pub cache_cluster_create_time: DateTime<Utc>,
    /// Maintenance window of the source.
    pub preferred_maintenance_window: String,
    /// Port the source's clients used.
    pub port: Option<u16>,
    /// Parameter group of the source.
    pub cache_parameter_group_name: String,
    /// Subnet group of the source.
    pub cache_subnet_group_name: Option<String>,
    /// AutoMinorVersionUpgrade of the source.
    pub auto_minor_version_upgrade: bool,
    /// SnapshotRetentionLimit of the source.
    pub snapshot_retention_limit: u32,
    /// SnapshotWindow of the source.
    pub snapshot_window: Option<String>,
    /// Shards of a group snapshot (1: Larder groups are not cluster mode).
    pub num_node_groups: Option<u32>,
    /// AutomaticFailover of a group snapshot.
    pub automatic_failover: Option<bool>,
    /// The nodes' files.
    pub node_snapshots: Vec<NodeSnapshot>,
    /// When CreateSnapshot was accepted.
    pub create_time: DateTime<Utc>,
    /// Failed attempts at the current step; cleared when a step succeeds.
    #[serde(default)]
    pub attempts: u32,
    /// The next attempt is not made before this time.
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
    /// CopySnapshot: the snapshot whose files this one copies (instead of saving a
    /// node); the copy is `creating` until every file is in place and verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// CopySnapshot with TargetBucket: exports of this snapshot's files still to be
    /// uploaded; each leaves the list once every object is in the bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<SnapshotExport>,
}

/// An export of a snapshot's files to an S3 bucket, as CopySnapshot with
/// TargetBucket asks: one object per node, named by [`SnapshotExport::object_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotExport {
    /// The bucket.
    pub bucket: String,
    /// TargetSnapshotName: the objects' name prefix.
    pub name: String,
}

impl SnapshotExport {
    /// The object key of the node snapshot at `index` (0-based): ElastiCache names
    /// exported files `<TargetSnapshotName>-<node number, 4 digits>.rdb`.
    pub fn object_key(&self, index: usize) -> String {
        format!("{}-{:04}.rdb", self.name, index + 1)
    }
}

impl Snapshot {
    /// The resource the snapshot's events are about: the group, else the cluster.
    pub fn source_id(&self) -> &str {
        self.replication_group_id
            .as_deref()
            .or(self.cache_cluster_id.as_deref())
            .unwrap_or(&self.name)
    }

    /// Whether the snapshot was taken of cluster `id` (itself, or as a group member).
    pub fn is_of_cluster(&self, id: &str) -> bool {
        self.cache_cluster_id.as_deref() == Some(id)
            || self.node_snapshots.iter().any(|n| n.cache_cluster_id == id)
    }
}

/// The name of an automatic snapshot, as ElastiCache names them:
/// `automatic.<id>-YYYY-MM-DD-HH-MM`. Larder uses the start of the window occurrence
/// the snapshot is for, so the name follows from the day alone (a decision redone
/// after a crash lands on the same name), and `.` keeps it apart from the names users
/// can give.
pub fn automated_snapshot_name(source_id: &str, window_start: DateTime<Utc>) -> String {
    format!(
        "automatic.{source_id}-{}",
        window_start.format("%Y-%m-%d-%H-%M")
    )
}

/// The name a snapshot's files carry on the agents, whose file names are only
/// lower-case letters, digits and hyphens: the `.` of an automatic snapshot's name
/// becomes `--`. No other name can map to the same one, since names users give
/// (identifiers) never hold `--` or `.`, nor do the cache ids in automatic names.
pub fn agent_file_name(snapshot: &str) -> String {
    snapshot.replace('.', "--")
}

/// `CacheSize` as the service shows it: whole megabytes.
pub fn cache_size(bytes: u64) -> String {
    format!("{} MB", bytes / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_elasticache_strings() {
        assert_eq!(SnapshotStatus::Creating.as_str(), "creating");
        assert_eq!(SnapshotStatus::Deleting.as_str(), "deleting");
        assert_eq!(SnapshotSource::Manual.as_str(), "manual");
        assert_eq!(cache_size(5 * 1024 * 1024 + 7), "5 MB");
        assert_eq!(cache_size(100), "0 MB");
    }

    #[test]
    fn automatic_snapshots_are_named_by_source_and_window_start() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 6, 30, 0).unwrap();
        assert_eq!(
            automated_snapshot_name("orders", at),
            "automatic.orders-2026-12-05-06-30"
        );
        assert_eq!(
            agent_file_name("automatic.orders-2026-12-05-06-30"),
            "automatic--orders-2026-12-05-06-30"
        );
        assert_eq!(agent_file_name("nightly-1"), "nightly-1");
    }

    #[test]
    fn exported_objects_are_numbered_from_one() {
        let e = SnapshotExport {
            bucket: "b".into(),
            name: "nightly".into(),
        };
        assert_eq!(e.object_key(0), "nightly-0001.rdb");
        assert_eq!(e.object_key(11), "nightly-0012.rdb");
    }
}
