//! The agent keeps its nodes alive on its own: it remembers each node's spec and
//! what the control plane said to do if the process dies, across its own restarts,
//! and acts on a death even while no control plane is reachable.
//!
//! The control plane decides the policy because only it knows a node's place in its
//! group: a group primary with replicas is `Leave` (restarting it empty would make
//! its replicas drop their copy; the control plane fails over instead), a replica is
//! `RestartAsReplica` of its primary, a lone node is `Restart` (it comes back empty,
//! as an ElastiCache node replacement does). A node the agent has not been told
//! about, a fenced node and a stopped node are `Leave`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::interface::{HostPort, NodeRef};
use crate::observe::{Observation, Observer};
use crate::{AgentError, LocalAgent, NodeSpec};

/// The file in a node's directory that holds its [`NodeRecord`].
const RECORD_FILE: &str = "larder-node.json";
/// How long a restarted node may take to answer before the attempt counts as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff between restart attempts of one node: first, and the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Attempts before the agent leaves a node that keeps dying to the control plane.
const MAX_ATTEMPTS: u32 = 8;
/// A control plane that sent anything this recently is in charge of recoveries (it
/// restarts nodes itself, with its events); the agent acts only when it is gone.
/// Its long poll asks again at least every second, so this is several missed polls.
pub const CONTACT_GRACE: Duration = Duration::from_secs(5);
/// How often a pending recovery looks again while a control plane is in charge.
const DEFER_POLL: Duration = Duration::from_millis(500);

/// What the agent does when a node's process dies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// Nothing: the control plane decides (failover, replacement, or nothing at all).
    #[default]
    Leave,
    /// Start it again from its spec (an empty dataset).
    Restart,
    /// Start it again and attach it to this primary.
    RestartAsReplica {
        /// The primary to follow.
        primary: HostPort,
    },
}

/// What the agent remembers about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    pub spec: NodeSpec,
    pub policy: RestartPolicy,
}

/// The agent's memory of its nodes and the state of their watchers.
#[derive(Debug)]
pub(crate) struct Supervision {
    records: Mutex<HashMap<String, NodeRecord>>,
    /// The pid each node's exit watcher waits on.
    watched: Mutex<HashMap<String, u32>>,
    /// Nodes a lifecycle request is changing right now; their exits are its business.
    busy: Mutex<HashMap<String, usize>>,
    /// Nodes a restart task is working on.
    recovering: Mutex<HashSet<String>>,
    /// When a control plane last sent a request.
    last_contact: Mutex<Option<std::time::Instant>>,
    pub observer: Observer,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Supervision {
    /// Loads every node record found under `root`.
    pub(crate) fn load(root: &Path) -> Supervision {
        let mut records = HashMap::new();
        if let Ok(dirs) = std::fs::read_dir(root) {
            for dir in dirs.flatten() {
                let path = dir.path().join(RECORD_FILE);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                match serde_json::from_str::<NodeRecord>(&text) {
                    Ok(r) => {
                        records.insert(r.spec.key.clone(), r);
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "unreadable node record ignored")
                    }
                }
            }
        }
        Supervision {
            records: Mutex::new(records),
            watched: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashMap::new()),
            recovering: Mutex::new(HashSet::new()),
            last_contact: Mutex::new(None),
            observer: Observer::new(),
        }
    }
}

/// Marks a node busy while a lifecycle request runs; released on drop.
pub(crate) struct Busy<'a> {
    agent: &'a LocalAgent,
    key: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut busy = lock(&self.agent.supervision().busy);
        if let Some(n) = busy.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.key);
            }
        }
    }
}

impl LocalAgent {
    /// Every later [`Observation`] of this agent's nodes.
    pub fn observations(&self) -> tokio::sync::watch::Receiver<Observation> {
        self.supervision().observer.subscribe()
    }

    /// Recomputes which known nodes run and publishes it if it changed.
    pub(crate) fn refresh_observation(&self) {
        let keys: Vec<String> = lock(&self.supervision().records).keys().cloned().collect();
        let running: BTreeSet<String> = keys.into_iter().filter(|k| self.is_running(k)).collect();
        self.supervision().observer.publish(running);
    }

