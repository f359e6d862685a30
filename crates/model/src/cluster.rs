//! Cache clusters and their nodes: the intent a user expressed plus the status the
//! controller has reached. The record is the workflow's state, so a restarted daemon
//! resumes from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Engine;

/// The lifecycle of a cache cluster, with ElastiCache's status strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterStatus {
    /// Nodes are being started for the first time.
    Creating,
    /// Every node is up and nothing is in progress.
    Available,
    /// Nodes are being added, removed or changed.
    Modifying,
    /// Some nodes are being restarted on request.
    RebootingNodes,
    /// The cluster is being torn down.
    Deleting,
    /// A node could not be started while the cluster was created, after every
    /// attempt; the events say why. Terminal: the cluster can only be deleted.
    CreateFailed,
    /// A node that ran could not be started again with the cluster's new settings
    /// (a modify or reboot), after every attempt. Terminal: delete it.
    IncompatibleParameters,
}

impl ClusterStatus {
    /// The status string the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "creating",
            ClusterStatus::Available => "available",
            ClusterStatus::Modifying => "modifying",
            ClusterStatus::RebootingNodes => "rebooting cache cluster nodes",
            ClusterStatus::Deleting => "deleting",
            ClusterStatus::CreateFailed => "create-failed",
            ClusterStatus::IncompatibleParameters => "incompatible-parameters",
        }
    }

    /// A terminal failed state: nothing more is tried, DeleteCacheCluster is allowed.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            ClusterStatus::CreateFailed | ClusterStatus::IncompatibleParameters
        )
    }
}

/// What the controller should do with one node next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Not started yet, or started but not yet answering.
    Creating,
    /// Answering clients.
    Available,
    /// A reboot was requested and has not finished.
    Rebooting,
    /// The node's process is being replaced with a new node type or config.
    Modifying,
    /// The node is being removed from the cluster.
    Deleting,
    /// Every attempt to start the new node failed.
    CreateFailed,
    /// Every attempt to start the node again (modify, reboot) failed.
    IncompatibleParameters,
}

impl NodeStatus {
    /// The status string the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Creating => "creating",
            NodeStatus::Available => "available",
            NodeStatus::Rebooting => "rebooting",
            NodeStatus::Modifying => "modifying",
            NodeStatus::Deleting => "deleting",
            NodeStatus::CreateFailed => "create-failed",
            NodeStatus::IncompatibleParameters => "incompatible-parameters",
        }
    }

    /// A terminal failed state, left only by deleting the cluster.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            NodeStatus::CreateFailed | NodeStatus::IncompatibleParameters
        )
    }
}

/// One node of a cluster: a single engine process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheNode {
    /// "0001", "0002", ...
    pub cache_node_id: String,
    /// Where the node is in its lifecycle.
    pub status: NodeStatus,
    /// When the node was first requested.
    pub create_time: DateTime<Utc>,
    /// The port the engine listens on; fixed for the node's life.
    pub port: u16,
    /// The availability zone the node was placed in.
    pub availability_zone: String,
    /// The host (agent) that runs the node; none for the control plane's own host,
    /// which is what every record written before hosts existed means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The node type the running process was configured for.
    pub node_type: String,
    /// Failed attempts at the node's current step (start, retype, reboot, recovery);
    /// cleared when the step succeeds. Persisted so a restarted daemon counts on.
    #[serde(default)]
    pub attempts: u32,
    /// The next attempt is not made before this time (backoff after a failure).
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
    /// The snapshot file the node's first start loads (a restore); cleared once the
    /// node is available with that data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<RestoreFrom>,
}

/// A node's part of a restore: which snapshot file it starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFrom {
    /// SnapshotName.
    pub snapshot: String,
    /// The node key naming the file within the snapshot.
    pub node_key: String,
    /// The file's recorded size and SHA-256, checked again on the node's host. For
    /// an S3 object they are unknown (zero, empty) until it is downloaded.
    pub file: crate::SnapshotFile,
    /// SnapshotArns: the node starts from this S3 object instead of a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<crate::s3_object::S3Object>,
}

impl RestoreFrom {
    /// A restore from an S3 object (SnapshotArns). `snapshot` holds the ARN, which
    /// never equals a SnapshotName, so no snapshot counts as being read by it.
    pub fn from_object(o: &crate::s3_object::S3Object) -> RestoreFrom {
        RestoreFrom {
            snapshot: format!("arn:aws:s3:::{}/{}", o.bucket, o.key),
            node_key: String::new(),
            file: crate::SnapshotFile {
                size: 0,
                sha256: String::new(),
            },
            object: Some(o.clone()),
        }
    }
}

/// Changes accepted with `ApplyImmediately=false`, waiting for the maintenance window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingModifiedValues {
    /// The node count the cluster will move to.
    pub num_cache_nodes: Option<u32>,
    /// Nodes that will be removed.
    pub cache_node_ids_to_remove: Vec<String>,
    /// The node type the cluster will move to.
    pub cache_node_type: Option<String>,
    /// The engine version the cluster will move to (its group's deferred upgrade).
    #[serde(default)]
    pub engine_version: Option<String>,
}

impl PendingModifiedValues {
    /// True when nothing waits for the maintenance window.
    pub fn is_empty(&self) -> bool {
        self.num_cache_nodes.is_none()
            && self.cache_node_ids_to_remove.is_empty()
            && self.cache_node_type.is_none()
            && self.engine_version.is_none()
    }
}

