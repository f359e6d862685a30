//! An in-memory agent for unit tests of the control plane: nodes are records (role,
//! offset, process state, write pause) that answer the agent interface the way a
//! real node would, with failures injected by the test. It also watches the one
//! invariant failover must keep, that no two live nodes are primaries at once.
//! Endpoints are records too (see `endpoints`): what each was told, in order.

mod endpoints;
mod host;

pub use host::FakeHost;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::interface::{
    AgentFuture, AgentReply, AgentRequest, HostPort, NodeAgent, NodeRef, ReplicationChange,
    ReplicationInfo, ReplicationRole, SnapshotChunk, SnapshotSave, StagedRestore,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeRole {
    /// Accepts writes.
    Primary,
    /// Follows the node at this address (host and port: on several hosts, nodes
    /// share port numbers).
    ReplicaOf(HostPort),
}

/// One fake node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeNode {
    /// The address it is reached at (its spec's bind address, as a client dials it).
    pub host: String,
    /// Listening port (with `host`, how replicas name their primary).
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
    /// Configuration parameters as `CONFIG GET` would answer them: the spec's
    /// directives and memory limit at the start, then every `CONFIG SET`.
    pub config: std::collections::BTreeMap<String, String>,
    /// What `INFO memory` reports as `used_memory`; tests set it.
    pub used_memory: u64,
    /// The process id: a new one on every (re)start.
    pub pid: u32,
    /// The engine version it was started with (its spec's).
    pub engine_version: Option<String>,
}

impl FakeNode {
    fn answers(&self) -> bool {
        self.process == FakeProcess::Running
    }

