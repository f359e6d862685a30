//! DeleteCacheCluster and RebootCacheCluster.

use larder_model::{CacheCluster, ClusterStatus, Failover, Fault, NodeStatus};

use super::require_available;
use crate::Controller;

impl Controller {
    /// Marks an available or failed cluster `deleting`; the reconcile loop stops its
    /// nodes, removes their data and finally the record. As on ElastiCache, a cluster
    /// still `creating` cannot be deleted (no cancel): it ends `available` or failed
    /// after its last attempt, and either can be deleted.
    pub fn delete_cache_cluster(&self, id: &str) -> Result<CacheCluster, Fault> {
        self.delete_cache_cluster_with_snapshot(id, None)
    }

    /// DeleteCacheCluster with `FinalSnapshotIdentifier`: the snapshot is recorded
    /// with the deletion, in one transaction, and the nodes are stopped only once it
    /// is no longer `creating` (see `reconcile/snapshots.rs`).
    pub fn delete_cache_cluster_with_snapshot(
        &self,
        id: &str,
        final_snapshot: Option<&str>,
    ) -> Result<CacheCluster, Fault> {
        let id = id.to_ascii_lowercase();
        let out = self.store().transaction(|tx| {
            let mut c = tx
                .cluster(&id)?
                .ok_or_else(|| Fault::CacheClusterNotFound(id.clone()))?;
            if !c.status.is_failed() {
                require_available(&c)?;
            }
            super::refuse_member(&c)?;
            if let Some(name) = final_snapshot {
                if c.status.is_failed() {
                    return Err(Fault::InvalidCacheClusterState(format!(
                        "Cache cluster {id} is {}: it has no data for a final snapshot.",
                        c.status.as_str()
                    )));
                }
                self.record_final_snapshot(tx, name, Some(&id), None)?;
            }
            c.status = ClusterStatus::Deleting;
            tx.put_cluster(&c)?;
            Ok(c)
        })?;
        tracing::info!(cache_cluster_id = %id, "cache cluster deletion requested");
        self.wake();
        Ok(out)
    }

    /// Restarts the named nodes of an available cluster.
    pub fn reboot_cache_cluster(
        &self,
        id: &str,
        node_ids: &[String],
    ) -> Result<CacheCluster, Fault> {
        let id = id.to_ascii_lowercase();
        let group = self
            .store()
            .get_cluster(&id)?
            .and_then(|c| c.replication_group_id);
        if let Some(gid) = group {
            let g = self.store().get_replication_group(&gid)?;
            if g.is_some_and(|g| g.primary == id && g.members.len() > 1) {
                // A restarted primary comes back empty and its replicas would copy
                // that: switch the primary away first, then reboot this member.
                return self.reboot_group_primary(&gid, &id, node_ids);
            }
        }
        let out = self.store().update_cluster(&id, |c, _| {
            require_available(c)?;
            for n in node_ids {
                if c.node(n).is_none() {
                    return Err(Fault::InvalidParameterValue(format!(
                        "Cache node {n} does not exist in cache cluster {}.",
                        c.id
                    )));
                }
            }
            for node in c
                .nodes
                .iter_mut()
                .filter(|n| node_ids.contains(&n.cache_node_id))
            {
                node.status = NodeStatus::Rebooting;
            }
            c.status = ClusterStatus::RebootingNodes;
            Ok(c.clone())
        })?;
        self.wake();
        Ok(out)
    }

    /// RebootCacheCluster of a group's primary: a planned switchover to its most
    /// up-to-date replica (no acknowledged write lost), after which the old primary,
    /// a replica by then, reboots (`reconcile/replication.rs`).
    fn reboot_group_primary(
        &self,
        gid: &str,
        id: &str,
        node_ids: &[String],
    ) -> Result<CacheCluster, Fault> {
        let c = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(gid)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(gid.to_string()))?;
            super::require_group_available(&g)?;
            let c = tx
                .cluster(id)?
                .ok_or_else(|| Fault::CacheClusterNotFound(id.to_string()))?;
            require_available(&c)?;
            if let Some(n) = node_ids.iter().find(|n| c.node(n).is_none()) {
                return Err(Fault::InvalidParameterValue(format!(
                    "Cache node {n} does not exist in cache cluster {id}."
                )));
            }
            g.failover = Some(Failover::new(
                id,
                None,
                true,
                "RebootCacheCluster of the primary",
            ));
            g.reboot_after_switchover = Some(id.to_string());
            g.status = larder_model::ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(super::group_event(
                gid,
                format!("Reboot of primary {id} requested: switching the primary away first"),
            ));
            Ok(c)
        })?;
        self.wake();
        Ok(c)
    }
}
