//! The persisted attempts of node steps: a failed start, retype, reboot or recovery
//! is counted on the node with the time of its next try, and after the last attempt
//! the node and its cluster (and a group being created around it) move to their
//! terminal failed state. Each transition is one transaction with its event, so a
//! daemon that dies between two attempts resumes the count instead of restarting it.

use chrono::Utc;
use larder_model::{CacheCluster, CacheNode, ClusterStatus, Event, Fault, NodeStatus};
use larder_model::{ReplicationGroup, ReplicationGroupStatus};

use crate::retry::AfterFailure;
use crate::service::group_event;
use crate::{Controller, RetryPolicy};

/// Which kind of node step failed; it decides the wording and the terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A new node's first start.
    Create,
    /// A running node started again with new settings (modify) or on request (reboot).
    Restart,
    /// A node whose process died, started again on its port.
    Recover,
}

impl Step {
    fn of(status: NodeStatus) -> Option<Step> {
        match status {
            NodeStatus::Creating => Some(Step::Create),
            NodeStatus::Modifying | NodeStatus::Rebooting => Some(Step::Restart),
            NodeStatus::Available => Some(Step::Recover),
            // Removal only stops a process and deletes files: retried until it works.
            NodeStatus::Deleting
            | NodeStatus::CreateFailed
            | NodeStatus::IncompatibleParameters => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Restart => "restart",
            Step::Recover => "recover",
        }
    }

    /// A recovery is never given up: the node ran with these settings before, so what
    /// stops it now (a port, a disk) is outside the cluster and may pass, and
    /// ElastiCache too keeps replacing a failed node. Its pauses still grow.
    fn policy(self, p: RetryPolicy) -> RetryPolicy {
        match self {
            Step::Recover => RetryPolicy {
                max_attempts: u32::MAX,
                ..p
            },
            _ => p,
        }
    }

    /// The node's state after the last attempt failed.
    fn failed_node(self) -> NodeStatus {
        match self {
            Step::Create => NodeStatus::CreateFailed,
            _ => NodeStatus::IncompatibleParameters,
        }
    }
}

/// The cluster's state once one of its nodes failed for good: `create-failed` while
/// it was being created, `incompatible-parameters` when a change to a running cluster
/// (new nodes, a new node type, a reboot) cannot be started.
fn failed_cluster(c: &CacheCluster) -> ClusterStatus {
    if c.status == ClusterStatus::Creating {
        ClusterStatus::CreateFailed
    } else {
        ClusterStatus::IncompatibleParameters
    }
}

impl Controller {
    /// True when `n`'s next attempt is due (no backoff pending).
    pub(super) fn attempt_due(&self, n: &CacheNode) -> bool {
        RetryPolicy::due(n.retry_at, Utc::now())
    }

    /// Records that `n`'s current step failed with `reason`: one more attempt with its
    /// backoff, or the terminal failed state after the last one.
    pub(super) fn record_node_failure(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        reason: &str,
    ) -> Result<(), Fault> {
        self.record_node_failure_as(c, n, reason, false)
    }

    /// Records a failure that no further attempt can mend (a restore object that
    /// does not exist): the failed state at once.
    pub(super) fn record_final_node_failure(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        reason: &str,
    ) -> Result<(), Fault> {
        self.record_node_failure_as(c, n, reason, true)
    }

