//! Node-level steps: start, retype, reboot, remove and recover nodes, and tear a
//! deleted cluster down.

use larder_agent::NodeSpec;
use larder_model::{CacheCluster, CacheNode, ClusterStatus, Event, Fault, NodeStatus, NodeType};

use super::restore_object::Fetched;
use crate::Controller;

/// A node's `maxmemory`: its type's memory less the reserved share.
pub(crate) fn maxmemory_bytes(node_type: &str, reserved_percent: u64) -> u64 {
    NodeType::find(node_type)
        .map(|t| t.maxmemory_bytes(reserved_percent))
        .unwrap_or(64 << 20)
        // `maxmemory 0` would mean no limit at all (reserved-memory-percent 100).
        .max(1 << 20)
}

impl Controller {
    /// The agent's view of a node, with memory from `node_type`.
    pub(crate) fn node_spec(&self, c: &CacheCluster, n: &CacheNode, node_type: &str) -> NodeSpec {
        let maxmemory_bytes = maxmemory_bytes(node_type, self.reserved_memory_percent(c));
        NodeSpec {
            key: c.node_key(&n.cache_node_id),
            engine: c.engine,
            engine_version: Some(c.engine_version.clone()),
            port: n.port,
            bind: self.node_bind(n),
            maxmemory_bytes,
            // The group's values first: replication is the service's own setting.
            extra_config: [self.parameter_config(c), self.replication_config(c)].concat(),
            command_limits: self.settings().command_limits(),
            // Nodes run without persistence; a snapshot restore would name its file here.
            initial_data: larder_agent::InitialData::Empty,
        }
    }

    pub(crate) async fn step_delay(&self) {
        let d = self.settings().workflow_step_delay;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// Runs one step for every node that needs one, concurrently. True if any moved.
    /// With the step-delay test seam set, steps run one after another instead, so a
    /// crash test can stop the daemon between two of them.
    pub(crate) async fn node_steps(&self, c: &CacheCluster) -> bool {
        if !self.settings().workflow_step_delay.is_zero() {
            let mut progressed = false;
            for n in &c.nodes {
                progressed |= self.node_step_logged(c, n).await;
            }
            return progressed;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for n in c.nodes.clone() {
            let me = self.clone();
            let c = c.clone();
            tasks.spawn(async move { me.node_step_logged(&c, &n).await });
        }
        let mut progressed = false;
        while let Some(r) = tasks.join_next().await {
            progressed |= r.unwrap_or(false);
        }
        progressed
    }

    /// One node step, unless the node waits out the backoff of a failed attempt; a
    /// failure is counted on the node (see `node_attempts.rs`).
    async fn node_step_logged(&self, c: &CacheCluster, n: &CacheNode) -> bool {
        if !self.attempt_due(n) {
            return false;
        }
        match self.node_step(c, n).await {
            Ok(progressed) => progressed,
            Err(e) => {
                if n.status == NodeStatus::Deleting {
                    tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, error = %e, "node removal failed; will retry");
                } else if let Err(store) = self.record_node_failure(c, n, &e.to_string()) {
                    tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, error = %e, %store, "node step failed and could not be recorded; will retry");
                }
                // A recorded failure changes the record, but the next attempt waits
                // for its backoff: nothing more to do in this pass.
                false
            }
        }
    }

