//! The engine upgrade of a cache cluster's only node (`model/in_place_upgrade.rs`):
//! pause writes, dump the data on the node's host, replace the paused process by
//! one on the new binary that loads the dump, then forget the dump.
//!
//! Why it loses no acknowledged write: the dump is asked for only while writes are
//! paused, and the pause is known to have lasted from before the dump until the
//! restart. The record keeps a conservative end of the pause (`paused_until`, from
//! the time *before* each CLIENT PAUSE was sent, written only *after* it was sent),
//! and a step that finds it close to lapsing starts a new attempt with a new dump
//! instead of trusting the old one. A restart is recognised after a crash by the
//! node's pid: the paused process (`old_pid`) still running means it has not
//! happened yet.

use std::time::Duration;

use chrono::Utc;
use larder_agent::{InitialData, ReplicationChange, SnapshotSave};
use larder_model::in_place_upgrade::MAX_ATTEMPTS;
use larder_model::{
    CacheCluster, CacheNode, ClusterStatus, Event, Fault, InPlaceStep, InPlaceUpgrade, NodeStatus,
};

use crate::Controller;

/// How long one CLIENT PAUSE lasts; each pass renews it while the dump is made.
const PAUSE: Duration = Duration::from_secs(30);

/// A pause this close to its end is not trusted to last through the next command.
const MARGIN: Duration = Duration::from_secs(8);

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("a short duration")
}

impl Controller {
    /// One move of `c`'s in-place upgrade. True when something was committed.
    pub(crate) async fn in_place_upgrade_step(&self, c: &CacheCluster) -> bool {
        let Some(u) = &c.upgrade else {
            return false;
        };
        let Some(n) = c.nodes.first() else {
            return false;
        };
        if c.status != ClusterStatus::Modifying || n.status != NodeStatus::Available {
            return false;
        }
        if !self.host_healthy(n) {
            return false;
        }
        self.step_delay().await;
        match self.in_place_move(c, n, u).await {
            Ok(moved) => moved,
            Err(e) => {
                tracing::warn!(cache_cluster_id = %c.id, error = %e, "engine upgrade step failed; trying again");
                self.next_upgrade_attempt(c, &e.to_string())
            }
        }
    }

