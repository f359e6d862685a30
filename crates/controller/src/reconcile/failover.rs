//! Primary changes as persisted steps: choose the replica, fence the old primary,
//! promote, commit. `failover_plan.rs` decides the next action from the recorded step
//! and the members' real roles; this file only carries actions out. Each step is
//! recorded before its side effect and every side effect is safe to repeat, so a
//! daemon killed anywhere redoes at most the step it was in, and the old primary is
//! fenced before anything is promoted or unpaused.

use std::time::{Duration, Instant};

use std::sync::Arc;

use larder_agent::{HostPort, NodeAgent, NodeRef, ReplicationChange, ReplicationRole};
use larder_model::{
    CacheCluster, Failover, FailoverStep, ReplicationGroup, ReplicationGroupStatus,
};

use super::failover_plan::{self, Action, Seen};
use crate::service::group_event;
use crate::Controller;

/// How long writes stay paused on the old primary at most during a switchover. The
/// demotion, not the pause, is what fences it; the pause only lets `to` catch up.
const PAUSE_MS: u64 = 10_000;
/// How long a planned switchover waits for the replica to catch up before giving up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// A member of a failover: its node, the agent of its host, where others replicate
/// from it, and whether its host is lost.
#[derive(Clone)]
struct Member {
    node: NodeRef,
    agent: Arc<dyn NodeAgent>,
    at: HostPort,
    lost: bool,
}

impl Controller {
    /// A member's single node and the agent that runs it.
    fn member(&self, id: &str) -> Option<Member> {
        let (c, n) = self.member_node(id)?;
        Some(Member {
            node: self.node_ref(&c, &n),
            agent: self.agent_of(&n),
            at: self.upstream(&n),
            lost: self.host_lost(&n),
        })
    }

    /// What a member is now, from its process and, when `ask`, `INFO replication`
    /// (a running member not asked counts as silent). A member on a lost host is
    /// gone: nobody can reach it, and it rejoins as a replica when its host returns.
    /// `to` names the replica the failover goes to: following it is what counts.
    async fn seen(&self, m: Option<&Member>, ask: bool, to: Option<&Member>) -> Seen {
        let Some(m) = m.filter(|m| !m.lost) else {
            return Seen::Gone;
        };
        if !m.agent.is_running(&m.node.key) {
            return Seen::Gone;
        }
        if !ask {
            return Seen::Silent;
        }
        let Ok(info) = m.agent.replication_info(&m.node).await else {
            return Seen::Silent;
        };
        match info.role {
            ReplicationRole::Primary => Seen::Primary,
            ReplicationRole::Replica => match (info.primary, to) {
                (Some(p), Some(to)) if p == to.at => Seen::ReplicaOf(to.at.port),
                // Following some other node: the plan only asks whether it follows `to`.
                (Some(_), _) => Seen::ReplicaOf(0),
                (None, _) => Seen::Silent,
            },
            ReplicationRole::Unknown => Seen::Silent,
        }
    }

    /// The running replica with the most replicated data, on a host that answers.
    async fn best_replica(&self, g: &ReplicationGroup, from: &str) -> Option<String> {
        let mut best: Option<(i64, String)> = None;
        for id in g.members.iter().filter(|m| m.as_str() != from) {
            let Some(m) = self.member(id) else {
                continue;
            };
            if m.lost || !m.agent.is_running(&m.node.key) {
                continue;
            }
            let Ok(info) = m.agent.replication_info(&m.node).await else {
                continue;
            };
            let off = info.offset;
            if best.as_ref().is_none_or(|(b, _)| off > *b) {
                best = Some((off, id.clone()));
            }
        }
        best.map(|(_, m)| m)
    }

    /// True when `c` is one of the two members a recorded failover is between: such a
    /// node is not restarted until the failover ends (a restarted old primary would
    /// come back as an empty primary, a restarted `to` empty).
    pub(crate) fn held_by_failover(&self, c: &CacheCluster) -> bool {
        let Some(gid) = &c.replication_group_id else {
            return false;
        };
        let Ok(Some(g)) = self.store().get_replication_group(gid) else {
            return false;
        };
        g.failover
            .is_some_and(|f| f.from == c.id || f.to.as_deref() == Some(c.id.as_str()))
    }