    async fn node_step(&self, c: &CacheCluster, n: &CacheNode) -> Result<bool, Fault> {
        if !self.host_healthy(n) {
            // Nothing can be done on a host that does not answer; failover and the
            // host's return are handled by the host checks (`host_health.rs`).
            return Ok(false);
        }
        let agent = self.agent_of(n);
        let timeout = self.settings().node_ready_timeout;
        let internal = |e: larder_agent::AgentError| Fault::Internal(e.to_string());
        match n.status {
            NodeStatus::Available => {
                // The common case, a running node, costs one /proc lookup and no store read.
                if agent.is_running(&c.node_key(&n.cache_node_id)) {
                    self.sync_restart_policy(c, n).await;
                    return Ok(false);
                }
                if c.upgrade.is_some() {
                    // The upgrade is replacing the process and restarts it from its
                    // dump; an empty restart here would lose the data.
                    return Ok(false);
                }
                if self.failover_covers(c) || self.held_by_failover(c) {
                    // A group primary with a live replica is replaced by failover, not
                    // restarted, and the two members of a failover wait for its end.
                    return Ok(false);
                }
                let spec = self.node_spec(c, n, &n.node_type);
                tracing::warn!(cache_cluster_id = %c.id, node = %n.cache_node_id, "node process is gone; recovering");
                let id = n.cache_node_id.clone();
                self.store().append_events(&[Event::cache_cluster(
                    &c.id,
                    format!("Recovering cache nodes {id}"),
                )])?;
                agent.start_node(&spec).await.map_err(internal)?;
                agent.wait_ready(&spec, timeout).await.map_err(internal)?;
                self.store().update_cluster(&c.id, |c, change| {
                    // It started with the group's current values, static ones too.
                    c.parameter_apply.restarted(&id);
                    change.events.push(Event::cache_cluster(
                        &c.id,
                        format!("Finished recovery for cache nodes {id}"),
                    ));
                    Ok(())
                })?;
                self.clear_attempts(c, n)?;
                Ok(false)
            }
            // Terminal: left only by deleting the cluster.
            NodeStatus::CreateFailed | NodeStatus::IncompatibleParameters => Ok(false),
            NodeStatus::Creating => {
                self.step_delay().await;
                let mut spec = self.node_spec(c, n, &n.node_type);
                if let Some(r) = &n.restore_from {
                    let max = spec.maxmemory_bytes;
                    let r = match self.fetch_restore_object(&spec.key, r, max).await? {
                        Fetched::Ready(r) => r,
                        Fetched::Refused(reason) => {
                            self.record_final_node_failure(c, n, &reason)?;
                            return Ok(true);
                        }
                    };
                    let path = self.stage_restore_file(&*agent, &spec.key, &r).await?;
                    self.drop_restore_object(&spec.key, &r);
                    spec.initial_data = larder_agent::InitialData::Rdb(path);
                }
                agent.start_node(&spec).await.map_err(internal)?;
                if let Err(e) = agent.wait_ready(&spec, timeout).await {
                    if !agent.is_running(&spec.key)
                        && agent
                            .port_free(&spec.bind, spec.port)
                            .await
                            .is_ok_and(|free| !free)
                    {
                        // Something outside Larder took the port after it was handed out.
                        self.move_node_port(c, n)?;
                    }
                    return Err(internal(e));
                }
                let announce = c.status != ClusterStatus::Creating;
                self.set_node(c, n, NodeStatus::Creating, |c, node, events| {
                    node.status = NodeStatus::Available;
                    // It runs with the snapshot's data: later starts begin empty.
                    node.restore_from = None;
                    if announce {
                        events.push(Event::cache_cluster(
                            &c.id,
                            format!(
                                "Added cache node {} in availability zone {}",
                                node.cache_node_id, node.availability_zone
                            ),
                        ));
                    }
                })
            }
            NodeStatus::Modifying => {
                self.step_delay().await;
                let spec = self.node_spec(c, n, &c.cache_node_type);
                if c.engine.is_redis_like() && agent.is_running(&spec.key) {
                    // Redis can take a new memory limit live, so the data stays,
                    // unless it no longer fits: then the change is refused.
                    let node = self.node_ref(c, n);
                    let old_limit = maxmemory_bytes(&n.node_type, self.reserved_memory_percent(c));
                    if spec.maxmemory_bytes < old_limit {
                        let used = agent.used_memory(&node).await.map_err(internal)?;
                        if used > spec.maxmemory_bytes {
                            return self.refuse_scale_down(c, n, used, spec.maxmemory_bytes);
                        }
                    }
                    let bytes = spec.maxmemory_bytes.to_string();
                    agent
                        .config_set(&node, "maxmemory", &bytes)
                        .await
                        .map_err(internal)?;
                } else {
                    agent.restart_node(&spec).await.map_err(internal)?;
                }
                agent.wait_ready(&spec, timeout).await.map_err(internal)?;
                let new_type = c.cache_node_type.clone();
                self.set_node(c, n, NodeStatus::Modifying, move |now, node, _| {
                    // The type changed again while this step ran (a refused scale
                    // down moved the group back): the node stays in the step, which
                    // runs again with the current type.
                    if now.cache_node_type == new_type {
                        node.status = NodeStatus::Available;
                        node.node_type = new_type.clone();
                    }
                })
            }
            NodeStatus::Rebooting => {
                self.step_delay().await;
                let spec = self.node_spec(c, n, &n.node_type);
                agent.restart_node(&spec).await.map_err(internal)?;
                agent.wait_ready(&spec, timeout).await.map_err(internal)?;
                self.set_node(c, n, NodeStatus::Rebooting, |c, node, events| {
                    node.status = NodeStatus::Available;
                    events.push(Event::cache_cluster(
                        &c.id,
                        format!("Cache node {} restarted", node.cache_node_id),
                    ));
                })
            }
            NodeStatus::Deleting => {
                self.step_delay().await;
                let key = c.node_key(&n.cache_node_id);
                agent.stop_node(&key).await.map_err(internal)?;
                agent.remove_data(&key).await.map_err(internal)?;
                let node_id = n.cache_node_id.clone();
                self.store().update_cluster(&c.id, |c, change| {
                    let before = c.nodes.len();
                    c.nodes.retain(|x| x.cache_node_id != node_id);
                    if c.nodes.len() != before {
                        change.events.push(Event::cache_cluster(
                            &c.id,
                            format!("Removed cache nodes {node_id}"),
                        ));
                    }
                    Ok(())
                })?;
                Ok(true)
            }
        }
    }