    /// Where replicas name it.
    pub fn at(&self) -> HostPort {
        HostPort {
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// Whether it follows `primary` over a working link.
    fn streams_from(&self, primary: &HostPort) -> bool {
        self.answers() && self.link && self.role == FakeRole::ReplicaOf(primary.clone())
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
    /// Host addresses whose nodes the other hosts cannot reach (see [`FakeHost`]).
    isolated: std::collections::HashSet<String>,
    /// Saved snapshot files, by (snapshot, node key).
    snapshot_files: HashMap<(String, String), Vec<u8>>,
    /// Restore files staged so far, by node key.
    staged: HashMap<String, Vec<u8>>,
    /// Saves still to answer `Pending`, by node key (a node saving a large dataset).
    slow_saves: HashMap<String, u32>,
    /// `CONFIG SET`s still to refuse, by node key.
    refused_config_sets: HashMap<String, u32>,
    /// The last process id handed out.
    last_pid: u32,
    /// The agent pushes no replication state (an agent from before it did).
    pushes_no_replication: bool,
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

/// The primary a spec's `replicaof` directive names, if any.
fn spec_role(spec: &NodeSpec) -> FakeRole {
    spec.extra_config
        .iter()
        .find(|(k, _)| k == "replicaof")
        .and_then(|(_, v)| {
            let mut words = v.split_whitespace();
            let host = words.next()?.to_string();
            let port = words.next()?.parse().ok()?;
            Some(HostPort { host, port })
        })
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

    /// The keys of the nodes whose process exists.
    pub(crate) fn running_keys(&self) -> std::collections::HashSet<String> {
        let s = self.state();
        s.nodes
            .iter()
            .filter(|(_, n)| n.process != FakeProcess::Dead)
            .map(|(k, _)| k.clone())
            .collect()
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

    /// Makes the next `times` `CONFIG SET`s on node `key` fail as a node that
    /// rejects the value does; `u32::MAX` refuses every one.
    pub fn refuse_config_sets(&self, key: &str, times: u32) {
        self.state()
            .refused_config_sets
            .insert(key.to_string(), times);
    }

    /// Whether the agent pushes its nodes' replication state with its observations
    /// (it does unless told otherwise: an older agent does not). The pushed state
    /// is always current, as the real agent's is for everything the control plane
    /// changed itself.
    pub fn push_replication(&self, on: bool) {
        self.state().pushes_no_replication = !on;
    }

    /// Makes the next `times` saves of node `key` answer that the node is still saving.
    pub fn slow_saves(&self, key: &str, times: u32) {
        self.state().slow_saves.insert(key.to_string(), times);
    }

    /// The file node `key` saved for `snapshot`, while the agent keeps it.
    pub fn snapshot_file(&self, snapshot: &str, key: &str) -> Option<Vec<u8>> {
        let s = self.state();
        s.snapshot_files
            .get(&(snapshot.to_string(), key.to_string()))
            .cloned()
    }

    /// The restore file staged for node `key` so far.
    pub fn staged_restore(&self, key: &str) -> Option<Vec<u8>> {
        self.state().staged.get(key).cloned()
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

/// What `INFO replication` on node `n` says.
fn replication_info(s: &State, n: &FakeNode) -> ReplicationInfo {
    let online_replicas: Vec<HostPort> = s
        .nodes
        .values()
        .filter(|r| r.streams_from(&n.at()))
        .map(FakeNode::at)
        .collect();
    match &n.role {
        FakeRole::Primary => ReplicationInfo {
            role: ReplicationRole::Primary,
            offset: n.offset,
            primary: None,
            link_up: false,
            sync_in_progress: true,
            online_replicas,
        },
        FakeRole::ReplicaOf(primary) => ReplicationInfo {
            role: ReplicationRole::Replica,
            offset: n.offset,
            primary: Some(primary.clone()),
            link_up: n.link,
            sync_in_progress: !n.link,
            online_replicas,
        },
    }
}

/// Replicas with a working link to a live primary have its offset.
fn catch_up(s: &mut State) {
    let primaries: HashMap<HostPort, i64> = s
        .nodes
        .values()
        .filter(|n| n.answers() && n.role == FakeRole::Primary)
        .map(|n| (n.at(), n.offset))
        .collect();
    for n in s.nodes.values_mut().filter(|n| n.answers() && n.link) {
        if let FakeRole::ReplicaOf(p) = &n.role {
            if let Some(off) = primaries.get(p) {
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

/// A fake node's saved dataset: large enough to need several chunks, and naming the
/// node and its offset, so a test can tell whose data a snapshot holds.
pub fn fake_rdb(key: &str, offset: i64) -> Vec<u8> {
    let head = format!("REDIS0010 fake dataset of {key} at offset {offset}\n");
    let mut file = head.into_bytes();
    file.resize(crate::SNAPSHOT_CHUNK_MAX as usize * 2 + 1000, b'.');
    file
}

/// The offset a [`fake_rdb`] file names.
fn fake_rdb_offset(file: &[u8]) -> i64 {
    let head = String::from_utf8_lossy(&file[..file.len().min(200)]);
    head.split("at offset ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
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
        // A node started from its own saved file has that file's data (its offset).
        let offset = match &spec.initial_data {
            crate::InitialData::Saved { snapshot, expect } => {
                let file = s
                    .snapshot_files
                    .get(&(snapshot.clone(), spec.key.clone()))
                    .filter(|f| sha256_hex(f) == expect.sha256 && f.len() as u64 == expect.size)
                    .ok_or_else(|| {
                        AgentError::Remote(format!("no saved file {snapshot} of {}", spec.key))
                    })?;
                fake_rdb_offset(file)
            }
            _ => 0,
        };
        s.last_pid += 1;
        let pid = s.last_pid;
        let node = FakeNode {
            host: spec.connect_host().to_string(),
            port: spec.port,
            process: FakeProcess::Running,
            role: spec_role(spec),
            offset,
            paused: false,
            link: true,
            config: spec_config(spec),
            used_memory: 1 << 20,
            pid,
            engine_version: spec.engine_version.clone(),
        };
        s.nodes.insert(spec.key.clone(), node);
    }
    Ok(AgentReply::Pid(s.nodes[&spec.key].pid))
}

/// What a node started from `spec` answers to `CONFIG GET`.
fn spec_config(spec: &NodeSpec) -> std::collections::BTreeMap<String, String> {
    let mut config: std::collections::BTreeMap<_, _> = spec.extra_config.iter().cloned().collect();
    config.insert("maxmemory".into(), spec.maxmemory_bytes.to_string());
    config
}

/// Why an injected `CONFIG SET` failure failed, as a node would say.
pub const REFUSED_CONFIG: &str = "injected: the node refused the value";

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
        AgentRequest::PortFree { bind, port } => Ok(Flag(!s.nodes.values().any(|n| {
            n.host == crate::connect_host(&bind) && n.port == port && n.process != FakeProcess::Dead
        }))),
        AgentRequest::Ping { node, .. } => Ok(Flag(node_mut(s, &node).is_ok())),
        AgentRequest::PingNodes { nodes, .. } => Ok(AgentReply::Flags(
            nodes.iter().map(|n| node_mut(s, n).is_ok()).collect(),
        )),
        AgentRequest::NodePid { key } => Ok(AgentReply::MaybePid(
            s.nodes
                .get(&key)
                .filter(|n| n.process != FakeProcess::Dead)
                .map(|n| n.pid),
        )),
        AgentRequest::UsedMemory { node } => {
            Ok(AgentReply::Count(node_mut(s, &node)?.used_memory as usize))
        }
        AgentRequest::ReplicationInfo { node } => {
            let n = node_mut(s, &node)?.clone();
            Ok(AgentReply::Replication(replication_info(s, &n)))
        }
        AgentRequest::Replication { node, change } => {
            let n = node_mut(s, &node)?;
            match change {
                ReplicationChange::Attach { primary } => n.role = FakeRole::ReplicaOf(primary),
                ReplicationChange::AttachSource { source } => n.role = FakeRole::ReplicaOf(source),
                ReplicationChange::Promote => n.role = FakeRole::Primary,
                ReplicationChange::PauseWrites { .. } => n.paused = true,
                ReplicationChange::Unpause => n.paused = false,
            }
            Ok(Done)
        }
        AgentRequest::StreamingReplicas { node, .. } => {
            let at = node_mut(s, &node)?.at();
            let streaming = s.nodes.values().filter(|r| r.streams_from(&at)).count();
            Ok(AgentReply::Count(streaming))
        }
        AgentRequest::ConfigSet { node, name, value } => {
            if let Some(left) = s.refused_config_sets.get_mut(&node.key).filter(|n| **n > 0) {
                if *left != u32::MAX {
                    *left -= 1;
                }
                return Err(AgentError::Node {
                    node: format!("{}:{}", node.host, node.port),
                    message: REFUSED_CONFIG.into(),
                });
            }
            node_mut(s, &node)?.config.insert(name, value);
            Ok(Done)
        }
        AgentRequest::ConfigGet { node, name } => {
            let n = node_mut(s, &node)?;
            Ok(AgentReply::Value(n.config.get(&name).cloned()))
        }
        AgentRequest::ProbeSource { source, .. } => {
            let answers = s.nodes.values().any(|n| n.at() == source && n.answers());
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
        AgentRequest::SaveSnapshot { node, snapshot, .. } => {
            let offset = node_mut(s, &node)?.offset;
            if let Some(left) = s.slow_saves.get_mut(&node.key).filter(|n| **n > 0) {
                *left -= 1;
                return Ok(AgentReply::SnapshotSave(SnapshotSave::Pending));
            }
            let file = s
                .snapshot_files
                .entry((snapshot, node.key.clone()))
                .or_insert_with(|| fake_rdb(&node.key, offset));
            Ok(AgentReply::SnapshotSave(SnapshotSave::Saved(
                larder_model::SnapshotFile {
                    size: file.len() as u64,
                    sha256: sha256_hex(file),
                },
            )))
        }
        AgentRequest::ReadSnapshot {
            snapshot,
            key,
            offset,
            len,
        } => {
            let Some(file) = s.snapshot_files.get(&(snapshot, key.clone())) else {
                return Err(AgentError::Remote(format!("no snapshot file of {key}")));
            };
            let start = (offset as usize).min(file.len());
            let end = (start + len.min(crate::SNAPSHOT_CHUNK_MAX) as usize).min(file.len());
            Ok(AgentReply::SnapshotChunk(SnapshotChunk {
                hex: hex::encode(&file[start..end]),
                eof: end == file.len(),
            }))
        }
        AgentRequest::StageRestore {
            key,
            offset,
            hex,
            expect,
        } => {
            let staged = s.staged.entry(key.clone()).or_default();
            if offset == staged.len() as u64 && !hex.is_empty() {
                let bytes = hex::decode(&hex).map_err(|e| AgentError::Remote(e.to_string()))?;
                staged.extend_from_slice(&bytes);
            }
            let have = staged.len() as u64;
            if have < expect.size {
                return Ok(AgentReply::Staged(StagedRestore { have, path: None }));
            }
            if sha256_hex(staged) != expect.sha256 || have != expect.size {
                s.staged.remove(&key);
                return Err(AgentError::Remote(format!(
                    "restore file of {key} does not match"
                )));
            }
            Ok(AgentReply::Staged(StagedRestore {
                have,
                path: Some(format!("fake/{key}/restore.staged").into()),
            }))
        }
        AgentRequest::DiscardSnapshot { snapshot } => {
            s.snapshot_files.retain(|(name, _), _| *name != snapshot);
            Ok(Done)
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

impl FakeAgent {
    /// Serves `request` as the agent of host `origin` (`None`: the control plane's
    /// own) would: a probe of a node on a host cut off from the others gets no
    /// answer unless it comes from that host.
    fn call_from(&self, origin: Option<&str>, request: AgentRequest) -> AgentFuture<'_> {
        let isolated = self.state().isolated.clone();
        let cut_off = |n: &NodeRef| isolated.contains(&n.host) && origin != Some(n.host.as_str());
        // Probes of nodes out of the caller's reach get no answer, one or many.
        let cut: Vec<bool> = match &request {
            AgentRequest::Ping { node, .. } if cut_off(node) => {
                return Box::pin(async { Ok(AgentReply::Flag(false)) });
            }
            AgentRequest::PingNodes { nodes, .. } => nodes.iter().map(cut_off).collect(),
            _ => Vec::new(),
        };
        let mut reply = self.serve(request);
        if let Some(Ok(AgentReply::Flags(flags))) = &mut reply {
            for (up, cut) in flags.iter_mut().zip(cut) {
                *up &= !cut;
            }
        }
        Box::pin(async move {
            match reply {
                Some(reply) => reply,
                // The control plane "died" here: whatever awaits this never resumes.
                None => std::future::pending().await,
            }
        })
    }
}

impl NodeAgent for FakeAgent {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        self.call_from(None, request)
    }

    fn is_running(&self, key: &str) -> bool {
        self.state()
            .nodes
            .get(key)
            .is_some_and(|n| n.process != FakeProcess::Dead)
    }

    fn replication_view(&self, key: &str) -> Option<crate::ReplicationView> {
        let s = self.state();
        if s.pushes_no_replication {
            return None;
        }
        // A node that does not answer is not known, as the real agent's reads find.
        let n = s.nodes.get(key).filter(|n| n.answers())?;
        Some(crate::ReplicationView::from(&replication_info(&s, n)))
    }
}
