//! A fake agent on another host: the same node records as the [`FakeAgent`] it
//! speaks for (nodes are told apart by address, so two hosts may use one port), but
//! with a link of its own that a test can cut, and a network that can cut its nodes
//! off from the other hosts too. Cut the link only and the host is partitioned from
//! the control plane; cut both and it is gone as far as anyone can tell.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The agent's process is gone and its host refuses the link's connections.
    refused: AtomicBool,
    /// While the link is cut or refused: the nodes that ran when it last answered,
    /// which is all the control plane's side of a link knows (it holds the last
    /// observation).
    last_seen: Mutex<Option<HashSet<String>>>,
}

impl FakeHost {
    /// The agent of the host at `address`, over `fake`'s nodes.
    pub fn new(fake: &Arc<FakeAgent>, address: &str) -> Arc<FakeHost> {
        Arc::new(FakeHost {
            fake: fake.clone(),
            address: address.to_string(),
            cut: AtomicBool::new(false),
            refused: AtomicBool::new(false),
            last_seen: Mutex::new(None),
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
        self.freeze();
    }

    /// Keeps what the control plane saw last while the link does not answer.
    fn freeze(&self) {
        let silent = self.cut.load(Ordering::SeqCst) || self.refused.load(Ordering::SeqCst);
        let mut seen = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        match (silent, seen.is_some()) {
            (true, false) => *seen = Some(self.fake.running_keys()),
            (false, _) => *seen = None,
            (true, true) => {}
        }
    }

    /// Makes the host refuse (`true`) or accept the link's connections again, as
    /// when its agent process is killed and comes back: every call fails as
    /// unreachable at once, before any silence has grown.
    pub fn refuse_link(&self, refused: bool) {
        self.refused.store(refused, Ordering::SeqCst);
        self.freeze();
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
        if self.cut.load(Ordering::SeqCst) || self.refused.load(Ordering::SeqCst) {
            let address = self.address.clone();
            return Box::pin(async move {
                Err(AgentError::Unreachable(format!("{address}: link cut")))
            });
        }
        self.fake.call_from(Some(&self.address), request)
    }

    fn is_running(&self, key: &str) -> bool {
        let seen = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        match &*seen {
            Some(last) => last.contains(key),
            None => self.fake.is_running(key),
        }
    }

    fn replication_view(&self, key: &str) -> Option<crate::ReplicationView> {
        // What a cut link last brought stays where the control plane holds it; it
        // must not act on it (it judges the host first), so a cut one shows none.
        if self.cut.load(Ordering::SeqCst) || self.refused.load(Ordering::SeqCst) {
            return None;
        }
        self.fake.replication_view(key)
    }

    fn link_refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }

    fn contact_age(&self) -> Option<Duration> {
        Some(if self.cut.load(Ordering::SeqCst) {
            SILENT_FOR
        } else {
            Duration::ZERO
        })
    }
}
