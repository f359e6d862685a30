//! The `snapshotting` status ElastiCache shows on a cluster or group while a snapshot
//! of it is being made.
//!
//! It is a view, not a state: the record stays `available`, so failover, the node
//! steps and every workflow that waits for `available` go on as before while the
//! replica saves. Only the descriptions say `snapshotting`.

use std::collections::BTreeSet;

use larder_model::{CacheCluster, Fault, ReplicationGroup, Snapshot, SnapshotStatus};

use crate::Controller;

/// The clusters and groups a snapshot is being made of (copies read no node).
#[derive(Debug, Clone, Default)]
pub struct Snapshotting {
    clusters: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl Snapshotting {
    /// From the snapshots in the store.
    pub fn of(snapshots: &[Snapshot]) -> Snapshotting {
        let mut busy = Snapshotting::default();
        for s in snapshots
            .iter()
            .filter(|s| s.status == SnapshotStatus::Creating && s.copy_of.is_none())
        {
            if let Some(g) = &s.replication_group_id {
                busy.groups.insert(g.clone());
            }
            busy.clusters.extend(s.cache_cluster_id.iter().cloned());
            busy.clusters
                .extend(s.node_snapshots.iter().map(|n| n.cache_cluster_id.clone()));
        }
        busy
    }

    /// The status to show for a cluster.
    pub fn cluster_status(&self, c: &CacheCluster) -> &'static str {
        if c.status == larder_model::ClusterStatus::Available && self.clusters.contains(&c.id) {
            "snapshotting"
        } else {
            c.status.as_str()
        }
    }

    /// The status to show for a group.
    pub fn group_status(&self, g: &ReplicationGroup) -> &'static str {
        if g.status == larder_model::ReplicationGroupStatus::Available
            && self.groups.contains(&g.id)
        {
            "snapshotting"
        } else {
            g.status.as_str()
        }
    }
}

impl Controller {
    /// What is being snapshotted now, read once per description.
    pub fn snapshotting(&self) -> Result<Snapshotting, Fault> {
        Ok(Snapshotting::of(&self.store().list_snapshots()?))
    }

    /// The group's SnapshottingClusterId, while it names a member (member ids are
    /// never reused, so one removed since is simply not shown).
    pub fn snapshotting_cluster<'a>(&self, g: &'a ReplicationGroup) -> Option<&'a str> {
        g.snapshotting_cluster_id
            .as_deref()
            .filter(|m| g.members.iter().any(|x| x == m))
    }
}
