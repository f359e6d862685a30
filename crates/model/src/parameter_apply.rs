//! How far a cluster's running nodes have the values of its parameter group: the
//! values they were last brought to, a round that brings them to new ones node by
//! node, and the nodes that still wait for a reboot to take static changes. Every
//! piece is persisted on the cluster record, so an apply cut off by a crash goes on
//! from the last node it finished.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::parameters::{self, ChangeType};
use crate::CacheParameterGroup;

/// The values a parameter group gives a running node, by parameter name.
pub type NodeValues = BTreeMap<String, String>;

/// A cluster's parameter apply state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterApply {
    /// The group values the nodes were last brought to. `None` in records from
    /// before changes to groups in use existed: those nodes started with their
    /// group's values, which could not change while the group was in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<NodeValues>,
    /// The change being brought to the nodes now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<ApplyRound>,
    /// Nodes whose process still runs older values of static parameters; each
    /// leaves the list when it restarts (a reboot or a replacement).
    #[serde(default)]
    pub pending_reboot: Vec<String>,
    /// Why the round is stuck on a node, until that node takes the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ApplyFailure>,
}

/// One change in progress: the values every node is brought to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRound {
    /// The values the nodes are brought to (the group's values when it began).
    pub target: NodeValues,
    /// Nodes that have the dynamic values of `target` (read back from the node).
    pub done: Vec<String>,
    /// Parameters that superseded rounds may have set on some nodes: they are set
    /// again whatever `applied` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<String>,
}

/// A node that did not take the round's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyFailure {
    /// CacheNodeId.
    pub node: String,
    /// What went wrong, for the event and the logs.
    pub message: String,
    /// The node is not tried again before this time.
    pub retry_at: DateTime<Utc>,
}

/// `ParameterApplyStatus` of a node that did not take a change: Larder's own word
/// (the service lists only `in-sync`, `applying` and `pending-reboot`), shown so a
/// stuck change does not look like one still in progress.
pub const APPLY_FAILED: &str = "apply-failed";

