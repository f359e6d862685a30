//! The periodic refresh of the legacy discovery key (`AmazonElastiCache:cluster`)
//! on every memcached node of the host, over connections kept between rounds: the
//! control plane asks for every node every 2 s, and a new TCP connection per node
//! and round was the largest part of an idle agent's CPU with hundreds of nodes.
//! A kept connection that fails is dropped and the check tried once on a new one,
//! so an answer means what it did when every check connected afresh.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use larder_endpoints::{
    ensure_legacy_discovery_key_on, legacy_key_conn, DiscoveryConfig, LegacyKeyConn,
};

/// Connections to memcached nodes, by `host:port`, each idle between checks.
#[derive(Debug, Default)]
pub(crate) struct LegacyKeyConns {
    held: Mutex<HashMap<String, LegacyKeyConn>>,
}

impl LegacyKeyConns {
    fn take(&self, addr: &str) -> Option<LegacyKeyConn> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(addr)
    }

    fn keep(&self, addr: &str, conn: LegacyKeyConn) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr.to_string(), conn);
    }

    /// Makes the node at `addr` hold `config` under the legacy key; true if it had
    /// to be written.
    pub(crate) async fn ensure(
        &self,
        addr: &str,
        config: &DiscoveryConfig,
    ) -> std::io::Result<bool> {
        if let Some(mut conn) = self.take(addr) {
            if let Ok(written) = ensure_legacy_discovery_key_on(&mut conn, config).await {
                self.keep(addr, conn);
                return Ok(written);
            }
        }
        let mut conn = legacy_key_conn(addr).await?;
        let written = ensure_legacy_discovery_key_on(&mut conn, config).await?;
        self.keep(addr, conn);
        Ok(written)
    }

    /// Closes the connections to nodes not in `addrs` (a full round names every
    /// memcached node of the host, so the others are gone).
    pub(crate) fn retain(&self, addrs: &HashSet<String>) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a, _| addrs.contains(a));
    }
}
