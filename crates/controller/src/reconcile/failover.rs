//! Primary changes. Planned ones pause writes on the old primary and wait for the new
//! one to catch up, so no acknowledged write is lost; unplanned ones fence the old
//! primary first. The chosen replica is stored before it is promoted and the new
//! primary is committed in one transaction, so a crash at any step resumes safely and
//! the endpoints never lead to two primaries.

use std::time::{Duration, Instant};

use larder_model::{ReplicationGroup, ReplicationGroupStatus};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::redis_ops;
use crate::service::group_event;
use crate::Controller;

/// How long writes stay paused on the old primary at most during a switchover.
const PAUSE_MS: u64 = 10_000;
/// How long a planned switchover waits for the replica to catch up before giving up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

impl Controller {
    /// A member's address, port and node key.
    fn member_addr(&self, id: &str) -> Option<(super::node_conn::NodeAddr, u16, String)> {
        let (c, port) = self.member_node(id)?;
        let key = c.node_key(&c.nodes.first()?.cache_node_id);
        Some((self.node_addr(port), port, key))
    }

    /// The running replica with the most replicated data.
    async fn best_replica(&self, g: &ReplicationGroup, from: &str) -> Option<String> {
        let mut best: Option<(i64, String)> = None;
        for m in g.members.iter().filter(|m| m.as_str() != from) {
            let Some((addr, _, key)) = self.member_addr(m) else {
                continue;
            };
            if !self.inner.agent.is_running(&key) {
                continue;
            }
            let Ok(info) = redis_ops::info_replication(&addr).await else {
                continue;
            };
            let off = redis_ops::offset(&info);
            if best.as_ref().is_none_or(|(b, _)| off > *b) {
                best = Some((off, m.clone()));
            }
        }
        best.map(|(_, m)| m)
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

    /// Advances a group's failover. True when it moved.
    pub(crate) async fn failover_step(&self, g: &ReplicationGroup) -> bool {
        let Some(f) = g.failover.clone() else {
            return false;
        };
        let id = g.id.clone();
        let to = match &f.to {
            Some(t) => t.clone(),
            None => match self.best_replica(g, &f.from).await {
                Some(best) => {
                    let chosen = best.clone();
                    let stored = self.store().transaction(|tx| {
                        let Some(mut cur) = tx.replication_group(&id)? else {
                            return Ok(false);
                        };
                        let Some(cf) = cur.failover.as_mut() else {
                            return Ok(false);
                        };
                        cf.to = Some(chosen.clone());
                        tx.put_replication_group(&cur)?;
                        Ok(true)
                    });
                    if !stored.unwrap_or(false) {
                        return false;
                    }
                    best
                }
                None => {
                    self.abort_failover(&id, "no replica is available to promote");
                    return true;
                }
            },
        };
        let Some((to_addr, to_port, _)) = self.member_addr(&to) else {
            self.abort_failover(&id, &format!("{to} no longer exists"));
            return true;
        };
        let from = self.member_addr(&f.from);
        let promoted = redis_ops::info_replication(&to_addr)
            .await
            .map(|i| i.get("role").map(String::as_str) == Some("master"))
            .unwrap_or(false);
        let mut paused = false;
        if !promoted && f.planned {
            let Some((from_addr, _, _)) = &from else {
                self.abort_failover(&id, "the primary is gone");
                return true;
            };
            if redis_ops::pause_writes(from_addr, PAUSE_MS).await.is_err() {
                self.abort_failover(&id, "the primary did not accept a write pause");
                return true;
            }
            paused = true;
            let target = match redis_ops::info_replication(from_addr).await {
                Ok(info) => redis_ops::offset(&info),
                Err(_) => i64::MAX,
            };
            let start = Instant::now();
            loop {
                let reached = redis_ops::info_replication(&to_addr)
                    .await
                    .map(|i| redis_ops::offset(&i))
                    .unwrap_or(-1);
                if reached >= target {
                    break;
                }
                if start.elapsed() > CATCH_UP_TIMEOUT {
                    let _ = redis_ops::unpause(from_addr).await;
                    self.abort_failover(&id, &format!("{to} did not catch up with the primary"));
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        } else if !f.planned {
            // Fence: the failed primary must never take another write, even if it was
            // only hung and would wake up later.
            if let Some((_, _, key)) = &from {
                if let Some(pid) = self.inner.agent.pid(key) {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
        }
        self.step_delay().await;
        if !promoted {
            if let Err(e) = redis_ops::replicaof(&to_addr, None).await {
                tracing::warn!(replication_group_id = %id, member = %to, error = %e, "promotion failed; will retry");
                if paused {
                    if let Some((from_addr, _, _)) = &from {
                        let _ = redis_ops::unpause(from_addr).await;
                    }
                }
                return false;
            }
        }
        self.step_delay().await;
        let from_id = f.from.clone();
        let committed = self.store().transaction(|tx| {
            let Some(mut cur) = tx.replication_group(&id)? else {
                return Ok(None);
            };
            if cur.failover.is_none() {
                return Ok(None);
            }
            cur.primary = to.clone();
            cur.role_generation += 1;
            cur.failover = None;
            cur.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&cur)?;
            tx.event(group_event(
                &id,
                format!("Failover from primary node {from_id} to replica node {to} completed"),
            ));
            Ok(Some(cur))
        });
        let Ok(Some(updated)) = committed else {
            return false;
        };
        tracing::info!(replication_group_id = %id, from = %from_id, to = %to, planned = f.planned, "failover completed");
        self.sync_group_endpoints(&updated).await;
        let host = self.connect_host();
        for m in updated.members.iter().filter(|m| **m != to) {
            if let Some((addr, _, key)) = self.member_addr(m) {
                if self.inner.agent.is_running(&key) {
                    let _ = redis_ops::replicaof(&addr, Some((&host, to_port))).await;
                }
            }
        }
        if paused {
            if let Some((from_addr, _, _)) = &from {
                let _ = redis_ops::unpause(from_addr).await;
            }
        }
        self.wake();
        true
    }
}
