//! The endpoints an agent serves: each replication group's primary and reader
//! endpoints and each memcached cluster's configuration endpoint, created, re-routed
//! and retired on request. The last request for every endpoint is kept in a state
//! file in the agent's directory, so an agent that restarts serves the last routes
//! it was told before any control plane talks to it again.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use larder_endpoints::{ConfigEndpoint, EndpointRole, RedisEndpoint};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{AgentError, ConfigEndpointSpec, GroupEndpointSpec};

/// The state file's name in the agent's directory.
const STATE_FILE: &str = "endpoints.json";

/// What the state file holds: the last request for every endpoint not retired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct EndpointState {
    groups: BTreeMap<String, GroupEndpointSpec>,
    configs: BTreeMap<String, ConfigEndpointSpec>,
}

/// A group's two running listeners.
struct RunningGroup {
    spec: GroupEndpointSpec,
    primary: RedisEndpoint,
    reader: RedisEndpoint,
}

/// A cluster's running configuration endpoint.
struct RunningConfig {
    spec: ConfigEndpointSpec,
    endpoint: ConfigEndpoint,
}

#[derive(Default)]
struct Served {
    groups: HashMap<String, RunningGroup>,
    configs: HashMap<String, RunningConfig>,
    /// When each endpoint (by group or cluster id) was last asked for; restored
    /// ones were never asked for by this agent.
    asked: HashMap<String, std::time::Instant>,
    /// What the state file holds now.
    saved: EndpointState,
}

/// The endpoints of one agent and their state file.
pub(crate) struct EndpointHost {
    state_file: PathBuf,
    // One lock for listeners and file alike, so the file never lags a later request.
    served: Mutex<Served>,
}

impl std::fmt::Debug for EndpointHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointHost")
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

async fn start_group(spec: &GroupEndpointSpec) -> Result<RunningGroup, AgentError> {
    let start = |port, role| {
        RedisEndpoint::start_with(&spec.bind, port, role, spec.targets.clone(), spec.options)
    };
    let primary = start(spec.primary_port, EndpointRole::Primary).await?;
    // A reader that cannot bind drops the primary, which closes it again.
    let reader = start(spec.reader_port, EndpointRole::Reader).await?;
    tracing::info!(replication_group_id = %spec.group_id, primary_port = spec.primary_port, reader_port = spec.reader_port, "endpoints listening");
    Ok(RunningGroup {
        spec: spec.clone(),
        primary,
        reader,
    })
}

async fn start_config(spec: &ConfigEndpointSpec) -> Result<RunningConfig, AgentError> {
    let endpoint =
        ConfigEndpoint::start_with(&spec.bind, spec.port, spec.config.clone(), spec.limits).await?;
    tracing::info!(cache_cluster_id = %spec.cluster_id, port = spec.port, "configuration endpoint listening");
    Ok(RunningConfig {
        spec: spec.clone(),
        endpoint,
    })
}

impl EndpointHost {
    /// Endpoints whose state lives in `dir`; nothing runs until asked or restored.
    pub(crate) fn new(dir: &Path) -> EndpointHost {
        EndpointHost {
            state_file: dir.join(STATE_FILE),
            served: Mutex::new(Served::default()),
        }
    }

    /// Starts the group's endpoints, or re-routes them when they already listen.
    pub(crate) async fn group(&self, spec: GroupEndpointSpec) -> Result<(), AgentError> {
        let mut served = self.served.lock().await;
        let id = spec.group_id.clone();
        served.asked.insert(id.clone(), std::time::Instant::now());
        match served.groups.get_mut(&id) {
            Some(running) if running.spec.same_listeners(&spec) => {
                // The endpoints skip unchanged targets, so a repeated request is free.
                running.primary.update(spec.targets.clone());
                running.reader.update(spec.targets.clone());
                running.spec = spec.clone();
            }
            _ => {
                // Other ports or options: the old listeners go first, so the ports are free.
                served.groups.remove(&id);
                let running = start_group(&spec).await?;
                served.groups.insert(id.clone(), running);
            }
        }
        if served.saved.groups.get(&id) == Some(&spec) {
            // Already saved: no copy of the whole state to find that out.
            return Ok(());
        }
        let mut next = served.saved.clone();
        next.groups.insert(id, spec);
        self.save(&mut served, next)
    }

    /// Stops the group's endpoints and forgets them.
    pub(crate) async fn retire_group(&self, group_id: &str) -> Result<(), AgentError> {
        let mut served = self.served.lock().await;
        if served.groups.remove(group_id).is_some() {
            tracing::info!(replication_group_id = %group_id, "endpoints retired");
        }
        let mut next = served.saved.clone();
        next.groups.remove(group_id);
        self.save(&mut served, next)
    }