    /// The redis nodes this agent knows whose process runs (as last observed), as
    /// the agent dials them.
    pub(crate) fn redis_nodes(&self) -> Vec<NodeRef> {
        let running = self.supervision().observer.running();
        lock(&self.supervision().records)
            .values()
            .filter(|r| r.spec.engine.is_redis_like() && running.contains(&r.spec.key))
            .map(|r| NodeRef {
                key: r.spec.key.clone(),
                host: r.spec.connect_host().to_string(),
                port: r.spec.port,
            })
            .collect()
    }

    /// Notes that a control plane is talking to this agent.
    pub fn control_plane_contact(&self) {
        *lock(&self.supervision().last_contact) = Some(std::time::Instant::now());
    }

    /// Whether a control plane sent something within [`CONTACT_GRACE`].
    pub fn control_plane_present(&self) -> bool {
        lock(&self.supervision().last_contact).is_some_and(|t| t.elapsed() < CONTACT_GRACE)
    }

    pub(crate) fn busy(&self, key: &str) -> Busy<'_> {
        *lock(&self.supervision().busy)
            .entry(key.to_string())
            .or_insert(0) += 1;
        Busy {
            agent: self,
            key: key.to_string(),
        }
    }

    fn is_busy(&self, key: &str) -> bool {
        lock(&self.supervision().busy).contains_key(key)
    }

    /// Records the spec the control plane asked for, keeping the node's policy.
    pub(crate) fn remember(&self, spec: &NodeSpec) -> Result<(), AgentError> {
        // A restart by the agent starts empty, as the policy says: the file a restore
        // or an upgrade loaded once must never be loaded again by accident (it would
        // bring back data from before every later write).
        let spec = &NodeSpec {
            initial_data: crate::InitialData::Empty,
            ..spec.clone()
        };
        let record = {
            let mut records = lock(&self.supervision().records);
            let policy = records
                .get(&spec.key)
                .map(|r| r.policy.clone())
                .unwrap_or_default();
            let record = NodeRecord {
                spec: spec.clone(),
                policy,
            };
            if records.get(&spec.key) == Some(&record) {
                return Ok(());
            }
            records.insert(spec.key.clone(), record.clone());
            record
        };
        self.save_record(&record)
    }

    /// Sets what happens when the node dies; an unknown node is an error.
    pub(crate) fn set_policy(&self, key: &str, policy: RestartPolicy) -> Result<(), AgentError> {
        let record = {
            let mut records = lock(&self.supervision().records);
            let Some(r) = records.get_mut(key) else {
                return Err(AgentError::UnknownNode(key.to_string()));
            };
            if r.policy == policy {
                return Ok(());
            }
            r.policy = policy;
            r.clone()
        };
        self.save_record(&record)
    }

    /// `Leave` for a node about to be stopped or fenced, if the agent knows it.
    pub(crate) fn leave(&self, key: &str) -> Result<(), AgentError> {
        match self.set_policy(key, RestartPolicy::Leave) {
            Err(AgentError::UnknownNode(_)) => Ok(()),
            other => other,
        }
    }

    /// Forgets a node whose data is being removed.
    pub(crate) fn forget(&self, key: &str) {
        lock(&self.supervision().records).remove(key);
        lock(&self.supervision().watched).remove(key);
    }

    fn save_record(&self, record: &NodeRecord) -> Result<(), AgentError> {
        let dir = self.node_dir(&record.spec.key);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
        let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(RECORD_FILE))?;
        Ok(())
    }

    /// Watches `pid`, the process of node `key`, for its exit.
    pub(crate) fn watch(&self, key: &str, pid: u32) {
        {
            let mut watched = lock(&self.supervision().watched);
            if watched.get(key) == Some(&pid) {
                return;
            }
            watched.insert(key.to_string(), pid);
        }
        let agent = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            crate::pidfd::exited(pid).await;
            agent.on_exit(&key, pid);
        });
    }

    fn on_exit(&self, key: &str, pid: u32) {
        // Reap it if it is our child, so the observation does not see a zombie.
        let _ = self.pid(key);
        self.refresh_observation();
        self.forget_replication(key);
        {
            let mut watched = lock(&self.supervision().watched);
            if watched.get(key) != Some(&pid) {
                return; // an older process of a node that has been started again
            }
            watched.remove(key);
        }
        if self.is_busy(key) {
            return;
        }
        tracing::warn!(node = %key, pid, "node process exited");
        self.spawn_recovery(key);
    }

    fn record(&self, key: &str) -> Option<NodeRecord> {
        lock(&self.supervision().records).get(key).cloned()
    }

    fn spawn_recovery(&self, key: &str) {
        let wants = self
            .record(key)
            .is_some_and(|r| r.policy != RestartPolicy::Leave);
        if !wants || !lock(&self.supervision().recovering).insert(key.to_string()) {
            return;
        }
        let agent = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            agent.recover(&key).await;
            lock(&agent.supervision().recovering).remove(&key);
        });
    }

    /// Restarts a dead node as its policy says, with backoff, until it runs, the
    /// policy becomes `Leave`, or a lifecycle request takes over.
    async fn recover(&self, key: &str) {
        let mut delay = BACKOFF_FIRST;
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS {
            tokio::time::sleep(delay).await;
            let Some(record) = self.record(key) else {
                return;
            };
            if record.policy == RestartPolicy::Leave || self.is_busy(key) || self.is_running(key) {
                return;
            }
            if self.control_plane_present() {
                // Its own recovery (with its events) is on the way; look again later
                // in case it goes away first.
                delay = DEFER_POLL;
                continue;
            }
            attempt += 1;
            match self.restart_from(&record).await {
                Ok(pid) => {
                    tracing::info!(node = %key, pid, attempt, "node restarted by its agent (no control plane in contact)");
                    return;
                }
                Err(e) => {
                    tracing::warn!(node = %key, attempt, error = %e, "agent restart failed; will retry")
                }
            }
            delay = (BACKOFF_FIRST * 2u32.pow(attempt)).min(BACKOFF_CAP);
        }
        tracing::error!(node = %key, "node keeps failing; left to the control plane");
    }

    async fn restart_from(&self, record: &NodeRecord) -> Result<u32, AgentError> {
        let spec = &record.spec;
        let _busy = self.busy(&spec.key);
        let pid = self.ensure_started(spec).await?;
        self.watch(&spec.key, pid);
        self.refresh_observation();
        self.forget_replication(&spec.key);
        self.wait_ready(spec, READY_TIMEOUT).await?;
        if let RestartPolicy::RestartAsReplica { primary } = &record.policy {
            let node = NodeRef {
                key: spec.key.clone(),
                host: spec.connect_host().to_string(),
                port: spec.port,
            };
            let addr = self.node_addr(&node);
            crate::redis_ops::replicaof(&addr, Some((&primary.host, primary.port)))
                .await
                .map_err(|e| AgentError::Node {
                    node: addr.to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(pid)
    }

    /// At agent start: watch every remembered node that still runs, and restart
    /// those that died while no agent was there, as their policy says.
    pub async fn resume(&self) {
        let keys: Vec<String> = lock(&self.supervision().records).keys().cloned().collect();
        for key in keys {
            match self.pid(&key) {
                Some(pid) => self.watch(&key, pid),
                None => self.spawn_recovery(&key),
            }
        }
        self.refresh_observation();
    }
}

impl LocalAgent {
    /// Stops every node this agent knows, in parallel, and leaves them stopped.
    pub async fn stop_all(&self) {
        let keys: Vec<String> = lock(&self.supervision().records).keys().cloned().collect();
        let mut stops = tokio::task::JoinSet::new();
        for key in keys {
            let agent = self.clone();
            stops.spawn(async move {
                let _busy = agent.busy(&key);
                let _ = agent.leave(&key);
                if let Err(e) = agent.stop(&key).await {
                    tracing::warn!(node = %key, error = %e, "stop failed");
                }
            });
        }
        while stops.join_next().await.is_some() {}
        self.refresh_observation();
    }
}