    async fn in_place_move(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        u: &InPlaceUpgrade,
    ) -> Result<bool, Fault> {
        let agent = self.agent_of(n);
        let node = self.node_ref(c, n);
        let internal = |e: larder_agent::AgentError| Fault::Internal(e.to_string());
        let lapsing = |until: chrono::DateTime<Utc>| Utc::now() + chrono(MARGIN) >= until;
        match &u.step {
            InPlaceStep::Save {
                attempt,
                paused_until,
            } => {
                if paused_until.is_some_and(lapsing) {
                    // The pause may end before the dump: writes after it would be
                    // missing from the dump. A new attempt makes a new dump.
                    return Ok(self.next_upgrade_attempt(c, "the write pause ran out"));
                }
                let Some(pid) = agent.node_pid(&node.key).await.map_err(internal)? else {
                    return Err(Fault::Internal("the node's process is not running".into()));
                };
                let asked = Utc::now();
                agent
                    .replicate(
                        &node,
                        ReplicationChange::PauseWrites {
                            ms: PAUSE.as_millis() as u64,
                        },
                    )
                    .await
                    .map_err(internal)?;
                let until = asked + chrono(PAUSE);
                let name = InPlaceUpgrade::dump_name(&c.id, *attempt);
                let wait = self.settings().snapshot_save_wait;
                let saved = agent
                    .save_snapshot(&node, &name, wait)
                    .await
                    .map_err(internal)?;
                let attempt = *attempt;
                let next = match saved {
                    SnapshotSave::Pending => InPlaceStep::Save {
                        attempt,
                        paused_until: Some(until),
                    },
                    SnapshotSave::Saved(file) => InPlaceStep::Restart {
                        attempt,
                        paused_until: until,
                        file,
                        old_pid: pid,
                    },
                };
                self.set_in_place_step(c, &u.step, next)
            }
            InPlaceStep::Restart {
                attempt,
                paused_until,
                file,
                old_pid,
            } => {
                let running = agent.node_pid(&node.key).await.map_err(internal)?;
                if running.is_some_and(|p| p != *old_pid) {
                    // The restart happened before a crash cut this step off.
                    let next = InPlaceStep::Finish { attempt: *attempt };
                    return self.set_in_place_step(c, &u.step, next);
                }
                if running.is_some() && lapsing(*paused_until) {
                    return Ok(self.next_upgrade_attempt(c, "the write pause ran out"));
                }
                let mut upgraded = c.clone();
                upgraded.engine_version = u.target.clone();
                upgraded.cache_parameter_group_name = u.parameter_group.clone();
                let mut spec = self.node_spec(&upgraded, n, &n.node_type);
                spec.initial_data = InitialData::Saved {
                    snapshot: InPlaceUpgrade::dump_name(&c.id, *attempt),
                    expect: file.clone(),
                };
                let timeout = self.settings().node_ready_timeout;
                let started = match agent.restart_node(&spec).await {
                    Ok(_) => agent.wait_ready(&spec, timeout).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = started {
                    // The old process is gone: bring the old version back on the same
                    // data rather than leave the cache down.
                    let mut old = self.node_spec(c, n, &n.node_type);
                    old.initial_data = spec.initial_data.clone();
                    agent.restart_node(&old).await.map_err(internal)?;
                    agent.wait_ready(&old, timeout).await.map_err(internal)?;
                    return Ok(
                        self.give_up_upgrade(c, &format!("engine {} did not start: {e}", u.target))
                    );
                }
                let next = InPlaceStep::Finish { attempt: *attempt };
                self.set_in_place_step(c, &u.step, next)
            }
            InPlaceStep::Finish { attempt } => {
                for a in 1..=*attempt {
                    let name = InPlaceUpgrade::dump_name(&c.id, a);
                    agent.discard_snapshot(&name).await.map_err(internal)?;
                }
                let target = u.target.clone();
                let group = u.parameter_group.clone();
                Ok(self.store().update_cluster(&c.id, |c, change| {
                    if !matches!(&c.upgrade, Some(x) if matches!(x.step, InPlaceStep::Finish { .. }))
                    {
                        return Ok(false);
                    }
                    c.upgrade = None;
                    c.engine_version = target.clone();
                    c.cache_parameter_group_name = group.clone();
                    // The new process started with the group's current values.
                    for n in &c.nodes {
                        c.parameter_apply.restarted(&n.cache_node_id);
                    }
                    change.events.push(Event::cache_cluster(
                        &c.id,
                        format!("Engine upgraded to {target}"),
                    ));
                    super::settle::settle(c, &mut change.events);
                    Ok(true)
                })?)
            }
        }
    }

    /// Commits `next` if the upgrade is still at `expected`.
    fn set_in_place_step(
        &self,
        c: &CacheCluster,
        expected: &InPlaceStep,
        next: InPlaceStep,
    ) -> Result<bool, Fault> {
        self.store()
            .update_cluster(&c.id, |c, _| match c.upgrade.as_mut() {
                Some(u) if &u.step == expected => {
                    let moved = u.step != next;
                    u.step = next.clone();
                    Ok(moved)
                }
                _ => Ok(false),
            })
    }

    /// Starts the next attempt (a new pause and a new dump), or gives up after
    /// [`MAX_ATTEMPTS`].
    fn next_upgrade_attempt(&self, c: &CacheCluster, why: &str) -> bool {
        let attempt = match c.upgrade.as_ref().map(|u| &u.step) {
            Some(InPlaceStep::Save { attempt, .. } | InPlaceStep::Restart { attempt, .. }) => {
                *attempt
            }
            _ => return false,
        };
        if attempt >= MAX_ATTEMPTS {
            return self.give_up_upgrade(c, why);
        }
        let expected = c.upgrade.as_ref().map(|u| u.step.clone());
        self.store()
            .update_cluster(&c.id, |c, change| {
                let Some(u) = c.upgrade.as_mut() else {
                    return Ok(false);
                };
                if Some(&u.step) != expected.as_ref() {
                    return Ok(false);
                }
                u.step = InPlaceStep::Save {
                    attempt: attempt + 1,
                    paused_until: None,
                };
                change.events.push(Event::cache_cluster(
                    &c.id,
                    format!("Engine upgrade: trying again ({why})"),
                ));
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Ends the upgrade with the node on its old version: writes resume, the dumps
    /// go, the cluster is available again.
    fn give_up_upgrade(&self, c: &CacheCluster, why: &str) -> bool {
        tracing::warn!(cache_cluster_id = %c.id, why, "engine upgrade given up");
        let ended = self.store().update_cluster(&c.id, |c, change| {
            let Some(u) = c.upgrade.take() else {
                return Ok(false);
            };
            change.events.push(Event::cache_cluster(
                &c.id,
                format!(
                    "Engine upgrade to {} failed: {why}. The node runs engine version {}.",
                    u.target, c.engine_version
                ),
            ));
            super::settle::settle(c, &mut change.events);
            Ok(true)
        });
        if let (Ok(true), Some(n)) = (&ended, c.nodes.first()) {
            // Best effort: the pause ends by itself within PAUSE anyway, and leftover
            // dumps are removed by the next upgrade's Finish of the same names.
            let agent = self.agent_of(n);
            let node = self.node_ref(c, n);
            let id = c.id.clone();
            tokio::spawn(async move {
                let _ = agent.replicate(&node, ReplicationChange::Unpause).await;
                for a in 1..=MAX_ATTEMPTS {
                    let _ = agent
                        .discard_snapshot(&InPlaceUpgrade::dump_name(&id, a))
                        .await;
                }
            });
        }
        matches!(ended, Ok(true))
    }
}
