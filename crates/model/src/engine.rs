//! Cache engines Larder can run, named as ElastiCache names them.

use serde::{Deserialize, Serialize};

/// An engine a cache cluster runs. Valkey is accepted where `valkey-server` is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// `redis-server`.
    Redis,
    /// `valkey-server`, a protocol-compatible fork of Redis.
    Valkey,
    /// `memcached`.
    Memcached,
}

impl Engine {
    /// The name used on the API (`Engine=redis`).
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Redis => "redis",
            Engine::Valkey => "valkey",
            Engine::Memcached => "memcached",
        }
    }

    /// Parses the API name, case-insensitively as the service does.
    pub fn parse(s: &str) -> Option<Engine> {
        match s.to_ascii_lowercase().as_str() {
            "redis" => Some(Engine::Redis),
            "valkey" => Some(Engine::Valkey),
            "memcached" => Some(Engine::Memcached),
            _ => None,
        }
    }

    /// The server binary that runs a node of this engine.
    pub fn binary(self) -> &'static str {
        match self {
            Engine::Redis => "redis-server",
            Engine::Valkey => "valkey-server",
            Engine::Memcached => "memcached",
        }
    }

    /// True for engines that speak RESP (Redis and Valkey).
    pub fn is_redis_like(self) -> bool {
        matches!(self, Engine::Redis | Engine::Valkey)
    }

    /// The port ElastiCache uses by default for this engine.
    pub fn default_port(self) -> u16 {
        match self {
            Engine::Memcached => 11211,
            _ => 6379,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An engine version `N.N.N` as numbers, for ordering versions (6.2.9 before 6.2.14).
pub fn version_order(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}
