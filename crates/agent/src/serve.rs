//! The local agent serving the agent interface in-process: lifecycle requests go to
//! the process code in `agent.rs`, node commands to `redis_ops.rs` as Larder's user.

use std::time::Duration;

use larder_endpoints::ensure_legacy_discovery_key;
use nix::sys::signal::Signal;

use crate::interface::{
    AgentFuture, AgentReply, AgentRequest, NodeAgent, NodeRef, ReplicationChange,
};
use crate::node_conn::NodeAddr;
use crate::probe::probe_source;
use crate::{redis_ops, AgentError, LocalAgent};

/// How long a SIGKILLed node may take to leave the process table.
const FENCE_EXIT_TIMEOUT: Duration = Duration::from_secs(2);

impl NodeAgent for LocalAgent {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        Box::pin(self.serve(request))
    }

    fn is_running(&self, key: &str) -> bool {
        LocalAgent::is_running(self, key)
    }

    fn replication_view(&self, key: &str) -> Option<crate::ReplicationView> {
        LocalAgent::replication_view(self, key)
    }
}

/// `host:port`, with the brackets an IPv6 address needs.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A failed node command as the interface reports it.
fn node_error(addr: &NodeAddr) -> impl Fn(redis::RedisError) -> AgentError + '_ {
    move |e| AgentError::Node {
        node: addr.to_string(),
        message: e.to_string(),
    }
}

impl LocalAgent {
    /// After a lifecycle request: watch the node's new process and publish the change.
    /// Its replication state is read afresh from the new process.
    fn settle(&self, key: &str, pid: Option<u32>) {
        if let Some(pid) = pid {
            self.watch(key, pid);
        }
        self.refresh_observation();
        self.forget_replication(key);
    }

    /// Where and as whom this agent manages a node: Larder's own user.
    pub(crate) fn node_addr(&self, node: &NodeRef) -> NodeAddr {
        let secret = self.admin_secret();
        if let Err(e) = &secret {
            tracing::error!(node = %node.key, error = %e, "cannot read Larder's admin secret; nodes cannot be managed");
        }
        NodeAddr::new(&node.host, node.port, secret.ok())
    }

