//! Replication groups (Redis, cluster mode disabled): one primary cluster and up to
//! five replica clusters behind stable primary and reader endpoints. The record is the
//! failover workflow's state too, so a restarted daemon resumes a failover mid-way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Engine;

/// Most replicas per node group, as on ElastiCache.
pub const MAX_REPLICAS: u32 = 5;

/// The lifecycle of a replication group, with ElastiCache's status strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationGroupStatus {
    /// Members are being started and attached.
    Creating,
    /// Every member is up and replicating.
    Available,
    /// Members are being added or removed, or the primary is changing.
    Modifying,
    /// The primary is replicating from a self-managed Redis (StartMigration).
    Migrating,
    /// The group is being torn down.
    Deleting,
    /// A member could not be created after every attempt; the events say why.
    /// Terminal: the group can only be deleted.
    CreateFailed,
}

impl ReplicationGroupStatus {
    /// The status string the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationGroupStatus::Creating => "creating",
            ReplicationGroupStatus::Available => "available",
            ReplicationGroupStatus::Modifying => "modifying",
            ReplicationGroupStatus::Migrating => "migrating",
            ReplicationGroupStatus::Deleting => "deleting",
            ReplicationGroupStatus::CreateFailed => "create-failed",
        }
    }
}

/// A primary change in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    /// The member that was primary when the failover began.
    pub from: String,
    /// The member being promoted; chosen (and then fixed) by the controller when the
    /// request did not name one.
    pub to: Option<String>,
    /// Planned switchovers (TestFailover, PrimaryClusterId) wait for the replica to
    /// catch up so no acknowledged write is lost; unplanned ones fence the old primary.
    pub planned: bool,
    /// Why it happened, for the event log.
    pub reason: String,
    /// How far it got. Each step is recorded before its side effect, and every side
    /// effect is safe to repeat, so a restarted daemon redoes the recorded step.
    #[serde(default)]
    pub step: FailoverStep,
}

/// The persisted steps of a failover, in order. The commit that makes `to` the
/// primary ends it (the record is removed in the same transaction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverStep {
    /// Pick the replica to promote (skipped when the request named it).
    #[default]
    Choose,
    /// Make sure the old primary can never take another write: planned, pause it,
    /// let `to` catch up and make it a replica of `to`; unplanned, SIGKILL it.
    Fence,
    /// `REPLICAOF NO ONE` on `to`, once the old primary is fenced.
    Promote,
}

impl FailoverStep {
    /// The step's name in logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverStep::Choose => "choose",
            FailoverStep::Fence => "fence",
            FailoverStep::Promote => "promote",
        }
    }
}

impl Failover {
    /// A failover that starts at its first step: `Fence` when the target is named.
    pub fn new(from: &str, to: Option<String>, planned: bool, reason: &str) -> Failover {
        let step = if to.is_some() {
            FailoverStep::Fence
        } else {
            FailoverStep::Choose
        };
        Failover {
            from: from.to_string(),
            to,
            planned,
            reason: reason.to_string(),
            step,
        }
    }
}

/// An engine version upgrade of a group, applied node by node so the group keeps
/// serving writes: every replica first (one at a time, each restarted on the new
/// binary and resynced), then a planned switchover to an upgraded replica, then the
/// old primary. Each move is one committed change of intent, so a crash anywhere
/// resumes where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineUpgrade {
    /// The full version every member ends on (`7.0.15`).
    pub target: String,
    /// The parameter group the members run with on the new version.
    pub parameter_group: String,
    /// Where the upgrade is.
    pub step: UpgradeStep,
}

/// The stages of an [`EngineUpgrade`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpgradeStep {
    /// Restarting replicas on the new version, one at a time.
    Replicas,
    /// The switchover away from `old_primary` was started; once it is done,
    /// `old_primary` (a replica by then) is restarted on the new version.
    OldPrimary {
        /// The member that was primary when the replicas were done.
        old_primary: String,
    },
    /// A group of one member: its cluster upgrades in place (`InPlaceUpgrade`),
    /// restarting its node from its own data; `started` once that was asked for.
    InPlace {
        /// Whether the member's in-place upgrade was started.
        started: bool,
    },
}

