//! CreateSnapshot, DescribeSnapshots, DeleteSnapshot: the checks that need state and
//! the committed intent. The files are made by the reconcile loop
//! (`reconcile/snapshots.rs`); these only record what is asked.

use chrono::Utc;
use larder_model::requests::CreateSnapshot;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Engine, Event, Fault, NodeSnapshot, NodeStatus,
    ReplicationGroup, RestoreFrom, Snapshot, SnapshotSource, SnapshotStatus,
};
use larder_store::Tx;

use super::{group_event, require_available, require_group_available};
use crate::Controller;

/// DescribeSnapshots' page size when MaxRecords is not given.
const DEFAULT_PAGE: usize = 50;

/// DescribeSnapshots' filters.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Only this snapshot (SnapshotNotFound if it does not exist).
    pub snapshot_name: Option<String>,
    /// Only snapshots of this cluster.
    pub cache_cluster_id: Option<String>,
    /// Only snapshots of this group.
    pub replication_group_id: Option<String>,
    /// Only manual (`user`) or automated (`system`) ones.
    pub source: Option<SnapshotSource>,
}

/// A page of DescribeSnapshots.
pub struct SnapshotPage {
    /// The snapshots, by name.
    pub snapshots: Vec<Snapshot>,
    /// Where the next page starts, if there is one.
    pub marker: Option<String>,
}

/// The event of a snapshot, about the cluster or group it was taken of.
pub(crate) fn snapshot_event(s: &Snapshot, message: impl Into<String>) -> Event {
    match &s.replication_group_id {
        Some(g) => group_event(g, message),
        None => Event::cache_cluster(s.source_id(), message),
    }
}

/// A snapshot of a redis cluster's running state, not yet made.
fn snapshot_of(name: &str, c: &CacheCluster, node: &CacheNode) -> Snapshot {
    Snapshot {
        name: name.to_string(),
        status: SnapshotStatus::Creating,
        source: SnapshotSource::Manual,
        cache_cluster_id: Some(c.id.clone()),
        replication_group_id: None,
        replication_group_description: None,
        engine: c.engine,
        engine_version: c.engine_version.clone(),
        cache_node_type: c.cache_node_type.clone(),
        num_cache_nodes: c.num_cache_nodes(),
        preferred_availability_zone: c.preferred_availability_zone.clone(),
        cache_cluster_create_time: c.create_time,
        preferred_maintenance_window: c.preferred_maintenance_window.clone(),
        port: Some(c.requested_port.unwrap_or(6379)),
        cache_parameter_group_name: c.cache_parameter_group_name.clone(),
        cache_subnet_group_name: c.cache_subnet_group_name.clone(),
        auto_minor_version_upgrade: c.auto_minor_version_upgrade,
        snapshot_retention_limit: c.snapshot_retention_limit,
        snapshot_window: c.snapshot_window.clone(),
        num_node_groups: None,
        automatic_failover: None,
        node_snapshots: vec![NodeSnapshot {
            cache_cluster_id: c.id.clone(),
            cache_node_id: node.cache_node_id.clone(),
            node_group_id: None,
            cache_node_create_time: node.create_time,
            host: node.host.clone(),
            port: node.port,
            file: None,
            snapshot_create_time: None,
        }],
        create_time: Utc::now(),
        attempts: 0,
        retry_at: None,
        copy_of: None,
        exports: Vec::new(),
    }
}

/// Refuses a second snapshot of a source while one is being made: ElastiCache shows
/// the source `snapshotting`, which is not `available`.
fn refuse_if_snapshotting(tx: &Tx<'_>, source: &str, group: bool) -> Result<(), Fault> {
    let busy = tx.snapshots()?.into_iter().any(|s| {
        s.status == SnapshotStatus::Creating
            && if group {
                s.replication_group_id.as_deref() == Some(source)
            } else {
                s.replication_group_id.is_none() && s.cache_cluster_id.as_deref() == Some(source)
            }
    });
    match (busy, group) {
        (false, _) => Ok(()),
        (true, true) => Err(Fault::InvalidReplicationGroupState(format!(
            "Replication group {source} is not in available state (it is snapshotting)."
        ))),
        (true, false) => Err(Fault::InvalidCacheClusterState(format!(
            "Cache cluster {source} is not in available state (it is snapshotting)."
        ))),
    }
}

impl Controller {
    /// What a new node restored from snapshot `name` starts from: the snapshot must
    /// be available (its files complete and verified).
    pub(crate) fn restore_source(&self, name: &str) -> Result<RestoreFrom, Fault> {
        let s = self
            .store()
            .get_snapshot(name)?
            .ok_or_else(|| Fault::SnapshotNotFound(name.to_string()))?;
        let ns = s.node_snapshots.first();
        match (s.status, ns, ns.and_then(|n| n.file.clone())) {
            (SnapshotStatus::Available, Some(ns), Some(file)) => Ok(RestoreFrom {
                snapshot: s.name.clone(),
                node_key: ns.node_key(),
                file,
                object: None,
            }),
            _ => Err(Fault::InvalidSnapshotState(format!(
                "Snapshot {name} is {}; only an available snapshot can be restored.",
                s.status.as_str()
            ))),
        }
    }

