//! Bringing running nodes to their parameter group's values after the group changed
//! or the cache switched groups. Dynamic parameters are set on one node at a time
//! (`CONFIG SET`, then read back); each node that has them is committed to the
//! cluster's round before the next, so a control plane that dies mid-way goes on
//! from the next node. Static parameters wait for each node's restart, which starts
//! it from the group's current values (`node_spec`).

use std::sync::Arc;

use chrono::Utc;
use larder_model::parameter_apply::{self, ApplyFailure, NodeValues, RESERVED_PERCENT};
use larder_model::{CacheCluster, CacheNode, ClusterStatus, Event, Fault, NodeStatus};

use super::nodes::maxmemory_bytes;
use crate::Controller;

impl Controller {
    /// The values the cluster's group gives its nodes now. Every pass over every
    /// redis cluster asks, and building them walks the family's whole parameter
    /// table: they are kept per group and built again only when the group changed.
    pub(crate) fn desired_node_values(&self, c: &CacheCluster) -> Result<Arc<NodeValues>, Fault> {
        let g = self.parameter_group(&c.cache_parameter_group_name)?;
        let mut kept = self
            .inner
            .node_values
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((group, values)) = kept.get(&g.name) {
            if *group == g {
                return Ok(values.clone());
            }
        }
        let values = Arc::new(parameter_apply::node_values(&g));
        kept.insert(g.name.clone(), (g, values.clone()));
        Ok(values)
    }

    /// One step of bringing an available redis cluster's nodes to its group's
    /// values: start a round when they moved, or bring one more node there, or end
    /// the round. True if the record changed.
    pub(crate) async fn parameter_step(&self, c: &CacheCluster) -> bool {
        if !c.engine.is_redis_like() || c.status != ClusterStatus::Available {
            return false;
        }
        match self.try_parameter_step(c).await {
            Ok(progressed) => progressed,
            Err(e) => {
                tracing::warn!(cache_cluster_id = %c.id, error = %e, "parameter apply step failed; will retry");
                false
            }
        }
    }

    async fn try_parameter_step(&self, c: &CacheCluster) -> Result<bool, Fault> {
        let desired = self.desired_node_values(c)?;
        let apply = &c.parameter_apply;
        if apply.round.is_none() && apply.applied.as_ref().is_none_or(|a| *a == *desired) {
            // Settled at the group's values, the common case: nothing to compare further.
            return Ok(false);
        }
        let desired = NodeValues::clone(&desired);
        let mut probe = c.parameter_apply.clone();
        if probe.begin(&desired, desired.clone()) {
            // Record-only: the group moved under a round, or the record predates rounds.
            let group = c.cache_parameter_group_name.clone();
            return self.store().update_cluster(&c.id, |c, _| {
                let fresh = c.cache_parameter_group_name == group;
                Ok(fresh && c.parameter_apply.begin(&desired, desired.clone()))
            });
        }
        let Some(round) = &c.parameter_apply.round else {
            return Ok(false);
        };
        if c.parameter_apply
            .failure
            .as_ref()
            .is_some_and(|f| f.retry_at > Utc::now())
        {
            return Ok(false);
        }
        let members: Vec<&CacheNode> = c.member_nodes().collect();
        if members.iter().any(|n| n.status != NodeStatus::Available) {
            return Ok(false);
        }
        let Some(n) = members
            .iter()
            .find(|n| !round.done.contains(&n.cache_node_id))
        else {
            return self.finish_round(c, &round.target);
        };
        let agent = self.agent_of(n);
        if !self.host_healthy(n) || !agent.is_running(&c.node_key(&n.cache_node_id)) {
            // Recovery restarts it with the group's current values; then it is set again.
            return Ok(false);
        }
        self.step_delay().await;
        match self.apply_to_node(c, n).await {
            Ok(()) => self.node_applied(c, n, &round.target),
            Err(message) => self.node_failed(c, n, message),
        }
    }

