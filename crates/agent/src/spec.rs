//! What the controller asks the agent to run.

use std::path::PathBuf;

use larder_model::Engine;
use serde::{Deserialize, Serialize};

/// Everything the agent needs to run one cache node on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Unique node key (cluster id + node id); names the node directory.
    pub key: String,
    /// Engine the node runs.
    pub engine: Engine,
    /// The engine version it runs (`7.0.15`): the agent starts the installed binary
    /// of that version (or of the same major.minor, after a patch update of the
    /// package). `None`: the engine's binary on PATH, as specs from before versions.
    #[serde(default)]
    pub engine_version: Option<String>,
    /// TCP port the engine listens on.
    pub port: u16,
    /// Address the engine listens on, e.g. `127.0.0.1`.
    pub bind: String,
    /// Memory limit: redis `maxmemory`; memcached `-m` in MiB (rounded down, at least 1).
    pub maxmemory_bytes: u64,
    /// Extra redis directives `(name, value)`; ignored for memcached.
    pub extra_config: Vec<(String, String)>,
    /// Which commands clients may run; ignored for memcached.
    pub command_limits: CommandLimits,
    /// The data a redis node starts with; ignored for memcached.
    pub initial_data: InitialData,
}

impl NodeSpec {
    /// Whether the node runs a Redis 6 binary, whose ACLs cannot take a subcommand
    /// away (`-client|kill`) and which has no `enable-debug-command`.
    pub fn runs_redis_6(&self) -> bool {
        self.engine == Engine::Redis
            && self
                .engine_version
                .as_deref()
                .is_some_and(|v| v.split('.').next() == Some("6"))
    }
}

/// Which commands the users clients get (redis's `default` user) may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CommandLimits {
    /// As on ElastiCache: the restricted commands are unknown to clients, and
    /// whatever would lift that or break Larder's control is refused.
    #[default]
    Restricted,
    /// Clients may run everything (the host flag for test suites that need
    /// `CONFIG`/`DEBUG`). Larder still manages the node as its own user.
    Unrestricted,
}

/// What a redis node's dataset is when its process starts. Nodes run without
/// persistence, so anything else found in the node dir is stale and removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InitialData {
    /// An empty dataset.
    #[default]
    Empty,
    /// The dataset of this RDB file, chosen on purpose (a snapshot restore); the
    /// file is copied into the node dir, the original is left alone.
    Rdb(PathBuf),
    /// The file this host saved of this very node for `snapshot` (SaveSnapshot), as
    /// an in-place engine upgrade restarts a node from its own data. It is checked
    /// against `expect` before it is loaded, and left alone.
    Saved {
        snapshot: String,
        expect: larder_model::SnapshotFile,
    },
}

impl NodeSpec {
    /// Address a local client should dial: a wildcard bind is reached over loopback.
    pub fn connect_host(&self) -> &str {
        connect_host(&self.bind)
    }
}

/// Address a local client dials for something listening on `bind`: a wildcard bind
/// is reached over loopback.
pub fn connect_host(bind: &str) -> &str {
    match bind {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    }
}
