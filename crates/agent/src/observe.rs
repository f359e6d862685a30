//! What the agent tells the control plane about its nodes without being asked: the
//! set of node processes that run, with a version that moves on every change. The
//! agent recomputes it only when something happened (a lifecycle request, a process
//! exit seen through its pidfd), never on a timer, so an idle host costs nothing;
//! the control plane waits on it (a long poll) instead of polling every node.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The node processes an agent runs, as of `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Moves by one on every change; a reader skips anything not newer than it has.
    pub version: u64,
    /// Keys of the nodes whose process exists.
    pub running: BTreeSet<String>,
}

/// The latest observation and its subscribers.
#[derive(Debug)]
pub(crate) struct Observer {
    tx: watch::Sender<Observation>,
}

impl Observer {
    pub(crate) fn new() -> Self {
        Observer {
            tx: watch::Sender::new(Observation::default()),
        }
    }

    /// Publishes `running` if it differs from the last observation.
    pub(crate) fn publish(&self, running: BTreeSet<String>) {
        self.tx.send_if_modified(|o| {
            if o.running == running {
                return false;
            }
            o.version += 1;
            o.running = running;
            true
        });
    }

    /// A receiver that sees every later observation.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Observation> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_moves_only_when_the_set_changes() {
        let o = Observer::new();
        let rx = o.subscribe();
        o.publish(["a".to_string()].into());
        assert_eq!(rx.borrow().version, 1);
        o.publish(["a".to_string()].into());
        assert_eq!(rx.borrow().version, 1);
        o.publish(BTreeSet::new());
        assert_eq!(rx.borrow().version, 2);
        assert!(rx.borrow().running.is_empty());
    }
}
