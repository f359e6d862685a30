//! What the controller asks the agent to run.

use larder_model::Engine;

/// Everything the agent needs to run one cache node on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Unique node key (cluster id + node id); names the node directory.
    pub key: String,
    /// Engine the node runs.
    pub engine: Engine,
    /// TCP port the engine listens on.
    pub port: u16,
    /// Address the engine listens on, e.g. `127.0.0.1`.
    pub bind: String,
    /// Memory limit: redis `maxmemory`; memcached `-m` in MiB (rounded down, at least 1).
    pub maxmemory_bytes: u64,
    /// Extra redis directives `(name, value)`; ignored for memcached.
    pub extra_config: Vec<(String, String)>,
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