    /// Gives a node that has not started yet a new port.
    fn move_node_port(&self, c: &CacheCluster, n: &CacheNode) -> Result<(), Fault> {
        let mut view = self.placement_view(None)?;
        let port = view.placer.another_port(n)?;
        let node_id = n.cache_node_id.clone();
        self.store().update_cluster(&c.id, |c, _| {
            if let Some(node) = c.nodes.iter_mut().find(|x| x.cache_node_id == node_id && x.status == NodeStatus::Creating) {
                tracing::warn!(cache_cluster_id = %c.id, node = %node_id, old = node.port, new = port, "port taken by another process; moving the node");
                node.port = port;
            }
            Ok(())
        })
    }

    /// Commits a node's next status if it is still where this step found it and the
    /// cluster is not being deleted meanwhile.
    fn set_node(
        &self,
        c: &CacheCluster,
        n: &CacheNode,
        expected: NodeStatus,
        f: impl Fn(&CacheCluster, &mut CacheNode, &mut Vec<Event>),
    ) -> Result<bool, Fault> {
        self.store().update_cluster(&c.id, |c, change| {
            if c.status == ClusterStatus::Deleting {
                return Ok(false);
            }
            let snapshot = c.clone();
            let Some(node) = c
                .nodes
                .iter_mut()
                .find(|x| x.cache_node_id == n.cache_node_id)
            else {
                return Ok(false);
            };
            if node.status != expected {
                return Ok(false);
            }
            f(&snapshot, node, &mut change.events);
            // The step succeeded: earlier failed attempts no longer count.
            node.attempts = 0;
            node.retry_at = None;
            if matches!(expected, NodeStatus::Rebooting | NodeStatus::Creating) {
                // A (re)started process has the group's current values, static ones too.
                c.parameter_apply.restarted(&n.cache_node_id);
            }
            if super::settle::settle(c, &mut change.events) && c.status == ClusterStatus::Available
            {
                tracing::info!(cache_cluster_id = %c.id, "cache cluster available");
            }
            Ok(true)
        })
    }

    /// Tears a `deleting` cluster down: nodes, endpoint, data, then the record.
    pub(crate) async fn delete_step(&self, c: &CacheCluster) -> bool {
        if self.snapshot_reads(Some(&c.id), None) {
            // A final snapshot still reads the nodes.
            return false;
        }
        for n in &c.nodes {
            self.step_delay().await;
            let key = c.node_key(&n.cache_node_id);
            let agent = self.agent_of(n);
            if let Err(e) = agent.stop_node(&key).await {
                tracing::warn!(cache_cluster_id = %c.id, node = %key, error = %e, "stop failed; will retry");
                return false;
            }
            if let Err(e) = agent.remove_data(&key).await {
                tracing::warn!(cache_cluster_id = %c.id, node = %key, error = %e, "data removal failed; will retry");
                return false;
            }
        }
        if c.configuration_endpoint_port.is_some() {
            if let Err(e) = self.agent_on(None).retire_config_endpoint(&c.id).await {
                tracing::warn!(cache_cluster_id = %c.id, error = %e, "configuration endpoint not retired; will retry");
                return false;
            }
        }
        self.inner
            .published_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&c.id);
        self.forget_config_endpoint(&c.id);
        let arn = self.settings().cluster_arn(&c.id);
        let r = self.store().update_cluster(&c.id, |c, change| {
            change.delete_with_tags_arn = Some(arn.clone());
            change
                .events
                .push(Event::cache_cluster(&c.id, "Cache cluster deleted"));
            Ok(())
        });
        if r.is_ok() {
            tracing::info!(cache_cluster_id = %c.id, "cache cluster deleted");
        }
        false
    }
}
