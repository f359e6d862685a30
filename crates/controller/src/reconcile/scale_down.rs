//! A node type change that would not hold the data: refused before the smaller
//! memory limit is set, because Redis would evict keys (or refuse every write under
//! `noeviction`) the moment `maxmemory` drops below what the data takes. ElastiCache
//! fails such a scale down with an event and keeps the old node type; so does Larder.

use larder_model::{CacheCluster, CacheNode, Event, Fault};

use crate::service::{group_event, retype_members};
use crate::Controller;

impl Controller {
    /// Moves `c` (and its whole replication group, every member alike) back to the
    /// node type `n` runs, with the event ElastiCache writes. The members go through
    /// the ordinary node type step again, to their old, larger limit, which always
    /// fits; members already moved to the smaller type get their old limit back.
    pub(crate) fn refuse_scale_down(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        used: u64,
        limit: u64,
    ) -> Result<bool, Fault> {
        let old = n.node_type.clone();
        let target = c.cache_node_type.clone();
        tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, used, limit, %target, "scale down refused: the data does not fit");
        let why = format!(
            "the node has insufficient memory ({used} bytes in use, {limit} bytes on {target}). Please select a different node type or reduce current memory usage and retry."
        );
        match &c.replication_group_id {
            Some(gid) => self.store().transaction(|tx| {
                let Some(mut g) = tx.replication_group(gid)? else {
                    return Ok(false);
                };
                if g.cache_node_type == old {
                    return Ok(false); // another member refused it first
                }
                retype_members(tx, &mut g, &old)?;
                tx.event(group_event(
                    gid,
                    format!(
                        "Failed to scale down to cache node type {target} Replication Group {gid} because {why}"
                    ),
                ));
                tx.put_replication_group(&g)?;
                Ok(true)
            }),
            None => self.store().update_cluster(&c.id, |c, change| {
                if c.cache_node_type == old {
                    return Ok(false);
                }
                c.cache_node_type = old.clone();
                change.events.push(Event::cache_cluster(
                    &c.id,
                    format!(
                        "Failed to scale down cache cluster {} to cache node type {target} because {why}",
                        c.id
                    ),
                ));
                Ok(true)
            }),
        }
    }
}