    /// The crash-test seam: with `--workflow-step-delay-ms`, names the point in the log
    /// and waits there, so a test can SIGKILL the daemon exactly at it.
    async fn crash_point(&self, id: &str, point: &str) {
        if self.settings().workflow_step_delay.is_zero() {
            return;
        }
        tracing::info!(replication_group_id = %id, point, "failover crash point {point}");
        self.step_delay().await;
        tracing::info!(replication_group_id = %id, point, "failover crash point {point} passed");
    }

    /// Records a change to the failover, if the record is still the one `f` was read
    /// from. True when it was written.
    fn record(&self, id: &str, f: &Failover, change: impl Fn(&mut Failover)) -> bool {
        let written = self.store().transaction(|tx| {
            let Some(mut cur) = tx.replication_group(id)? else {
                return Ok(false);
            };
            let Some(cf) = cur.failover.as_mut().filter(|cf| **cf == *f) else {
                return Ok(false);
            };
            change(cf);
            let step = cf.step;
            tx.put_replication_group(&cur)?;
            tracing::info!(replication_group_id = %id, step = step.as_str(), "failover step recorded");
            Ok(true)
        });
        written.unwrap_or(false)
    }

    fn abort_failover(&self, id: &str, why: &str) {
        let _ = self.store().transaction(|tx| {
            let Some(mut g) = tx.replication_group(id)? else {
                return Ok(());
            };
            g.failover = None;
            if g.status == ReplicationGroupStatus::Modifying {
                g.status = ReplicationGroupStatus::Available;
            }
            tx.put_replication_group(&g)?;
            tx.event(group_event(id, format!("Failover aborted: {why}")));
            Ok(())
        });
        tracing::warn!(replication_group_id = %id, why, "failover aborted");
    }