    async fn serve(&self, request: AgentRequest) -> Result<AgentReply, AgentError> {
        use AgentReply::{Count, Done, Flag, Pid};
        match request {
            AgentRequest::StartNode(spec) => {
                let _busy = self.busy(&spec.key);
                self.remember(&spec)?;
                let pid = self.ensure_started(&spec).await;
                self.settle(&spec.key, pid.as_ref().ok().copied());
                pid.map(Pid)
            }
            AgentRequest::WaitReady { spec, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms);
                LocalAgent::wait_ready(self, &spec, timeout)
                    .await
                    .map(|_| Done)
            }
            AgentRequest::RestartNode(spec) => {
                let _busy = self.busy(&spec.key);
                self.remember(&spec)?;
                let pid = self.restart(&spec).await;
                self.settle(&spec.key, pid.as_ref().ok().copied());
                pid.map(Pid)
            }
            AgentRequest::StopNode { key } => {
                let _busy = self.busy(&key);
                // Leave first: the exit this causes must not look like a crash.
                self.leave(&key)?;
                let done = self.stop(&key).await;
                self.settle(&key, None);
                done.map(|_| Done)
            }
            AgentRequest::RemoveData { key } => {
                let _busy = self.busy(&key);
                self.forget(&key);
                let done = LocalAgent::remove_data(self, &key);
                self.refresh_observation();
                self.forget_replication(&key);
                done.map(|_| Done)
            }
            AgentRequest::Fence { key } => {
                let _busy = self.busy(&key);
                // A fenced node must never come back on the agent's own initiative.
                self.leave(&key)?;
                if let Some(pid) = self.pid(&key) {
                    tracing::warn!(node = %key, pid, "fencing node");
                    self.signal_and_wait(&key, pid, Signal::SIGKILL, FENCE_EXIT_TIMEOUT)
                        .await;
                }
                self.settle(&key, None);
                Ok(Done)
            }
            AgentRequest::Supervise { key, policy } => {
                self.set_policy(&key, policy)?;
                Ok(Done)
            }
            AgentRequest::PortFree { bind, port } => Ok(Flag(crate::port_is_free(&bind, port))),
            AgentRequest::Ping { node, timeout_ms } => {
                let addr = self.node_addr(&node);
                let timeout = Duration::from_millis(timeout_ms);
                Ok(Flag(redis_ops::ping(self.conns(), &addr, timeout).await))
            }
            AgentRequest::PingNodes { nodes, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms);
                let mut probes = tokio::task::JoinSet::new();
                for (i, node) in nodes.iter().enumerate() {
                    let (me, addr) = (self.clone(), self.node_addr(node));
                    probes.spawn(
                        async move { (i, redis_ops::ping(me.conns(), &addr, timeout).await) },
                    );
                }
                let mut flags = vec![false; nodes.len()];
                while let Some(Ok((i, up))) = probes.join_next().await {
                    flags[i] = up;
                }
                Ok(AgentReply::Flags(flags))
            }
            AgentRequest::NodePid { key } => Ok(AgentReply::MaybePid(self.pid(&key))),
            AgentRequest::UsedMemory { node } => {
                let addr = self.node_addr(&node);
                let bytes = redis_ops::used_memory(self.conns(), &addr)
                    .await
                    .map_err(node_error(&addr))?;
                Ok(Count(usize::try_from(bytes).unwrap_or(usize::MAX)))
            }
            AgentRequest::ReplicationInfo { node } => {
                let addr = self.node_addr(&node);
                let info = redis_ops::info_replication(self.conns(), &addr)
                    .await
                    .map_err(node_error(&addr))?;
                Ok(AgentReply::Replication(redis_ops::replication_info(&info)))
            }
            AgentRequest::Replication { node, change } => {
                let addr = self.node_addr(&node);
                let done = match change {
                    ReplicationChange::Attach { primary } => {
                        redis_ops::replicaof(&addr, Some((&primary.host, primary.port))).await
                    }
                    ReplicationChange::AttachSource { source } => {
                        redis_ops::replicaof_source(&addr, &source.host, source.port).await
                    }
                    ReplicationChange::Promote => redis_ops::replicaof(&addr, None).await,
                    ReplicationChange::PauseWrites { ms } => {
                        redis_ops::pause_writes(&addr, ms).await
                    }
                    ReplicationChange::Unpause => redis_ops::unpause(&addr).await,
                };
                // Also after a failure: the change may have taken before it failed.
                self.observe_replication_now(&node).await;
                done.map(|_| Done).map_err(node_error(&addr))
            }
            AgentRequest::StreamingReplicas {
                node,
                replicas,
                timeout_ms,
            } => {
                let addr = self.node_addr(&node);
                redis_ops::streaming_replicas(&addr, replicas, timeout_ms)
                    .await
                    .map(Count)
                    .map_err(node_error(&addr))
            }
            AgentRequest::ConfigSet { node, name, value } => {
                let addr = self.node_addr(&node);
                redis_ops::config_set(&addr, &name, &value)
                    .await
                    .map(|_| Done)
                    .map_err(node_error(&addr))
            }
            AgentRequest::ConfigGet { node, name } => {
                let addr = self.node_addr(&node);
                redis_ops::config_get(&addr, &name)
                    .await
                    .map(AgentReply::Value)
                    .map_err(node_error(&addr))
            }
            AgentRequest::GroupEndpoints(spec) => self.endpoints().group(spec).await.map(|_| Done),
            AgentRequest::RetainEndpoints {
                group_ids,
                cluster_ids,
                grace_ms,
            } => self
                .endpoints()
                .retain(&group_ids, &cluster_ids, Duration::from_millis(grace_ms))
                .await
                .map(Count),
            AgentRequest::RetireGroupEndpoints { group_id } => {
                self.endpoints().retire_group(&group_id).await.map(|_| Done)
            }
            AgentRequest::ConfigEndpoint(spec) => self.endpoints().config(spec).await.map(|_| Done),
            AgentRequest::RetireConfigEndpoint { cluster_id } => self
                .endpoints()
                .retire_config(&cluster_id)
                .await
                .map(|_| Done),
            AgentRequest::LegacyDiscoveryKey { node, config } => {
                // Memcached has no users: the key is written as any client would.
                let addr = host_port(&node.host, node.port);
                ensure_legacy_discovery_key(&addr, &config)
                    .await
                    .map(Flag)
                    .map_err(|e| AgentError::Node {
                        node: addr,
                        message: e.to_string(),
                    })
            }
            AgentRequest::LegacyDiscoveryKeys { keys } => {
                let addrs = keys.iter().map(|(n, _)| host_port(&n.host, n.port));
                self.legacy_conns().retain(&addrs.collect());
                let mut checks = tokio::task::JoinSet::new();
                for (i, (node, config)) in keys.into_iter().enumerate() {
                    let me = self.clone();
                    checks.spawn(async move {
                        let addr = host_port(&node.host, node.port);
                        match me.legacy_conns().ensure(&addr, &config).await {
                            Ok(written) => (i, written),
                            Err(e) => {
                                tracing::debug!(node = %node.key, error = %e, "legacy discovery key not written");
                                (i, false)
                            }
                        }
                    });
                }
                let mut flags = vec![false; checks.len()];
                while let Some(Ok((i, written))) = checks.join_next().await {
                    flags[i] = written;
                }
                Ok(AgentReply::Flags(flags))
            }
            AgentRequest::ProbeSource { source, timeout_ms } => {
                let limit = Duration::from_millis(timeout_ms);
                let check = probe_source(&source.host, source.port, limit).await;
                Ok(AgentReply::Source(check))
            }
            AgentRequest::SaveSnapshot {
                node,
                snapshot,
                timeout_ms,
            } => self
                .save_snapshot(&node, &snapshot, Duration::from_millis(timeout_ms))
                .await
                .map(AgentReply::SnapshotSave),
            AgentRequest::ReadSnapshot {
                snapshot,
                key,
                offset,
                len,
            } => self
                .read_snapshot(&snapshot, &key, offset, len)
                .map(AgentReply::SnapshotChunk),
            AgentRequest::StageRestore {
                key,
                offset,
                hex,
                expect,
            } => self
                .stage_restore(&key, offset, &hex, &expect)
                .await
                .map(AgentReply::Staged),
            AgentRequest::DiscardSnapshot { snapshot } => {
                self.discard_snapshot(&snapshot).map(|_| Done)
            }
            AgentRequest::InstalledEngines => {
                // Runs each binary's version command: off the runtime's workers.
                let engines =
                    tokio::task::spawn_blocking(crate::installed::installed_engines_with_defaults)
                        .await
                        .map_err(|e| AgentError::Io(std::io::Error::other(e)))?;
                Ok(AgentReply::Engines(engines))
            }
        }
    }
}