/// An online migration from a self-managed Redis into the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The source's address.
    pub address: String,
    /// The source's port.
    pub port: u16,
    /// CompleteMigration was called; cut over once in sync (or at once with `force`).
    pub completing: bool,
    /// CompleteMigration's Force.
    pub force: bool,
}

/// A replication group: intent plus the controller's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationGroup {
    /// Lower-case ReplicationGroupId.
    pub id: String,
    /// ReplicationGroupDescription.
    pub description: String,
    /// Lifecycle status.
    pub status: ReplicationGroupStatus,
    /// Redis or Valkey.
    pub engine: Engine,
    /// Installed version the members run.
    pub engine_version: String,
    /// Node type of every member.
    pub cache_node_type: String,
    /// Parameter group of every member.
    pub cache_parameter_group_name: String,
    /// Member cluster ids in creation order.
    pub members: Vec<String>,
    /// The member that is primary; endpoints route writes only here.
    pub primary: String,
    /// Increases on every primary change; a fencing token for endpoints and logs.
    pub role_generation: u64,
    /// AutomaticFailoverEnabled.
    pub automatic_failover: bool,
    /// MultiAZEnabled.
    pub multi_az: bool,
    /// Port of the primary endpoint.
    pub primary_endpoint_port: u16,
    /// Port of the reader endpoint.
    pub reader_endpoint_port: u16,
    /// Next member number (`<id>-004`); never reused.
    pub next_member_number: u32,
    /// A primary change in progress.
    pub failover: Option<Failover>,
    /// Set by DeleteReplicationGroup with RetainPrimaryCluster.
    pub retain_primary_on_delete: bool,
    /// When the group was requested.
    pub create_time: DateTime<Utc>,
    /// Weekly maintenance window.
    pub preferred_maintenance_window: String,
    /// Days of automatic snapshots to keep.
    pub snapshot_retention_limit: u32,
    /// Daily snapshot window: given, or assigned at creation.
    pub snapshot_window: Option<String>,
    /// SnapshottingClusterId: the member automatic snapshots are taken from (while it
    /// is available; else a healthy replica, as for CreateSnapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshotting_cluster_id: Option<String>,
    /// The day of the last automatic snapshot started (see the cluster's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_snapshot_day: Option<chrono::NaiveDate>,
    /// Minor upgrades in the window.
    pub auto_minor_version_upgrade: bool,
    /// Recorded security groups.
    pub security_group_ids: Vec<String>,
    /// Recorded subnet group.
    pub cache_subnet_group_name: Option<String>,
    /// Requested port (recorded; ports come from Larder's range).
    pub requested_port: Option<u16>,
    /// An online migration in progress.
    #[serde(default)]
    pub migration: Option<Migration>,
    /// A node type change waiting for the maintenance window (ApplyImmediately=false).
    #[serde(default)]
    pub pending_cache_node_type: Option<String>,
    /// An engine upgrade in progress, node by node.
    #[serde(default)]
    pub upgrade: Option<EngineUpgrade>,
    /// An engine upgrade waiting for the maintenance window (ApplyImmediately=false);
    /// it becomes `upgrade` when the window opens.
    #[serde(default)]
    pub pending_upgrade: Option<EngineUpgrade>,
    /// Service updates applied to or stopped on this group.
    #[serde(default)]
    pub service_updates: Vec<crate::UpdateRecord>,
    /// A member whose reboot was asked while it was primary: the primary is switched
    /// away from it first (a restarted primary comes back empty), then it reboots.
    #[serde(default)]
    pub reboot_after_switchover: Option<String>,
}

impl ReplicationGroup {
    /// Member cluster id for a member number: `<id>-001`.
    pub fn member_id(&self, n: u32) -> String {
        format!("{}-{n:03}", self.id)
    }

    /// Members other than the primary.
    pub fn replicas(&self) -> impl Iterator<Item = &String> {
        self.members.iter().filter(move |m| **m != self.primary)
    }
}
