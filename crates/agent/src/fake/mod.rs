//! An in-memory agent for unit tests of the control plane: nodes are records (role,
//! offset, process state, write pause) that answer the agent interface the way a
//! real node would, with failures injected by the test. It also watches the one
//! invariant failover must keep, that no two live nodes are primaries at once.
//! Endpoints are records too (see `endpoints`): what each was told, in order.

mod endpoints;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::interface::{
    AgentFuture, AgentReply, AgentRequest, HostPort, NodeAgent, NodeRef, ReplicationChange,
    ReplicationInfo, ReplicationRole,
};
use crate::{AgentError, ConfigEndpointSpec, GroupEndpointSpec, InstalledEngine, NodeSpec};
use endpoints::FakeEndpoints;
use larder_endpoints::{DiscoveryConfig, RedisTargets};

/// What a fake node's process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeProcess {
    /// Runs and answers.
    Running,
    /// Runs but answers nothing (every command fails as if timed out).
    Hung,
    /// No process.
    Dead,
}

/// A fake node's replication role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeRole {
    /// Accepts writes.
    Primary,
    /// Follows the node on this port.
    ReplicaOf(u16),
}

/// One fake node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeNode {
    /// Listening port (how replicas name their primary).
    pub port: u16,
    /// Process state.
    pub process: FakeProcess,
    /// Replication role.
    pub role: FakeRole,
    /// Replication offset.
    pub offset: i64,
    /// Writes are paused (`CLIENT PAUSE WRITE`).
    pub paused: bool,
    /// A replica's link works; when false it keeps its offset (lagging or cut off).
    pub link: bool,
}

impl FakeNode {
    fn answers(&self) -> bool {
        self.process == FakeProcess::Running
    }
}

#[derive(Default)]
struct State {
    nodes: HashMap<String, FakeNode>,
    log: Vec<AgentRequest>,
    /// Requests left before the simulated control-plane crash; `None`: no crash.
    budget: Option<usize>,
    /// The most live primaries seen at once.
    max_primaries: usize,
    /// The restart policy each node was last given.
    policies: HashMap<String, crate::RestartPolicy>,
    /// What the endpoints and discovery keys were told.
    endpoints: FakeEndpoints,
    /// Starts still to be refused, by node key (an engine that exits at startup).
    refused_starts: HashMap<String, u32>,
}

/// The fake agent. Share it as `Arc<FakeAgent>`; it outlives the controllers that
/// use it, as nodes outlive a crashed daemon.
#[derive(Default)]
pub struct FakeAgent {
    state: Mutex<State>,
    crashed: AtomicBool,
    crash: Notify,
}

fn refused(node: &NodeRef) -> AgentError {
    AgentError::Node {
        node: format!("{}:{}", node.host, node.port),
        message: "no answer".into(),
    }
}

/// The primary port a spec's `replicaof` directive names, if any.
fn spec_role(spec: &NodeSpec) -> FakeRole {
    spec.extra_config
        .iter()
        .find(|(k, _)| k == "replicaof")
        .and_then(|(_, v)| v.split_whitespace().nth(1)?.parse().ok())
        .map_or(FakeRole::Primary, FakeRole::ReplicaOf)
}

