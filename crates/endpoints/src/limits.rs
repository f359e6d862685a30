//! Caps on client connections, per endpoint and across all endpoints of the
//! process, so a flood of connections cannot exhaust the daemon's file
//! descriptors (which its API, nodes and health checks need too). A client over
//! a cap gets what the engine itself answers when it is full, then is closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What memcached writes to a connection over its `-c` limit before closing it.
pub(crate) const MEMCACHED_FULL: &[u8] = b"ERROR Too many open connections\r\n";

/// What redis-server writes to a connection over `maxclients` before closing it.
pub(crate) const REDIS_FULL: &[u8] = b"-ERR max number of clients reached\r\n";

/// ElastiCache's `maxclients` / `max_simultaneous_connections` default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 65000;

/// Connections allowed to one endpoint and to all endpoints of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionLimits {
    /// Clients one endpoint serves at once.
    pub per_endpoint: usize,
    /// Clients all endpoints of this process serve at once. The first endpoint
    /// started sets it for the process.
    pub total: usize,
}

impl Default for ConnectionLimits {
    /// 65000 per endpoint (as ElastiCache), and in total half the file descriptors
    /// this process may open (a userspace client holds its socket and a node's).
    fn default() -> Self {
        ConnectionLimits {
            per_endpoint: DEFAULT_MAX_CONNECTIONS,
            total: default_total(),
        }
    }
}

/// Half of RLIMIT_NOFILE's soft limit, less a reserve for everything else.
fn default_total() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let soft = if ok { limit.rlim_cur as usize } else { 1024 };
    (soft.saturating_sub(256) / 2).max(64)
}

/// One counter of connections against its cap.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` connections.
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.used.fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections held now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// The process-wide budget; its limit is set by the first endpoint that starts.
fn total() -> &'static Budget {
    static TOTAL: std::sync::OnceLock<Budget> = std::sync::OnceLock::new();
    TOTAL.get_or_init(|| Budget::new(usize::MAX))
}

/// The budgets one endpoint's connections count against.
#[derive(Clone, Debug)]
pub(crate) struct Admission {
    endpoint: Arc<Budget>,
}

impl Admission {
    /// Budgets for a new endpoint with these limits.
    pub(crate) fn new(limits: ConnectionLimits) -> Admission {
        static SET_TOTAL: std::sync::Once = std::sync::Once::new();
        SET_TOTAL.call_once(|| total().limit.store(limits.total, Ordering::Relaxed));
        Admission {
            endpoint: Arc::new(Budget::new(limits.per_endpoint)),
        }
    }

    /// A slot for one more client, or None when this endpoint or the process is full.
    pub(crate) fn admit(&self) -> Option<Permit> {
        if !self.endpoint.take() {
            return None;
        }
        if !total().take() {
            self.endpoint.give_back();
            return None;
        }
        Some(Permit {
            endpoint: self.endpoint.clone(),
        })
    }

    /// Clients this endpoint holds now.
    pub(crate) fn connections(&self) -> usize {
        self.endpoint.used()
    }
}

/// One admitted client; its slots are given back on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    endpoint: Arc<Budget>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.endpoint.give_back();
        total().give_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_admits_up_to_its_limit_and_frees_on_drop() {
        let admission = Admission {
            endpoint: Arc::new(Budget::new(2)),
        };
        let a = admission.admit().unwrap();
        let _b = admission.admit().unwrap();
        assert!(admission.admit().is_none());
        assert_eq!(admission.connections(), 2);
        drop(a);
        assert!(admission.admit().is_some());
    }

    #[test]
    fn the_default_total_leaves_descriptors_for_the_rest() {
        assert!(ConnectionLimits::default().total >= 64);
    }
}
