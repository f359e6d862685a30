//! Shared fixtures: free ports, node specs, and a guard that kills nodes even when a test panics.

use std::time::Duration;

use larder_agent::{LocalAgent, NodeSpec};
use larder_model::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Generous bound for engine start-up on a loaded 2-core box.
pub const READY: Duration = Duration::from_secs(10);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A small node spec on a fresh port.
pub fn spec(key: &str, engine: Engine) -> NodeSpec {
    NodeSpec {
        key: key.to_string(),
        engine,
        engine_version: None,
        port: free_port(),
        bind: "127.0.0.1".into(),
        maxmemory_bytes: 64 * 1024 * 1024,
        extra_config: vec![],
        command_limits: Default::default(),
        initial_data: Default::default(),
    }
}

/// Owns a temp nodes root and SIGKILLs every node in it on drop.
pub struct Fixture {
    pub agent: LocalAgent,
    pub root: tempfile::TempDir,
    keys: Vec<String>,
}

impl Fixture {
    /// A fresh agent on an empty root.
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let agent = LocalAgent::new(root.path().to_path_buf());
        Fixture {
            agent,
            root,
            keys: vec![],
        }
    }

    /// Remembers a key so the node is killed at the end.
    pub fn track(&mut self, spec: &NodeSpec) -> NodeSpec {
        self.keys.push(spec.key.clone());
        spec.clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A new agent also finds nodes adopted or started by other agents on this root.
        let finder = LocalAgent::new(self.root.path().to_path_buf());
        for key in &self.keys {
            for agent in [&self.agent, &finder] {
                if let Some(pid) = agent.pid(key) {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
        }
    }
}

/// SIGKILLs a pid directly, as a crash would.
#[allow(dead_code)] // Each test binary compiles this module; not all use everything.
pub fn kill9(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
}

/// A client's connection to a node (redis's default user).
#[allow(dead_code)] // Each test binary compiles this module; not all use everything.
pub async fn client(port: u16) -> redis::aio::MultiplexedConnection {
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Larder's own connection to a node, as its admin user.
#[allow(dead_code)] // Each test binary compiles this module; not all use everything.
pub async fn admin(agent: &LocalAgent, port: u16) -> redis::aio::MultiplexedConnection {
    let secret = agent.admin_secret().unwrap();
    let url = format!(
        "redis://{}:{}@127.0.0.1:{port}/",
        larder_agent::ADMIN_USER,
        secret.expose()
    );
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}