impl FakeAgent {
    /// An agent with no nodes.
    pub fn new() -> Arc<FakeAgent> {
        Arc::new(FakeAgent::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of node `key`.
    pub fn node(&self, key: &str) -> Option<FakeNode> {
        self.state().nodes.get(key).cloned()
    }

    /// Changes node `key` (failure injection: kill, hang, lag, set offsets).
    pub fn set(&self, key: &str, change: impl FnOnce(&mut FakeNode)) {
        let mut s = self.state();
        if let Some(n) = s.nodes.get_mut(key) {
            change(n);
        }
        check(&mut s);
    }

    /// A client write of `n` bytes to node `key`: true when a live, unpaused primary took it.
    pub fn write(&self, key: &str, n: i64) -> bool {
        let mut s = self.state();
        let Some(node) = s.nodes.get_mut(key) else {
            return false;
        };
        let took = node.answers() && node.role == FakeRole::Primary && !node.paused;
        if took {
            node.offset += n;
        }
        took
    }

    /// The restart policy the node was last given.
    pub fn policy(&self, key: &str) -> Option<crate::RestartPolicy> {
        self.state().policies.get(key).cloned()
    }

    /// The last request for a group's endpoints, until they are retired.
    pub fn group_endpoints(&self, group_id: &str) -> Option<GroupEndpointSpec> {
        self.state().endpoints.groups.get(group_id).cloned()
    }

    /// Every distinct set of targets a group's endpoints were told, oldest first.
    pub fn group_routes(&self, group_id: &str) -> Vec<RedisTargets> {
        let s = self.state();
        s.endpoints
            .routes
            .get(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The last request for a cluster's configuration endpoint, until it is retired.
    pub fn config_endpoint(&self, cluster_id: &str) -> Option<ConfigEndpointSpec> {
        self.state().endpoints.configs.get(cluster_id).cloned()
    }

    /// The legacy discovery document node `key` holds.
    pub fn legacy_key(&self, key: &str) -> Option<DiscoveryConfig> {
        self.state().endpoints.legacy_keys.get(key).cloned()
    }

    /// Drops the legacy discovery document node `key` holds (an eviction).
    pub fn evict_legacy_key(&self, key: &str) {
        self.state().endpoints.legacy_keys.remove(key);
    }

    /// Sets what `InstalledEngines` answers (nothing until set).
    pub fn set_engines(&self, engines: Vec<InstalledEngine>) {
        self.state().endpoints.engines = engines;
    }

    /// Makes the next `times` starts (StartNode, RestartNode) of node `key` fail as
    /// an engine that exits at startup does; `u32::MAX` refuses every start.
    pub fn refuse_starts(&self, key: &str, times: u32) {
        self.state().refused_starts.insert(key.to_string(), times);
    }

    /// Starts of node `key` that were asked for so far.
    pub fn starts(&self, key: &str) -> usize {
        self.state()
            .log
            .iter()
            .filter(|r| match r {
                AgentRequest::StartNode(s) | AgentRequest::RestartNode(s) => s.key == key,
                _ => false,
            })
            .count()
    }

    /// Every request served so far.
    pub fn requests(&self) -> Vec<AgentRequest> {
        self.state().log.clone()
    }

    /// The most live primaries there ever were at once (a correct failover keeps 1).
    pub fn max_primaries(&self) -> usize {
        self.state().max_primaries
    }

    /// Simulates the control plane dying after `n` more requests: the next one never
    /// completes, and [`FakeAgent::crashed`] returns.
    pub fn crash_after(&self, n: usize) {
        self.crashed.store(false, Ordering::SeqCst);
        self.state().budget = Some(n);
    }

    /// Ends the simulated crash: requests are served again.
    pub fn recover(&self) {
        self.state().budget = None;
        self.crashed.store(false, Ordering::SeqCst);
    }

    /// Returns once a request ran into the simulated crash.
    pub async fn crashed(&self) {
        loop {
            let notified = self.crash.notified();
            if self.crashed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Serves one request, or `None` when the simulated crash swallows it.
    fn serve(&self, request: AgentRequest) -> Option<Result<AgentReply, AgentError>> {
        let mut s = self.state();
        match s.budget {
            Some(0) => {
                drop(s);
                self.crashed.store(true, Ordering::SeqCst);
                self.crash.notify_waiters();
                return None;
            }
            Some(n) => s.budget = Some(n - 1),
            None => {}
        }
        s.log.push(request.clone());
        catch_up(&mut s);
        let reply = apply(&mut s, request);
        check(&mut s);
        Some(reply)
    }
}

/// Replicas with a working link to a live primary have its offset.
fn catch_up(s: &mut State) {
    let primaries: HashMap<u16, i64> = s
        .nodes
        .values()
        .filter(|n| n.answers() && n.role == FakeRole::Primary)
        .map(|n| (n.port, n.offset))
        .collect();
    for n in s.nodes.values_mut().filter(|n| n.answers() && n.link) {
        if let FakeRole::ReplicaOf(p) = n.role {
            if let Some(off) = primaries.get(&p) {
                n.offset = *off;
            }
        }
    }
}

fn check(s: &mut State) {
    let live = s
        .nodes
        .values()
        .filter(|n| n.process != FakeProcess::Dead && n.role == FakeRole::Primary)
        .count();
    s.max_primaries = s.max_primaries.max(live);
}

/// Why an injected start failure failed, as the engine's log would say.
pub const REFUSED_REASON: &str = "injected: the engine refused to start";

fn start(s: &mut State, spec: &NodeSpec, fresh: bool) -> Result<AgentReply, AgentError> {
    if let Some(left) = s.refused_starts.get_mut(&spec.key).filter(|n| **n > 0) {
        if *left != u32::MAX {
            *left -= 1;
        }
        // The process came and went: whatever ran under the key is gone too.
        if let Some(n) = s.nodes.get_mut(&spec.key) {
            n.process = FakeProcess::Dead;
        }
        return Err(AgentError::Exited {
            key: spec.key.clone(),
            log: format!("fake/{}.log", spec.key).into(),
            said: REFUSED_REASON.into(),
        });
    }
    let running = s
        .nodes
        .get(&spec.key)
        .is_some_and(|n| n.process != FakeProcess::Dead);
    if fresh || !running {
        let node = FakeNode {
            port: spec.port,
            process: FakeProcess::Running,
            role: spec_role(spec),
            offset: 0,
            paused: false,
            link: true,
        };
        s.nodes.insert(spec.key.clone(), node);
    }
    Ok(AgentReply::Pid(u32::from(spec.port)))
}

/// Node `node` when it answers commands.
fn node_mut<'a>(s: &'a mut State, node: &NodeRef) -> Result<&'a mut FakeNode, AgentError> {
    match s.nodes.get_mut(&node.key) {
        Some(n) if n.answers() => Ok(n),
        _ => Err(refused(node)),
    }
}

fn apply(s: &mut State, request: AgentRequest) -> Result<AgentReply, AgentError> {
    use AgentReply::{Done, Flag};
    match request {
        AgentRequest::StartNode(spec) => start(s, &spec, false),
        AgentRequest::RestartNode(spec) => start(s, &spec, true),
        AgentRequest::WaitReady { spec, .. } => match s.nodes.get(&spec.key) {
            Some(n) if n.answers() => Ok(Done),
            _ => Err(AgentError::NotReady {
                key: spec.key,
                waited: std::time::Duration::ZERO,
            }),
        },
        AgentRequest::Supervise { key, policy } => {
            s.policies.insert(key, policy);
            Ok(Done)
        }
        AgentRequest::StopNode { key } | AgentRequest::Fence { key } => {
            s.policies.insert(key.clone(), crate::RestartPolicy::Leave);
            if let Some(n) = s.nodes.get_mut(&key) {
                n.process = FakeProcess::Dead;
            }
            Ok(Done)
        }
        AgentRequest::RemoveData { key } => {
            if s.nodes
                .get(&key)
                .is_some_and(|n| n.process == FakeProcess::Dead)
            {
                s.nodes.remove(&key);
            }
            Ok(Done)
        }
        AgentRequest::PortFree { port, .. } => Ok(Flag(
            !s.nodes
                .values()
                .any(|n| n.port == port && n.process != FakeProcess::Dead),
        )),
        AgentRequest::Ping { node, .. } => Ok(Flag(node_mut(s, &node).is_ok())),
        AgentRequest::PingNodes { nodes, .. } => Ok(AgentReply::Flags(
            nodes.iter().map(|n| node_mut(s, n).is_ok()).collect(),
        )),
        AgentRequest::ReplicationInfo { node } => {
            let host = node.host.clone();
            let n = node_mut(s, &node)?.clone();
            // One fake host: every replica is at the address the caller named.
            let online_replicas: Vec<HostPort> = s
                .nodes
                .values()
                .filter(|r| r.answers() && r.link && r.role == FakeRole::ReplicaOf(n.port))
                .map(|r| HostPort {
                    host: host.clone(),
                    port: r.port,
                })
                .collect();
            let info = match n.role {
                FakeRole::Primary => ReplicationInfo {
                    role: ReplicationRole::Primary,
                    offset: n.offset,
                    primary: None,
                    link_up: false,
                    sync_in_progress: true,
                    online_replicas: online_replicas.clone(),
                },
                FakeRole::ReplicaOf(port) => ReplicationInfo {
                    role: ReplicationRole::Replica,
                    offset: n.offset,
                    primary: Some(HostPort { host, port }),
                    link_up: n.link,
                    sync_in_progress: !n.link,
                    online_replicas,
                },
            };
            Ok(AgentReply::Replication(info))
        }
        AgentRequest::Replication { node, change } => {
            let n = node_mut(s, &node)?;
            match change {
                ReplicationChange::Attach { primary } => n.role = FakeRole::ReplicaOf(primary.port),
                ReplicationChange::AttachSource { source } => {
                    n.role = FakeRole::ReplicaOf(source.port)
                }
                ReplicationChange::Promote => n.role = FakeRole::Primary,
                ReplicationChange::PauseWrites { .. } => n.paused = true,
                ReplicationChange::Unpause => n.paused = false,
            }
            Ok(Done)
        }
        AgentRequest::StreamingReplicas { node, .. } => {
            let port = node_mut(s, &node)?.port;
            let streaming = s
                .nodes
                .values()
                .filter(|r| r.answers() && r.link && r.role == FakeRole::ReplicaOf(port))
                .count();
            Ok(AgentReply::Count(streaming))
        }
        AgentRequest::ConfigSet { node, .. } => node_mut(s, &node).map(|_| Done),
        AgentRequest::ProbeSource { source, .. } => {
            let answers = s
                .nodes
                .values()
                .any(|n| n.port == source.port && n.answers());
            Ok(endpoints::source_check(answers))
        }
        AgentRequest::LegacyDiscoveryKeys { keys } => {
            let mut flags = Vec::new();
            for (node, config) in keys {
                let one = AgentRequest::LegacyDiscoveryKey { node, config };
                let written = apply(s, one).is_ok_and(|r| r == Flag(true));
                flags.push(written);
            }
            Ok(AgentReply::Flags(flags))
        }
        AgentRequest::LegacyDiscoveryKey { ref node, .. } => {
            node_mut(s, node)?;
            Ok(s.endpoints.apply(&request).expect("an endpoint request"))
        }
        AgentRequest::GroupEndpoints(_)
        | AgentRequest::RetireGroupEndpoints { .. }
        | AgentRequest::ConfigEndpoint(_)
        | AgentRequest::RetireConfigEndpoint { .. }
        | AgentRequest::RetainEndpoints { .. }
        | AgentRequest::InstalledEngines => {
            Ok(s.endpoints.apply(&request).expect("an endpoint request"))
        }
    }
}

impl NodeAgent for FakeAgent {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        let reply = self.serve(request);
        Box::pin(async move {
            match reply {
                Some(reply) => reply,
                // The control plane "died" here: whatever awaits this never resumes.
                None => std::future::pending().await,
            }
        })
    }

    fn is_running(&self, key: &str) -> bool {
        self.state()
            .nodes
            .get(key)
            .is_some_and(|n| n.process != FakeProcess::Dead)
    }
}