    /// Records a snapshot to be made of a redis cluster or replication group.
    pub fn create_snapshot(&self, r: CreateSnapshot) -> Result<Snapshot, Fault> {
        let arn = self.settings().arn("snapshot", &r.snapshot_name);
        let mut tags = Vec::new();
        larder_model::arn::merge_tags(&mut tags, r.tags.clone())?;
        let s = self.store().transaction(|tx| {
            if tx.snapshot(&r.snapshot_name)?.is_some() {
                return Err(Fault::SnapshotAlreadyExists(r.snapshot_name.clone()));
            }
            super::snapshot_copy::refuse_over_quota(tx, self.settings().max_snapshots)?;
            let s = match (&r.replication_group_id, &r.cache_cluster_id) {
                (Some(g), _) => self.group_snapshot(tx, &r.snapshot_name, g)?,
                (None, Some(c)) => self.cluster_snapshot(tx, &r.snapshot_name, c)?,
                (None, None) => {
                    return Err(Fault::InvalidParameterCombination(
                        "One of CacheClusterId and ReplicationGroupId must be given.".into(),
                    ))
                }
            };
            tx.create_snapshot(&s)?;
            if !tags.is_empty() {
                tx.put_tags(&arn, &tags)?;
            }
            tx.event(snapshot_event(
                &s,
                format!("Snapshot {} creation started", s.name),
            ));
            Ok(s)
        })?;
        self.wake();
        Ok(s)
    }

    /// Records the final snapshot of a cluster or group being deleted, inside the
    /// deletion's transaction (so both happen or neither).
    pub(crate) fn record_final_snapshot(
        &self,
        tx: &mut Tx<'_>,
        name: &str,
        cluster: Option<&str>,
        group: Option<&str>,
    ) -> Result<(), Fault> {
        if tx.snapshot(name)?.is_some() {
            return Err(Fault::SnapshotAlreadyExists(name.to_string()));
        }
        let s = match (group, cluster) {
            (Some(g), _) => self.group_snapshot(tx, name, g)?,
            (None, Some(c)) => self.cluster_snapshot(tx, name, c)?,
            (None, None) => return Ok(()),
        };
        tx.create_snapshot(&s)?;
        tx.event(snapshot_event(
            &s,
            format!("Final snapshot {} creation started", s.name),
        ));
        Ok(())
    }

    pub(crate) fn cluster_snapshot(
        &self,
        tx: &Tx<'_>,
        name: &str,
        id: &str,
    ) -> Result<Snapshot, Fault> {
        let c = tx
            .cluster(id)?
            .ok_or_else(|| Fault::CacheClusterNotFound(id.to_string()))?;
        if c.engine == Engine::Memcached {
            return Err(Fault::SnapshotFeatureNotSupported(format!(
                "Snapshots are not supported for memcached cluster {id}."
            )));
        }
        if let Some(g) = &c.replication_group_id {
            // A member's snapshot is the group's, taken from that member's node.
            return self.group_snapshot_from(tx, name, g, Some(&c.id));
        }
        require_available(&c)?;
        refuse_if_snapshotting(tx, &c.id, false)?;
        let node = c
            .member_nodes()
            .next()
            .ok_or_else(|| Fault::InvalidCacheClusterState(format!("{id} has no node")))?;
        Ok(snapshot_of(name, &c, node))
    }

    fn group_snapshot(&self, tx: &Tx<'_>, name: &str, id: &str) -> Result<Snapshot, Fault> {
        self.group_snapshot_from(tx, name, id, None)
    }