    /// Sets the round's dynamic values that differ from what the node has, checks
    /// each by reading it back, and gives the agent the node's new spec, from which
    /// it restarts the node on its own.
    async fn apply_to_node(&self, c: &CacheCluster, n: &CacheNode) -> Result<(), String> {
        let family = self.parameter_group(&c.cache_parameter_group_name);
        let family = family.map_err(|e| e.to_string())?.family;
        let agent = self.agent_of(n);
        let node = self.node_ref(c, n);
        for (name, value) in c.parameter_apply.to_set(&family) {
            let (name, value) = if name == RESERVED_PERCENT {
                let percent = value.parse().unwrap_or(25);
                let bytes = maxmemory_bytes(&n.node_type, percent);
                ("maxmemory", bytes.to_string())
            } else {
                (name.as_str(), value)
            };
            agent
                .config_set(&node, name, &value)
                .await
                .map_err(|e| format!("CONFIG SET {name} {value}: {e}"))?;
            let got = agent
                .config_get(&node, name)
                .await
                .map_err(|e| format!("CONFIG GET {name}: {e}"))?;
            if !same_value(name, &value, got.as_deref()) {
                return Err(format!(
                    "{name} reads back as {} after CONFIG SET {value}",
                    got.as_deref().unwrap_or("nothing")
                ));
            }
        }
        let spec = self.node_spec(c, n, &n.node_type);
        agent.start_node(&spec).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Commits that node `n` has the round's values, if the round is still that one.
    fn node_applied(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        target: &NodeValues,
    ) -> Result<bool, Fault> {
        let id = n.cache_node_id.clone();
        self.store().update_cluster(&c.id, |c, _| {
            let a = &mut c.parameter_apply;
            let Some(round) = a.round.as_mut().filter(|r| r.target == *target) else {
                return Ok(false);
            };
            if !round.done.contains(&id) {
                round.done.push(id.clone());
            }
            if a.failure.as_ref().is_some_and(|f| f.node == id) {
                a.failure = None;
            }
            Ok(true)
        })
    }

    /// Records that node `n` did not take the values: the status says so, an event
    /// names the node (once per distinct failure), and it is tried again later.
    fn node_failed(&self, c: &CacheCluster, n: &CacheNode, message: String) -> Result<bool, Fault> {
        tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, error = %message, "parameter group values not applied");
        let retry_at = Utc::now()
            + chrono::Duration::from_std(self.settings().node_retry.first_backoff)
                .unwrap_or_default();
        let id = n.cache_node_id.clone();
        self.store().update_cluster(&c.id, |c, change| {
            let fresh = c
                .parameter_apply
                .failure
                .as_ref()
                .is_none_or(|f| f.node != id || f.message != message);
            if fresh {
                change.events.push(Event::cache_cluster(
                    &c.id,
                    format!(
                        "Failed to apply cache parameter group {} to cache node {id}: {message}",
                        c.cache_parameter_group_name
                    ),
                ));
            }
            c.parameter_apply.failure = Some(ApplyFailure {
                node: id.clone(),
                message: message.clone(),
                retry_at,
            });
            Ok(fresh)
        })
    }

    /// Every node has the round's dynamic values: the round ends, in sync or with
    /// every node waiting for a reboot when a static parameter changed.
    fn finish_round(&self, c: &CacheCluster, target: &NodeValues) -> Result<bool, Fault> {
        let family = self.parameter_group(&c.cache_parameter_group_name)?.family;
        self.store().update_cluster(&c.id, |c, change| {
            let a = &mut c.parameter_apply;
            if a.round.as_ref().is_none_or(|r| r.target != *target) {
                return Ok(false);
            }
            let ids: Vec<String> = c.member_nodes().map(|n| n.cache_node_id.clone()).collect();
            let a = &mut c.parameter_apply;
            a.finish(&family, &ids);
            let message = if a.pending_reboot.is_empty() {
                format!("Cache parameter group {} applied", c.cache_parameter_group_name)
            } else {
                format!(
                    "Cache parameter group {} applied; static parameters wait for a reboot of cache nodes {}",
                    c.cache_parameter_group_name,
                    a.pending_reboot.join(", ")
                )
            };
            change.events.push(Event::cache_cluster(&c.id, message));
            Ok(true)
        })
    }
}

/// Whether a value read back is the one set. Redis writes keyspace event flags in
/// an order of its own (`KEA` reads back as `AKE`), so those compare as sets.
fn same_value(name: &str, set: &str, got: Option<&str>) -> bool {
    let Some(got) = got else {
        return false;
    };
    if name == "notify-keyspace-events" {
        let sorted = |s: &str| {
            let mut v: Vec<char> = s.chars().collect();
            v.sort_unstable();
            v
        };
        return sorted(set) == sorted(got);
    }
    set == got
}

#[cfg(test)]
mod tests {
    use super::same_value;

    #[test]
    fn keyspace_flags_compare_as_sets_and_other_values_exactly() {
        assert!(same_value("notify-keyspace-events", "KEA", Some("AKE")));
        assert!(same_value("timeout", "5", Some("5")));
        assert!(!same_value("timeout", "5", Some("50")));
        assert!(!same_value("timeout", "5", None));
    }
}
