//! A fake agent on another host: the same node records as the [`FakeAgent`] it
//! speaks for (nodes are told apart by address, so two hosts may use one port), but
//! with a link of its own that a test can cut, and a network that can cut its nodes
//! off from the other hosts too. Cut the link only and the host is partitioned from
//! the control plane; cut both and it is gone as far as anyone can tell.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::FakeAgent;
use crate::interface::{AgentFuture, AgentRequest, NodeAgent};
use crate::AgentError;

/// What a silent agent's contact age reads: well past any unreachability bound.
const SILENT_FOR: Duration = Duration::from_secs(600);

/// One fake host's agent.
pub struct FakeHost {
    fake: Arc<FakeAgent>,
    address: String,
    /// The control plane's link to this agent is cut.
    cut: AtomicBool,
}

impl FakeHost {
    /// The agent of the host at `address`, over `fake`'s nodes.
    pub fn new(fake: &Arc<FakeAgent>, address: &str) -> Arc<FakeHost> {
        Arc::new(FakeHost {
            fake: fake.clone(),
            address: address.to_string(),
            cut: AtomicBool::new(false),
        })
    }

    /// The host's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Cuts (`true`) or mends the link between the control plane and this agent:
    /// every call fails as unreachable and the agent's silence grows.
    pub fn cut_link(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    /// Cuts (`true`) or mends this host's network to the other hosts: their agents'
    /// probes of its nodes get no answer. Its own agent still reaches them.
    pub fn cut_network(&self, cut: bool) {
        let mut s = self.fake.state();
        if cut {
            s.isolated.insert(self.address.clone());
        } else {
            s.isolated.remove(&self.address);
        }
    }
}

impl NodeAgent for FakeHost {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        if self.cut.load(Ordering::SeqCst) {
            let address = self.address.clone();
            return Box::pin(async move {
                Err(AgentError::Unreachable(format!("{address}: link cut")))
            });
        }
        self.fake.call_from(Some(&self.address), request)
    }

    fn is_running(&self, key: &str) -> bool {
        self.fake.is_running(key)
    }

    fn contact_age(&self) -> Option<Duration> {
        Some(if self.cut.load(Ordering::SeqCst) {
            SILENT_FOR
        } else {
            Duration::ZERO
        })
    }
}