    /// A group's snapshot, from `member` or else from a healthy replica (so the
    /// primary's clients do not pay for the fork), or the primary when it has none.
    pub(crate) fn group_snapshot_from(
        &self,
        tx: &Tx<'_>,
        name: &str,
        id: &str,
        member: Option<&str>,
    ) -> Result<Snapshot, Fault> {
        let g = tx
            .replication_group(id)?
            .ok_or_else(|| Fault::ReplicationGroupNotFound(id.to_string()))?;
        require_group_available(&g)?;
        refuse_if_snapshotting(tx, &g.id, true)?;
        let members = g
            .members
            .iter()
            .filter_map(|m| tx.cluster(m).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let chosen = match member {
            Some(m) => members.iter().find(|c| c.id == m),
            None => self
                .healthy_replica(&g, &members)
                .or_else(|| members.iter().find(|c| c.id == g.primary)),
        };
        let c = chosen.ok_or_else(|| {
            Fault::InvalidReplicationGroupState(format!(
                "Replication group {id} has no node to snapshot."
            ))
        })?;
        require_available(c)?;
        let node = c
            .member_nodes()
            .next()
            .ok_or_else(|| Fault::InvalidCacheClusterState(format!("{} has no node", c.id)))?;
        let mut s = snapshot_of(name, c, node);
        s.replication_group_id = Some(g.id.clone());
        s.replication_group_description = Some(g.description.clone());
        s.cache_cluster_id = None;
        s.num_cache_nodes = g.members.len() as u32;
        s.cache_cluster_create_time = g.create_time;
        s.preferred_maintenance_window = g.preferred_maintenance_window.clone();
        s.snapshot_retention_limit = g.snapshot_retention_limit;
        s.snapshot_window = g.snapshot_window.clone();
        s.auto_minor_version_upgrade = g.auto_minor_version_upgrade;
        s.port = Some(g.requested_port.unwrap_or(6379));
        s.num_node_groups = Some(1);
        s.automatic_failover = Some(g.automatic_failover);
        s.node_snapshots[0].node_group_id = Some("0001".into());
        Ok(s)
    }

    /// An available replica whose process runs, if the group has one.
    fn healthy_replica<'a>(
        &self,
        g: &ReplicationGroup,
        members: &'a [CacheCluster],
    ) -> Option<&'a CacheCluster> {
        members.iter().find(|c| {
            c.id != g.primary
                && c.status == ClusterStatus::Available
                && c.member_nodes().all(|n| {
                    n.status == NodeStatus::Available
                        && self.agent_of(n).is_running(&c.node_key(&n.cache_node_id))
                })
        })
    }

    /// Snapshots matching the filter, a page at a time, by name.
    pub fn describe_snapshots(
        &self,
        f: &SnapshotFilter,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<SnapshotPage, Fault> {
        let all = self.store().list_snapshots()?;
        if let Some(name) = &f.snapshot_name {
            if !all.iter().any(|s| &s.name == name) {
                return Err(Fault::SnapshotNotFound(name.clone()));
            }
        }
        if let Some(id) = &f.cache_cluster_id {
            let known = all.iter().any(|s| s.is_of_cluster(id));
            if !known && self.store().get_cluster(id)?.is_none() {
                return Err(Fault::CacheClusterNotFound(id.clone()));
            }
        }
        let size = max_records.map_or(DEFAULT_PAGE, |n| n as usize);
        let mut rest: Vec<Snapshot> = all
            .into_iter()
            .filter(|s| f.snapshot_name.as_ref().is_none_or(|n| &s.name == n))
            .filter(|s| {
                f.cache_cluster_id
                    .as_ref()
                    .is_none_or(|c| s.is_of_cluster(c))
            })
            .filter(|s| {
                f.replication_group_id
                    .as_ref()
                    .is_none_or(|g| s.replication_group_id.as_ref() == Some(g))
            })
            .filter(|s| f.source.is_none_or(|src| s.source == src))
            .filter(|s| marker.is_none_or(|m| s.name.as_str() > m))
            .collect();
        let more = rest.len() > size;
        rest.truncate(size);
        let marker = more.then(|| rest.last().map(|s| s.name.clone())).flatten();
        Ok(SnapshotPage {
            snapshots: rest,
            marker,
        })
    }

    /// Whether a snapshot of cluster `cluster` (or of group `group`) is still being
    /// made: its deletion waits, since the snapshot reads the nodes.
    pub(crate) fn snapshot_reads(&self, cluster: Option<&str>, group: Option<&str>) -> bool {
        let snapshots = match self.store().list_snapshots() {
            Ok(s) => s,
            // Unknown: keep the nodes.
            Err(_) => return true,
        };
        snapshots.iter().any(|s| {
            s.status == SnapshotStatus::Creating
                && (cluster.is_some_and(|c| s.is_of_cluster(c))
                    || group.is_some_and(|g| s.replication_group_id.as_deref() == Some(g)))
        })
    }

    /// Whether a node still has to start from snapshot `name`, or a copy still
    /// reads its files.
    fn restoring_from(&self, name: &str) -> Result<bool, Fault> {
        let copying =
            self.store().list_snapshots()?.iter().any(|s| {
                s.status == SnapshotStatus::Creating && s.copy_of.as_deref() == Some(name)
            });
        if copying {
            return Ok(true);
        }
        let clusters = self.store().list_clusters()?;
        Ok(clusters
            .iter()
            .flat_map(|c| &c.nodes)
            .any(|n| n.restore_from.as_ref().is_some_and(|r| r.snapshot == name)))
    }

    /// Marks a snapshot for deletion; the loop removes its files, then the record.
    pub fn delete_snapshot(&self, name: &str) -> Result<Snapshot, Fault> {
        let s = self.store().update_snapshot(name, |s, events| {
            match s.status {
                SnapshotStatus::Available | SnapshotStatus::Failed => {}
                other => {
                    return Err(Fault::InvalidSnapshotState(format!(
                        "Snapshot {} is {}; only available or failed snapshots can be deleted.",
                        s.name,
                        other.as_str()
                    )))
                }
            }
            if !s.exports.is_empty() {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {} is being exported; delete it once the export is done.",
                    s.name
                )));
            }
            if self.restoring_from(&s.name)? {
                return Err(Fault::InvalidSnapshotState(format!(
                    "Snapshot {} is being restored; delete it once the restore is done.",
                    s.name
                )));
            }
            s.status = SnapshotStatus::Deleting;
            events.push(snapshot_event(
                s,
                format!("Snapshot {} deletion started", s.name),
            ));
            Ok(s.clone())
        })?;
        self.wake();
        Ok(s)
    }
}