/// A cache cluster: the user's intent and the controller's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheCluster {
    /// Lower-case CacheClusterId.
    pub id: String,
    /// The engine every node runs.
    pub engine: Engine,
    /// The engine version the nodes run (the installed one).
    pub engine_version: String,
    /// The node type the cluster should have.
    pub cache_node_type: String,
    /// Current lifecycle status.
    pub status: ClusterStatus,
    /// The nodes, in id order. Nodes being removed stay here until they are gone.
    pub nodes: Vec<CacheNode>,
    /// The next node number to hand out; node ids are never reused in a cluster's life.
    pub next_node_number: u32,
    /// The zone of the first node, or the preferred zone.
    pub preferred_availability_zone: String,
    /// `single-az` or `cross-az` (memcached only).
    pub az_mode: String,
    /// `ddd:hh24:mi-ddd:hh24:mi` in UTC.
    pub preferred_maintenance_window: String,
    /// The parameter group the nodes use.
    pub cache_parameter_group_name: String,
    /// How far the running nodes have the group's values.
    #[serde(default)]
    pub parameter_apply: crate::ParameterApply,
    /// The port requested by the user (recorded; node ports come from Larder's range).
    pub requested_port: Option<u16>,
    /// When the cluster was requested.
    pub create_time: DateTime<Utc>,
    /// Memcached configuration endpoint port.
    pub configuration_endpoint_port: Option<u16>,
    /// Memcached auto discovery config version; increases on every membership change.
    pub config_version: u64,
    /// The node ids published at `config_version`, to tell when membership changed.
    #[serde(default)]
    pub published_members: Vec<String>,
    /// Changes waiting for the maintenance window.
    pub pending: PendingModifiedValues,
    /// An engine upgrade of this cluster's only node, in progress.
    #[serde(default)]
    pub upgrade: Option<crate::InPlaceUpgrade>,
    /// An in-place upgrade waiting for the maintenance window (shown as
    /// `pending.engine_version`).
    #[serde(default)]
    pub pending_upgrade: Option<crate::InPlaceUpgrade>,
    /// Service updates applied to or stopped on this cluster.
    #[serde(default)]
    pub service_updates: Vec<crate::UpdateRecord>,
    /// Security group ids, recorded and reported.
    pub security_group_ids: Vec<String>,
    /// Subnet group name, recorded and reported.
    pub cache_subnet_group_name: Option<String>,
    /// Whether minor engine upgrades happen in the maintenance window.
    pub auto_minor_version_upgrade: bool,
    /// Days of automatic snapshots to keep (Redis).
    pub snapshot_retention_limit: u32,
    /// Daily snapshot window (Redis): given, or assigned at creation.
    pub snapshot_window: Option<String>,
    /// The day (the date its window occurrence began) of the last automatic snapshot
    /// started, committed with that snapshot's record so that a restarted daemon
    /// neither takes a second one that day nor misses the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_snapshot_day: Option<chrono::NaiveDate>,
    /// SNS topic for events, recorded and reported.
    pub notification_topic_arn: Option<String>,
    /// The replication group this cluster is a member of.
    #[serde(default)]
    pub replication_group_id: Option<String>,
}

impl CacheCluster {
    /// Nodes that are part of the cluster's membership (not being removed).
    pub fn member_nodes(&self) -> impl Iterator<Item = &CacheNode> {
        self.nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Deleting)
    }

    /// The number of nodes the cluster has or is converging to.
    pub fn num_cache_nodes(&self) -> u32 {
        self.member_nodes().count() as u32
    }

    /// Finds a node by id.
    pub fn node(&self, id: &str) -> Option<&CacheNode> {
        self.nodes.iter().find(|n| n.cache_node_id == id)
    }

    /// The key naming a node's process and data directory on the host.
    pub fn node_key(&self, node_id: &str) -> String {
        format!("{}-{}", self.id, node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node as stores written before attempts were recorded hold it.
    const OLD_NODE: &str = r#"{"cache_node_id":"0001","status":"creating",
        "create_time":"2024-05-01T10:00:00Z","port":21000,
        "availability_zone":"us-east-1a","node_type":"cache.t4g.micro"}"#;

    #[test]
    fn nodes_from_an_older_store_load_with_no_attempts() {
        let n: CacheNode = serde_json::from_str(OLD_NODE).expect("old record loads");
        assert_eq!(n.attempts, 0);
        assert_eq!(n.retry_at, None);
        assert_eq!(n.status, NodeStatus::Creating);
    }

    #[test]
    fn failed_states_use_elasticache_strings_and_round_trip() {
        for (s, text) in [
            (ClusterStatus::CreateFailed, "create-failed"),
            (
                ClusterStatus::IncompatibleParameters,
                "incompatible-parameters",
            ),
        ] {
            assert_eq!(s.as_str(), text);
            assert!(s.is_failed());
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<ClusterStatus>(&json).unwrap(), s);
        }
        assert!(!ClusterStatus::Creating.is_failed());
        assert_eq!(NodeStatus::CreateFailed.as_str(), "create-failed");
        assert!(NodeStatus::IncompatibleParameters.is_failed());
        assert!(!NodeStatus::Available.is_failed());
    }
}