impl ParameterApply {
    /// `CacheParameterGroup.ParameterApplyStatus` as the API shows it.
    pub fn status(&self) -> &'static str {
        if self.failure.is_some() {
            APPLY_FAILED
        } else if self.round.is_some() {
            "applying"
        } else if !self.pending_reboot.is_empty() {
            "pending-reboot"
        } else {
            "in-sync"
        }
    }

    /// Starts bringing the nodes to `target`, unless that is where they are or are
    /// going. `before` is what they run when no earlier value was recorded. True if
    /// anything changed.
    pub fn begin(&mut self, before: &NodeValues, target: NodeValues) -> bool {
        let applied = self.applied.get_or_insert_with(|| before.clone());
        let settled = match &self.round {
            Some(r) => r.target == target,
            None => *applied == target,
        };
        if settled {
            return false;
        }
        // A round cut short by a newer change starts over, and what it changed is
        // set again: nodes it reached hold values that are neither the old nor the
        // new ones.
        let mut carried = Vec::new();
        if let Some(old) = self.round.take() {
            carried = old.carried;
            for (k, v) in &old.target {
                if applied.get(k) != Some(v) && !carried.contains(k) {
                    carried.push(k.clone());
                }
            }
        }
        self.round = Some(ApplyRound {
            target,
            done: Vec::new(),
            carried,
        });
        self.failure = None;
        true
    }

    /// Ends the round: every node has its dynamic values, and `nodes` wait for a
    /// reboot if a static parameter changed.
    pub fn finish(&mut self, family: &str, nodes: &[String]) {
        let Some(round) = self.round.take() else {
            return;
        };
        let before = self.applied.take().unwrap_or_default();
        if !changed(family, &before, &round.target, ChangeType::RequiresReboot).is_empty() {
            for n in nodes {
                if !self.pending_reboot.contains(n) {
                    self.pending_reboot.push(n.clone());
                }
            }
        }
        self.applied = Some(round.target);
        self.failure = None;
    }

    /// The dynamic values each node is given in the current round: those that
    /// differ from what the nodes had, and those a superseded round may have set.
    pub fn to_set(&self, family: &str) -> Vec<(String, String)> {
        let Some(round) = &self.round else {
            return Vec::new();
        };
        let empty = NodeValues::new();
        let applied = self.applied.as_ref().unwrap_or(&empty);
        let defs = parameters::of_family(family);
        round
            .target
            .iter()
            .filter(|(k, v)| applied.get(*k) != Some(*v) || round.carried.contains(k))
            .filter(|(k, _)| {
                defs.iter()
                    .any(|d| d.name == k.as_str() && d.change == ChangeType::Immediate)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A node restarted with the group's current values: it waits for nothing.
    pub fn restarted(&mut self, node: &str) {
        self.pending_reboot.retain(|n| n != node);
    }
}

/// What a group gives a running node: every modifiable parameter Larder applies to
/// redis nodes (directives and `reserved-memory-percent`), with the group's value
/// or the family's default. Empty for memcached, whose custom groups are refused.
pub fn node_values(g: &CacheParameterGroup) -> NodeValues {
    parameters::of_family(&g.family)
        .into_iter()
        .filter(|d| parameters::is_redis_directive(d.name) || d.name == RESERVED_PERCENT)
        .filter(|_| g.family != "memcached1.6")
        .filter_map(|d| {
            let v = g.values.get(d.name).map(String::as_str).or(d.default)?;
            Some((d.name.to_string(), v.to_string()))
        })
        .collect()
}

/// The service parameter that sets a node's `maxmemory` from its node type.
pub const RESERVED_PERCENT: &str = "reserved-memory-percent";

/// The parameters whose value differs between `from` and `to` and that take effect
/// as `when` says, in name order.
pub fn changed<'a>(
    family: &str,
    from: &NodeValues,
    to: &'a NodeValues,
    when: ChangeType,
) -> Vec<(&'a str, &'a str)> {
    let defs = parameters::of_family(family);
    to.iter()
        .filter(|(k, v)| from.get(*k) != Some(*v))
        .filter(|(k, _)| {
            defs.iter()
                .any(|d| d.name == k.as_str() && d.change == when)
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(values: &[(&str, &str)]) -> CacheParameterGroup {
        CacheParameterGroup {
            name: "g".into(),
            family: "redis7".into(),
            description: String::new(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn node_values_hold_defaults_and_overrides_but_no_system_values() {
        let v = node_values(&group(&[("maxmemory-policy", "allkeys-lru")]));
        assert_eq!(v["maxmemory-policy"], "allkeys-lru");
        assert_eq!(v["databases"], "16");
        assert_eq!(v[RESERVED_PERCENT], "25");
        assert!(!v.contains_key("port") && !v.contains_key("cluster-enabled"));
    }

    #[test]
    fn a_static_change_ends_the_round_pending_reboot_and_a_restart_clears_it() {
        let before = node_values(&group(&[]));
        let mut a = ParameterApply::default();
        assert!(!a.begin(&before, before.clone()), "no change, no round");
        assert_eq!(a.status(), "in-sync");
        let target = node_values(&group(&[("databases", "32"), ("timeout", "5")]));
        assert!(a.begin(&before, target.clone()));
        assert_eq!(a.status(), "applying");
        assert_eq!(a.to_set("redis7"), vec![("timeout".into(), "5".into())]);
        a.finish("redis7", &["0001".into()]);
        assert_eq!(a.status(), "pending-reboot");
        assert_eq!(a.applied.as_ref(), Some(&target));
        a.restarted("0001");
        assert_eq!(a.status(), "in-sync");
    }

    #[test]
    fn a_change_back_mid_round_brings_every_node_back_too() {
        let before = node_values(&group(&[]));
        let mut a = ParameterApply::default();
        let target = node_values(&group(&[("timeout", "5")]));
        a.begin(&before, target);
        a.round.as_mut().unwrap().done.push("0001".into());
        assert!(a.begin(&before, before.clone()), "0001 holds timeout 5");
        let round = a.round.clone().unwrap();
        assert_eq!((round.target, round.done), (before, vec![]));
        assert_eq!(a.to_set("redis7"), vec![("timeout".into(), "0".into())]);
        a.finish("redis7", &["0001".into()]);
        assert_eq!(a.status(), "in-sync");
    }
}