    /// Pauses writes on the old primary and waits until `to` has everything it
    /// acknowledged. False (and unpaused) when `to` does not catch up in time.
    async fn pause_and_catch_up(&self, from: &Member, to: &Member) -> bool {
        let pause = ReplicationChange::PauseWrites { ms: PAUSE_MS };
        if from.agent.replicate(&from.node, pause).await.is_err() {
            return false;
        }
        let target = match from.agent.replication_info(&from.node).await {
            Ok(info) => info.offset,
            Err(_) => i64::MAX,
        };
        let start = Instant::now();
        loop {
            let reached = to
                .agent
                .replication_info(&to.node)
                .await
                .map_or(-1, |i| i.offset);
            if reached >= target {
                return true;
            }
            if start.elapsed() > CATCH_UP_TIMEOUT {
                let unpause = ReplicationChange::Unpause;
                let _ = from.agent.replicate(&from.node, unpause).await;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Advances a group's failover by one action. True when it moved.
    pub(crate) async fn failover_step(&self, g: &ReplicationGroup) -> bool {
        let Some(f) = g.failover.clone() else {
            return false;
        };
        let id = g.id.clone();
        let from = self.member(&f.from);
        let to = f.to.as_deref().and_then(|t| self.member(t));
        let to_port = to.as_ref().map_or(0, |t| t.at.port);
        // An unplanned failover never asks the old primary: it is killed whatever it
        // would answer, and a hung one would cost a command timeout on every action.
        let seen_from = self.seen(from.as_ref(), f.planned, to.as_ref()).await;
        let seen_to = self.seen(to.as_ref(), true, to.as_ref()).await;
        let action = failover_plan::next(&f, seen_from, seen_to, to_port);
        tracing::debug!(replication_group_id = %id, step = f.step.as_str(), ?seen_from, ?seen_to, ?action, "failover");
        match action {
            Action::Choose => {
                self.crash_point(&id, "choose").await;
                let Some(best) = self.best_replica(g, &f.from).await else {
                    self.abort_failover(&id, "no replica is available to promote");
                    return true;
                };
                self.record(&id, &f, |cf| {
                    cf.to = Some(best.clone());
                    cf.step = FailoverStep::Fence;
                })
            }
            Action::Record(step) => self.record(&id, &f, |cf| cf.step = step),
            Action::Rechoose => {
                tracing::warn!(replication_group_id = %id, to = ?f.to, "the chosen replica is gone; choosing again");
                self.record(&id, &f, |cf| {
                    cf.to = None;
                    cf.planned = false;
                    cf.step = FailoverStep::Choose;
                })
            }
            Action::Abort(why) => {
                if let Some(from) = &from {
                    let _ = from
                        .agent
                        .replicate(&from.node, ReplicationChange::Unpause)
                        .await;
                }
                self.abort_failover(&id, why);
                true
            }
            Action::Wait => false,
            Action::CatchUpAndDemote | Action::Demote => {
                let (Some(from_node), Some(to_node)) = (&from, &to) else {
                    return false;
                };
                self.crash_point(&id, "fence").await;
                if action == Action::CatchUpAndDemote {
                    if !self.pause_and_catch_up(from_node, to_node).await {
                        let to = f.to.as_deref().unwrap_or_default();
                        self.abort_failover(
                            &id,
                            &format!("{to} did not catch up with the primary"),
                        );
                        return true;
                    }
                    self.crash_point(&id, "fence-paused").await;
                }
                let primary = to_node.at.clone();
                let demote = ReplicationChange::Attach { primary };
                if let Err(e) = from_node.agent.replicate(&from_node.node, demote).await {
                    tracing::warn!(replication_group_id = %id, error = %e, "demoting the old primary failed; will retry");
                    return false;
                }
                self.crash_point(&id, "fence-done").await;
                true
            }
            Action::Kill => {
                let Some(from_node) = &from else {
                    return false;
                };
                self.crash_point(&id, "fence").await;
                // A hung primary must never wake up as a second one.
                if let Err(e) = from_node.agent.fence(&from_node.node.key).await {
                    tracing::warn!(replication_group_id = %id, error = %e, "fencing the old primary failed; will retry");
                    return false;
                }
                self.crash_point(&id, "fence-done").await;
                true
            }
            Action::Promote => {
                let Some(to_node) = &to else {
                    return false;
                };
                self.crash_point(&id, "promote").await;
                let promote = ReplicationChange::Promote;
                if let Err(e) = to_node.agent.replicate(&to_node.node, promote).await {
                    tracing::warn!(replication_group_id = %id, error = %e, "promotion failed; will retry");
                    return false;
                }
                self.crash_point(&id, "promote-done").await;
                true
            }
            Action::Commit => self.commit_failover(&id, &f, from.as_ref()).await,
        }
    }

    /// Makes `to` the primary in one transaction, then switches the endpoints, points
    /// the other members at it and lifts the old primary's pause (it is a replica or
    /// gone by now). A crash after the commit leaves the rest to the normal
    /// replication pass.
    async fn commit_failover(&self, id: &str, f: &Failover, from: Option<&Member>) -> bool {
        let Some(to) = f.to.clone() else {
            return false;
        };
        let from_id = f.from.clone();
        let committed = self.store().transaction(|tx| {
            let Some(mut cur) = tx.replication_group(id)? else {
                return Ok(None);
            };
            if cur.failover.as_ref() != Some(f) {
                return Ok(None);
            }
            cur.primary = to.clone();
            cur.role_generation += 1;
            cur.failover = None;
            cur.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&cur)?;
            tx.event(group_event(
                id,
                format!("Failover from primary node {from_id} to replica node {to} completed"),
            ));
            Ok(Some(cur))
        });
        let Ok(Some(updated)) = committed else {
            return false;
        };
        tracing::info!(replication_group_id = %id, from = %from_id, to = %to, planned = f.planned, "failover completed");
        self.crash_point(id, "committed").await;
        self.sync_group_endpoints(&updated).await;
        let Some(primary) = self.member(&to).map(|m| m.at) else {
            self.wake();
            return true;
        };
        for id in updated.members.iter().filter(|m| **m != to) {
            if let Some(m) = self.member(id).filter(|m| !m.lost) {
                if m.agent.is_running(&m.node.key) {
                    let attach = ReplicationChange::Attach {
                        primary: primary.clone(),
                    };
                    let _ = m.agent.replicate(&m.node, attach).await;
                }
            }
        }
        if let Some(from) = from.filter(|m| !m.lost) {
            if from.agent.is_running(&from.node.key) {
                let _ = from
                    .agent
                    .replicate(&from.node, ReplicationChange::Unpause)
                    .await;
            }
        }
        self.wake();
        true
    }
}
