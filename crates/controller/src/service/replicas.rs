//! IncreaseReplicaCount and DecreaseReplicaCount.

use larder_model::{ClusterStatus, Fault, ReplicationGroup, ReplicationGroupStatus};

use super::{group_event, new_member, require_group_available};
use crate::Controller;

impl Controller {
    /// Adds replicas until the group has `target` (the api checked it is at most 5).
    pub fn increase_replica_count(
        &self,
        id: &str,
        target: i64,
        zones: &[String],
    ) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let settings = self.settings().clone();
        let subnet_group = self
            .store()
            .get_replication_group(&id)?
            .and_then(|g| g.cache_subnet_group_name);
        let view = self.placement_view_in(None, subnet_group.as_deref())?;
        let placer = &view.placer;
        let max_nodes = settings.max_nodes as usize;
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            require_group_available(&g)?;
            let current = g.replicas().count() as i64;
            if target <= current {
                return Err(Fault::InvalidParameterValue(format!(
                    "NewReplicaCount {target} must be greater than the current {current} replicas."
                )));
            }
            let add = (target - current) as usize;
            let all = tx.clusters()?;
            if all.iter().map(|c| c.nodes.len()).sum::<usize>() + add > max_nodes {
                return Err(Fault::NodeQuotaForCustomerExceeded(format!(
                    "This host runs at most {max_nodes} cache nodes."
                )));
            }
            let existing: Vec<&larder_model::CacheNode> = all
                .iter()
                .filter(|c| g.members.contains(&c.id))
                .flat_map(|c| c.nodes.iter())
                .collect();
            // A transaction may run again: place from the lock-time view each time.
            let mut attempt = placer.clone();
            let places = attempt.place(&settings, &existing, zones, true, add)?;
            for place in places {
                let member_id = g.member_id(g.next_member_number);
                g.next_member_number += 1;
                if tx.cluster(&member_id)?.is_some() {
                    return Err(Fault::CacheClusterAlreadyExists(member_id));
                }
                tx.put_cluster(&new_member(&g, member_id.clone(), place))?;
                g.members.push(member_id);
            }
            g.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(group_event(
                &id,
                format!("Increasing replica count to {target}"),
            ));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }

    /// Removes replicas: the named ones, or enough of the newest to reach the count.
    pub fn decrease_replica_count(
        &self,
        id: &str,
        new_replica_count: Option<i64>,
        replicas_to_remove: &[String],
    ) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let out = self.store().transaction(|tx| {
            let mut g = tx.replication_group(&id)?.ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            require_group_available(&g)?;
            let replicas: Vec<String> = g.replicas().cloned().collect();
            let mut remove: Vec<String> = Vec::new();
            for r in replicas_to_remove {
                let r = r.to_ascii_lowercase();
                if r == g.primary {
                    return Err(Fault::InvalidParameterValue(format!("{r} is the primary and cannot be removed.")));
                }
                if !replicas.contains(&r) {
                    return Err(Fault::InvalidParameterValue(format!("{r} is not a replica in replication group {id}.")));
                }
                if !remove.contains(&r) {
                    remove.push(r);
                }
            }
            let target = match new_replica_count {
                Some(n) => {
                    if !remove.is_empty() && n != (replicas.len() - remove.len()) as i64 {
                        return Err(Fault::InvalidParameterCombination(
                            "NewReplicaCount does not match the number of ReplicasToRemove.".into(),
                        ));
                    }
                    n
                }
                None => (replicas.len() - remove.len()) as i64,
            };
            if target < 0 || target >= replicas.len() as i64 {
                return Err(Fault::InvalidParameterValue(format!(
                    "NewReplicaCount {target} must be less than the current {} replicas and not negative.",
                    replicas.len()
                )));
            }
            if g.automatic_failover && target < 1 {
                return Err(Fault::InvalidParameterCombination(
                    "A group with automatic failover needs at least one replica.".into(),
                ));
            }
            for r in replicas.iter().rev() {
                if (replicas.len() - remove.len()) as i64 <= target {
                    break;
                }
                if !remove.contains(r) {
                    remove.push(r.clone());
                }
            }
            for r in &remove {
                if let Some(mut c) = tx.cluster(r)? {
                    c.status = ClusterStatus::Deleting;
                    tx.put_cluster(&c)?;
                }
            }
            g.members.retain(|m| !remove.contains(m));
            g.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(group_event(&id, format!("Decreasing replica count to {target}: removing {}", remove.join(", "))));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }
}
