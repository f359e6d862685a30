//! The reconcile loop. Each cluster gets at most one pass at a time; a pass repeats
//! node steps until nothing is left to do. Steps are idempotent and each one's result
//! is committed before the next, so a pass cut short by a crash simply runs again.

mod backup_plan;
mod backup_schedule;
mod discovery;
mod failover;
mod failover_plan;
mod group_endpoints;
mod health;
mod host_health;
mod in_place_upgrade;
pub(crate) use host_health::HostHealth;
mod node_attempts;
mod nodes;
mod parameters;
mod replication;
mod restart_policy;
mod restore;
mod restore_object;
mod scale_down;
mod settle;
mod snapshot_copy;
mod snapshot_export;
mod snapshots;
mod upgrade;

#[cfg(test)]
mod backup_schedule_tests;
#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod host_join_tests;
#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod idle_tests;
#[cfg(test)]
mod in_place_upgrade_tests;
#[cfg(test)]
mod parameter_tests;
#[cfg(test)]
mod scale_down_tests;
#[cfg(test)]
mod snapshot_copy_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod test_harness;
#[cfg(test)]
mod workflow_tests;

use std::time::{Duration, Instant};

use larder_model::{CacheCluster, ClusterStatus};
use tokio::sync::watch;

use crate::Controller;

/// How often every cluster is looked at even without a wake-up: the node health check.
const TICK: Duration = Duration::from_millis(250);
/// How often the legacy discovery key on memcached nodes is checked.
const LEGACY_KEY_EVERY: Duration = Duration::from_secs(2);
/// How often the automatic backup scheduler looks at the caches (a window is an hour
/// at least; the test clock is re-read every 200 ms).
const BACKUP_SCHEDULE_EVERY: Duration = Duration::from_secs(1);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Frees a key in the in-flight set when dropped.
struct InflightGuard {
    controller: Controller,
    key: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.controller
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl Controller {
    /// Runs until `shutdown` turns true.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut last_legacy = Instant::now();
        let mut last_prune = Instant::now() - PRUNE_EVERY;
        let mut last_schedule = Instant::now() - BACKUP_SCHEDULE_EVERY;
        loop {
            self.spawn_passes();
            if last_schedule.elapsed() >= BACKUP_SCHEDULE_EVERY {
                last_schedule = Instant::now();
                let me = self.clone();
                self.spawn_once("snapshots:schedule".into(), async move {
                    me.backup_schedule_pass().await
                });
            }
            let me = self.clone();
            self.spawn_once("hosts:retain-endpoints".into(), async move {
                me.retain_endpoints().await
            });
            if last_legacy.elapsed() >= LEGACY_KEY_EVERY {
                last_legacy = Instant::now();
                let me = self.clone();
                self.spawn_once("discovery:legacy-keys".into(), async move {
                    me.refresh_legacy_keys().await
                });
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                let cutoff = chrono::Utc::now() - chrono::Duration::days(14);
                if let Err(e) = self.store().prune_events(cutoff) {
                    tracing::warn!(error = %e, "pruning events failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.inner.wake.notified() => {}
                _ = shutdown.changed() => break,
            }
        }
    }

    fn spawn_passes(&self) {
        let clusters = match self.store().list_clusters() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read clusters");
                return;
            }
        };
        match self.store().list_replication_groups() {
            Ok(groups) => {
                for g in groups {
                    let me = self.clone();
                    self.spawn_once(format!("replicationgroup:{}", g.id), async move {
                        let mut g = g;
                        while me.group_step(&g).await {
                            match me.store().get_replication_group(&g.id) {
                                Ok(Some(next)) => g = next,
                                _ => break,
                            }
                        }
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read replication groups"),
        }
        match self.store().list_snapshots() {
            Ok(snapshots) => {
                for s in snapshots {
                    if matches!(
                        s.status,
                        larder_model::SnapshotStatus::Creating
                            | larder_model::SnapshotStatus::Deleting
                    ) || !s.exports.is_empty()
                    {
                        let me = self.clone();
                        self.spawn_once(format!("snapshot:{}", s.name), async move {
                            me.snapshot_pass(&s.name).await
                        });
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read snapshots"),
        }
        for c in clusters {
            let me = self.clone();
            self.spawn_once(c.id.clone(), async move { me.pass(c).await });
        }
    }

    /// Runs `work` unless work under the same key is still running. The key is freed
    /// when the work ends, even by a panic, so a resource is never left unreconciled.
    fn spawn_once(
        &self,
        key: String,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let Some(guard) = self.claim(key) else {
            return;
        };
        tokio::spawn(async move {
            let _guard = guard;
            work.await;
        });
    }

    /// Takes `key` in the in-flight set, unless work under it is running; freed when
    /// the guard drops.
    fn claim(&self, key: String) -> Option<InflightGuard> {
        let fresh = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        fresh.then(|| InflightGuard {
            controller: self.clone(),
            key,
        })
    }

    /// Drives one cluster until no step makes progress.
    async fn pass(&self, mut cluster: CacheCluster) {
        loop {
            if cluster.status.is_failed() {
                // Terminal: nothing is tried until DeleteCacheCluster.
                return;
            }
            let progressed = if cluster.status == ClusterStatus::Deleting {
                self.delete_step(&cluster).await
            } else {
                if !cluster.pending.is_empty() {
                    if let Err(e) = self.apply_due_pending(&cluster.id) {
                        tracing::warn!(cache_cluster_id = %cluster.id, error = %e, "pending modifications not applied");
                    }
                }
                self.ensure_config_endpoint(&cluster).await;
                let mut progressed = self.in_place_upgrade_step(&cluster).await;
                progressed |= self.node_steps(&cluster).await;
                progressed |= self.sync_discovery(&cluster.id).await;
                progressed |= self.finish_if_settled(&cluster.id);
                if !progressed {
                    // Only once the nodes are settled: a round waits for available nodes.
                    progressed = self.parameter_step(&cluster).await;
                }
                progressed
            };
            if !progressed {
                return;
            }
            match self.store().get_cluster(&cluster.id) {
                Ok(Some(c)) => cluster = c,
                _ => return,
            }
        }
    }

    /// Moves a cluster whose nodes are all available back to `available`.
    fn finish_if_settled(&self, id: &str) -> bool {
        let done = self.store().update_cluster_pure(id, settle::settle);
        done.unwrap_or(false)
    }

    /// Stops every node process (clean daemon shutdown); intent stays, so the next
    /// start brings them back. The endpoints belong to the agent and live as long as it.
    pub async fn stop_all_nodes(&self) {
        // In parallel: a memcached node can take a second to exit, and a host may run hundreds.
        let clusters = self.store().list_clusters().unwrap_or_default();
        let mut stops = tokio::task::JoinSet::new();
        for c in &clusters {
            for n in &c.nodes {
                let agent = self.agent_of(n);
                let (id, key) = (c.id.clone(), c.node_key(&n.cache_node_id));
                stops.spawn(async move {
                    if let Err(e) = agent.stop_node(&key).await {
                        tracing::warn!(cache_cluster_id = %id, node = %key, error = %e, "stop failed");
                    }
                });
            }
        }
        while stops.join_next().await.is_some() {}
    }
}