    /// Starts the cluster's configuration endpoint, or publishes the new config on it.
    pub(crate) async fn config(&self, spec: ConfigEndpointSpec) -> Result<(), AgentError> {
        let mut served = self.served.lock().await;
        let id = spec.cluster_id.clone();
        served.asked.insert(id.clone(), std::time::Instant::now());
        match served.configs.get_mut(&id) {
            Some(running) if running.spec.same_listener(&spec) => {
                if running.spec.config != spec.config {
                    running.endpoint.update(spec.config.clone());
                }
                running.spec = spec.clone();
            }
            _ => {
                served.configs.remove(&id);
                let running = start_config(&spec).await?;
                served.configs.insert(id.clone(), running);
            }
        }
        if served.saved.configs.get(&id) == Some(&spec) {
            // Already saved: no copy of the whole state to find that out.
            return Ok(());
        }
        let mut next = served.saved.clone();
        next.configs.insert(id, spec);
        self.save(&mut served, next)
    }

    /// Stops the cluster's configuration endpoint and forgets it.
    pub(crate) async fn retire_config(&self, cluster_id: &str) -> Result<(), AgentError> {
        let mut served = self.served.lock().await;
        if served.configs.remove(cluster_id).is_some() {
            tracing::info!(cache_cluster_id = %cluster_id, "configuration endpoint retired");
        }
        let mut next = served.saved.clone();
        next.configs.remove(cluster_id);
        self.save(&mut served, next)
    }

    /// Retires every endpoint whose group or cluster is not named and that was not
    /// asked for within `grace`: what this host kept of a deletion it missed (it was
    /// out of reach, or restored an old state file). The grace keeps an endpoint
    /// asked for after the caller made its list.
    pub(crate) async fn retain(
        &self,
        group_ids: &[String],
        cluster_ids: &[String],
        grace: std::time::Duration,
    ) -> Result<usize, AgentError> {
        let mut served = self.served.lock().await;
        let recent = |s: &Served, id: &str| s.asked.get(id).is_some_and(|t| t.elapsed() < grace);
        let groups: Vec<String> = served
            .saved
            .groups
            .keys()
            .filter(|id| !group_ids.contains(id) && !recent(&served, id))
            .cloned()
            .collect();
        let configs: Vec<String> = served
            .saved
            .configs
            .keys()
            .filter(|id| !cluster_ids.contains(id) && !recent(&served, id))
            .cloned()
            .collect();
        let mut next = served.saved.clone();
        for id in &groups {
            served.groups.remove(id);
            next.groups.remove(id);
            tracing::info!(replication_group_id = %id, "endpoints of a deleted group retired");
        }
        for id in &configs {
            served.configs.remove(id);
            next.configs.remove(id);
            tracing::info!(cache_cluster_id = %id, "configuration endpoint of a deleted cluster retired");
        }
        self.save(&mut served, next)?;
        Ok(groups.len() + configs.len())
    }

    /// Starts every endpoint the state file names; returns how many listen. One that
    /// cannot start stays in the file, so the next restore or request tries again.
    pub(crate) async fn restore(&self) -> usize {
        let state = match std::fs::read(&self.state_file) {
            Ok(bytes) => match serde_json::from_slice::<EndpointState>(&bytes) {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(file = %self.state_file.display(), error = %e, "endpoint state unreadable; the control plane will recreate the endpoints");
                    return 0;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => {
                tracing::error!(file = %self.state_file.display(), error = %e, "cannot read the endpoint state");
                return 0;
            }
        };
        let mut served = self.served.lock().await;
        for (id, spec) in &state.groups {
            if served.groups.contains_key(id) {
                continue;
            }
            match start_group(spec).await {
                Ok(running) => {
                    served.groups.insert(id.clone(), running);
                }
                Err(e) => {
                    tracing::warn!(replication_group_id = %id, error = %e, "endpoints not restored")
                }
            }
        }
        for (id, spec) in &state.configs {
            if served.configs.contains_key(id) {
                continue;
            }
            match start_config(spec).await {
                Ok(running) => {
                    served.configs.insert(id.clone(), running);
                }
                Err(e) => {
                    tracing::warn!(cache_cluster_id = %id, error = %e, "configuration endpoint not restored")
                }
            }
        }
        served.saved = state;
        let restored = served.groups.len() + served.configs.len();
        tracing::info!(restored, "endpoints restored from the last routes");
        restored
    }

    /// Makes `next` the saved state, writing the file only when it changed. Written
    /// to a temporary file and renamed over the old one, so a crash leaves either.
    fn save(&self, served: &mut Served, next: EndpointState) -> Result<(), AgentError> {
        if served.saved == next {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| AgentError::Io(std::io::Error::other(e)))?;
        if let Some(dir) = self.state_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.state_file.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.state_file)?;
        served.saved = next;
        Ok(())
    }
}
