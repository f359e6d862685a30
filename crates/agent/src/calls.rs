//! Typed calls over [`NodeAgent`]: one method per request, so callers get the reply
//! they asked for and a reply of the wrong kind is an error in one place.

use std::time::Duration;

use larder_endpoints::DiscoveryConfig;

use crate::interface::{
    AgentReply, AgentRequest, HostPort, NodeAgent, NodeRef, ReplicationChange, ReplicationInfo,
    SnapshotChunk, SnapshotSave, SourceCheck, StagedRestore,
};
use crate::{AgentError, ConfigEndpointSpec, GroupEndpointSpec, InstalledEngine, NodeSpec};

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unexpected(reply: AgentReply) -> AgentError {
    AgentError::UnexpectedReply(format!("{reply:?}"))
}

impl dyn NodeAgent {
    async fn done(&self, request: AgentRequest) -> Result<(), AgentError> {
        match self.call(request).await? {
            AgentReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn pid(&self, request: AgentRequest) -> Result<u32, AgentError> {
        match self.call(request).await? {
            AgentReply::Pid(pid) => Ok(pid),
            other => Err(unexpected(other)),
        }
    }

    async fn flag(&self, request: AgentRequest) -> Result<bool, AgentError> {
        match self.call(request).await? {
            AgentReply::Flag(flag) => Ok(flag),
            other => Err(unexpected(other)),
        }
    }

    /// Starts the node, or adopts its running process.
    pub async fn start_node(&self, spec: &NodeSpec) -> Result<u32, AgentError> {
        self.pid(AgentRequest::StartNode(spec.clone())).await
    }

    /// Waits until the node answers its health probe.
    pub async fn wait_ready(&self, spec: &NodeSpec, timeout: Duration) -> Result<(), AgentError> {
        let timeout_ms = millis(timeout);
        self.done(AgentRequest::WaitReady {
            spec: spec.clone(),
            timeout_ms,
        })
        .await
    }

    /// Stops and starts the node again, like a reboot.
    pub async fn restart_node(&self, spec: &NodeSpec) -> Result<u32, AgentError> {
        self.pid(AgentRequest::RestartNode(spec.clone())).await
    }

    /// Stops the node; not running is fine.
    pub async fn stop_node(&self, key: &str) -> Result<(), AgentError> {
        let key = key.to_string();
        self.done(AgentRequest::StopNode { key }).await
    }

    /// Deletes a stopped node's directory.
    pub async fn remove_data(&self, key: &str) -> Result<(), AgentError> {
        let key = key.to_string();
        self.done(AgentRequest::RemoveData { key }).await
    }

    /// Kills the node's process and waits for it to exit.
    pub async fn fence(&self, key: &str) -> Result<(), AgentError> {
        let key = key.to_string();
        self.done(AgentRequest::Fence { key }).await
    }

    /// Whether nothing listens on `bind:port` on the agent's host.
    pub async fn port_free(&self, bind: &str, port: u16) -> Result<bool, AgentError> {
        let bind = bind.to_string();
        self.flag(AgentRequest::PortFree { bind, port }).await
    }

    /// One health probe; any failure counts as no answer.
    pub async fn ping(&self, node: &NodeRef, timeout: Duration) -> bool {
        let request = AgentRequest::Ping {
            node: node.clone(),
            timeout_ms: millis(timeout),
        };
        self.flag(request).await.unwrap_or(false)
    }

    /// The pid of node `key`'s process, if it runs.
    pub async fn node_pid(&self, key: &str) -> Result<Option<u32>, AgentError> {
        let key = key.to_string();
        match self.call(AgentRequest::NodePid { key }).await? {
            AgentReply::MaybePid(pid) => Ok(pid),
            other => Err(unexpected(other)),
        }
    }

    /// The bytes the node's data set takes (`used_memory`).
    pub async fn used_memory(&self, node: &NodeRef) -> Result<u64, AgentError> {
        let node = node.clone();
        match self.call(AgentRequest::UsedMemory { node }).await? {
            AgentReply::Count(n) => Ok(n as u64),
            other => Err(unexpected(other)),
        }
    }

    /// The node's replication state.
    pub async fn replication_info(&self, node: &NodeRef) -> Result<ReplicationInfo, AgentError> {
        let node = node.clone();
        match self.call(AgentRequest::ReplicationInfo { node }).await? {
            AgentReply::Replication(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// Changes the node's place in replication.
    pub async fn replicate(
        &self,
        node: &NodeRef,
        change: ReplicationChange,
    ) -> Result<(), AgentError> {
        let node = node.clone();
        self.done(AgentRequest::Replication { node, change }).await
    }

    /// How many of `replicas` have the primary's stream flowing, waiting up to `timeout`.
    pub async fn streaming_replicas(
        &self,
        node: &NodeRef,
        replicas: usize,
        timeout: Duration,
    ) -> Result<usize, AgentError> {
        let request = AgentRequest::StreamingReplicas {
            node: node.clone(),
            replicas,
            timeout_ms: millis(timeout),
        };
        match self.call(request).await? {
            AgentReply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// `CONFIG SET name value` on a running node.
    pub async fn config_set(
        &self,
        node: &NodeRef,
        name: &str,
        value: &str,
    ) -> Result<(), AgentError> {
        let request = AgentRequest::ConfigSet {
            node: node.clone(),
            name: name.to_string(),
            value: value.to_string(),
        };
        self.done(request).await
    }

    /// `CONFIG GET name` on a running node: its value, none if it has no such parameter.
    pub async fn config_get(
        &self,
        node: &NodeRef,
        name: &str,
    ) -> Result<Option<String>, AgentError> {
        let request = AgentRequest::ConfigGet {
            node: node.clone(),
            name: name.to_string(),
        };
        match self.call(request).await? {
            AgentReply::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Starts a group's primary and reader endpoints, or re-routes them.
    pub async fn group_endpoints(&self, spec: GroupEndpointSpec) -> Result<(), AgentError> {
        self.done(AgentRequest::GroupEndpoints(spec)).await
    }

    /// Stops a group's endpoints and forgets them.
    pub async fn retire_group_endpoints(&self, group_id: &str) -> Result<(), AgentError> {
        let group_id = group_id.to_string();
        self.done(AgentRequest::RetireGroupEndpoints { group_id })
            .await
    }

    /// Starts a memcached cluster's configuration endpoint, or publishes its new config.
    pub async fn config_endpoint(&self, spec: ConfigEndpointSpec) -> Result<(), AgentError> {
        self.done(AgentRequest::ConfigEndpoint(spec)).await
    }

    /// Stops a cluster's configuration endpoint and forgets it.
    pub async fn retire_config_endpoint(&self, cluster_id: &str) -> Result<(), AgentError> {
        let cluster_id = cluster_id.to_string();
        self.done(AgentRequest::RetireConfigEndpoint { cluster_id })
            .await
    }

    /// Makes the node's legacy discovery key hold `config`; true when it was written.
    pub async fn legacy_discovery_key(
        &self,
        node: &NodeRef,
        config: &DiscoveryConfig,
    ) -> Result<bool, AgentError> {
        let request = AgentRequest::LegacyDiscoveryKey {
            node: node.clone(),
            config: config.clone(),
        };
        self.flag(request).await
    }

    /// Whether a migration source answers `PING`, waiting up to `timeout`.
    pub async fn probe_source(
        &self,
        source: &HostPort,
        timeout: Duration,
    ) -> Result<SourceCheck, AgentError> {
        let request = AgentRequest::ProbeSource {
            source: source.clone(),
            timeout_ms: millis(timeout),
        };
        match self.call(request).await? {
            AgentReply::Source(check) => Ok(check),
            other => Err(unexpected(other)),
        }
    }

    /// The engine versions installed on the agent's host.
    pub async fn installed_engines(&self) -> Result<Vec<InstalledEngine>, AgentError> {
        match self.call(AgentRequest::InstalledEngines).await? {
            AgentReply::Engines(engines) => Ok(engines),
            other => Err(unexpected(other)),
        }
    }

    /// Saves the node's dataset as its file of `snapshot` on the agent's host,
    /// waiting up to `timeout` for the node.
    pub async fn save_snapshot(
        &self,
        node: &NodeRef,
        snapshot: &str,
        timeout: Duration,
    ) -> Result<SnapshotSave, AgentError> {
        let request = AgentRequest::SaveSnapshot {
            node: node.clone(),
            snapshot: snapshot.to_string(),
            timeout_ms: millis(timeout),
        };
        match self.call(request).await? {
            AgentReply::SnapshotSave(save) => Ok(save),
            other => Err(unexpected(other)),
        }
    }

    /// Up to `len` bytes of node `key`'s file of `snapshot` from `offset`.
    pub async fn read_snapshot(
        &self,
        snapshot: &str,
        key: &str,
        offset: u64,
        len: u32,
    ) -> Result<SnapshotChunk, AgentError> {
        let request = AgentRequest::ReadSnapshot {
            snapshot: snapshot.to_string(),
            key: key.to_string(),
            offset,
            len,
        };
        match self.call(request).await? {
            AgentReply::SnapshotChunk(chunk) => Ok(chunk),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the agent's files of `snapshot`.
    pub async fn discard_snapshot(&self, snapshot: &str) -> Result<(), AgentError> {
        self.done(AgentRequest::DiscardSnapshot {
            snapshot: snapshot.to_string(),
        })
        .await
    }

    /// Stages `hex` at `offset` of the restore file of node `key`; returns how far
    /// the file is staged and, once complete and verified, its path.
    pub async fn stage_restore(
        &self,
        key: &str,
        offset: u64,
        hex: String,
        expect: &larder_model::SnapshotFile,
    ) -> Result<StagedRestore, AgentError> {
        let request = AgentRequest::StageRestore {
            key: key.to_string(),
            offset,
            hex,
            expect: expect.clone(),
        };
        match self.call(request).await? {
            AgentReply::Staged(staged) => Ok(staged),
            other => Err(unexpected(other)),
        }
    }
}