    fn record_node_failure_as(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        reason: &str,
        last: bool,
    ) -> Result<(), Fault> {
        let Some(step) = Step::of(n.status) else {
            return Ok(());
        };
        let policy = step.policy(self.settings().node_retry);
        let now = Utc::now();
        let gave_up = self.store().transaction(|tx| {
            let Some(mut cur) = tx.cluster(&c.id)? else {
                return Ok(false);
            };
            if cur.status == ClusterStatus::Deleting || cur.status.is_failed() {
                return Ok(false);
            }
            let terminal = failed_cluster(&cur);
            let Some(node) = cur
                .nodes
                .iter_mut()
                .find(|x| x.cache_node_id == n.cache_node_id)
            else {
                return Ok(false);
            };
            if node.status != n.status || node.attempts != n.attempts {
                // Another pass recorded this attempt, or the node moved on meanwhile.
                return Ok(false);
            }
            let id = node.cache_node_id.clone();
            let verb = step.verb();
            let decision = if last {
                AfterFailure::GiveUp {
                    attempts: node.attempts + 1,
                }
            } else {
                policy.after_failure(node.attempts, now)
            };
            match decision {
                AfterFailure::Retry {
                    attempts,
                    backoff,
                    at,
                } => {
                    node.attempts = attempts;
                    node.retry_at = Some(at);
                    let of = match step {
                        Step::Recover => String::new(),
                        _ => format!(" of {}", policy.max_attempts),
                    };
                    tx.event(Event::cache_cluster(
                        &cur.id,
                        format!(
                            "Failed to {verb} cache node {id} (attempt {attempts}{of}): {reason}; retrying in {}",
                            human(backoff)
                        ),
                    ));
                    tx.put_cluster(&cur)?;
                    Ok(false)
                }
                AfterFailure::GiveUp { attempts } => {
                    node.attempts = attempts;
                    node.retry_at = None;
                    node.status = step.failed_node();
                    cur.status = terminal;
                    tx.event(Event::cache_cluster(
                        &cur.id,
                        format!(
                            "Failed to {verb} cache node {id} after {attempts} attempts: {reason}; cache cluster is {}",
                            terminal.as_str()
                        ),
                    ));
                    tx.put_cluster(&cur)?;
                    if let Some(gid) = &cur.replication_group_id {
                        if let Some(mut g) = tx.replication_group(gid)? {
                            if fail_group(&mut g, &cur.id) {
                                tx.put_replication_group(&g)?;
                                tx.event(group_event(
                                    gid,
                                    format!(
                                        "Replication group creation failed: member {} is {}",
                                        cur.id,
                                        terminal.as_str()
                                    ),
                                ));
                            }
                        }
                    }
                    Ok(true)
                }
            }
        })?;
        if gave_up {
            tracing::error!(cache_cluster_id = %c.id, node = %n.cache_node_id, reason, "node step failed for good");
        } else {
            tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, reason, "node step failed; will retry");
        }
        Ok(())
    }

    /// Forgets the failed attempts of a node that recovered (running again), so a
    /// later failure starts a fresh count.
    pub(super) fn clear_attempts(&self, c: &CacheCluster, n: &CacheNode) -> Result<(), Fault> {
        if n.attempts == 0 && n.retry_at.is_none() {
            return Ok(());
        }
        let id = n.cache_node_id.clone();
        self.store().update_cluster(&c.id, |c, _| {
            if let Some(node) = c.nodes.iter_mut().find(|x| x.cache_node_id == id) {
                node.attempts = 0;
                node.retry_at = None;
            }
            Ok(())
        })
    }
}

/// Marks a group being created `create-failed` when a member failed; true if changed.
/// A group that already ran keeps its status (its data lives on the other members);
/// DeleteReplicationGroup accepts it while a member is failed.
fn fail_group(g: &mut ReplicationGroup, member: &str) -> bool {
    if g.status != ReplicationGroupStatus::Creating || !g.members.iter().any(|m| m == member) {
        return false;
    }
    g.status = ReplicationGroupStatus::CreateFailed;
    true
}

/// A pause as a person reads it: `250ms`, `4s`, `1m`.
fn human(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pauses_read_as_people_write_them() {
        assert_eq!(human(Duration::from_millis(0)), "0ms");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(4)), "4s");
        assert_eq!(human(Duration::from_secs(60)), "1m");
    }

    #[test]
    fn only_a_create_makes_a_create_failed_node() {
        assert_eq!(Step::Create.failed_node(), NodeStatus::CreateFailed);
        assert_eq!(
            Step::Restart.failed_node(),
            NodeStatus::IncompatibleParameters
        );
        assert_eq!(Step::of(NodeStatus::Deleting), None);
        assert_eq!(Step::of(NodeStatus::CreateFailed), None);
        let p = Step::Recover.policy(RetryPolicy::default());
        assert_eq!(p.max_attempts, u32::MAX);
    }
}
