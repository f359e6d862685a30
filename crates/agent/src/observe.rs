//! What the agent tells the control plane about its nodes without being asked: the
//! set of node processes that run and the replication state of its redis nodes,
//! with a version that moves on every change. The running set is recomputed only
//! when something happened (a lifecycle request, a process exit seen through its
//! pidfd), never on a timer; replication state is read by the agent itself
//! (`repl_watch.rs`) and published only when it differs. The control plane waits on
//! it (a long poll) instead of asking every node on every pass.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::interface::ReplicationView;

/// The node processes an agent runs and their replication, as of `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Moves by one on every change; a reader skips anything not newer than it has.
    pub version: u64,
    /// Keys of the nodes whose process exists.
    pub running: BTreeSet<String>,
    /// The replication state of each redis node the agent has read it from, by
    /// node key. A node missing here is not known (an agent from before this
    /// field, a node just started or not answering): ask it directly.
    #[serde(default)]
    pub replication: BTreeMap<String, ReplicationView>,
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

    /// Publishes node `key`'s replication state (`None`: not known) if it differs.
    /// True when it changed.
    pub(crate) fn publish_replication(&self, key: &str, view: Option<ReplicationView>) -> bool {
        self.tx.send_if_modified(|o| {
            if o.replication.get(key) == view.as_ref() {
                return false;
            }
            match view {
                Some(v) => o.replication.insert(key.to_string(), v),
                None => o.replication.remove(key),
            };
            o.version += 1;
            true
        })
    }

    /// The replication state last published for node `key`.
    pub(crate) fn replication(&self, key: &str) -> Option<ReplicationView> {
        self.tx.borrow().replication.get(key).cloned()
    }

    /// The keys of the running nodes, as last published.
    pub(crate) fn running(&self) -> BTreeSet<String> {
        self.tx.borrow().running.clone()
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

    #[test]
    fn replication_state_moves_the_version_only_when_it_changes() {
        let o = Observer::new();
        let rx = o.subscribe();
        let view = ReplicationView {
            role: crate::ReplicationRole::Primary,
            primary: None,
            link_up: false,
            sync_in_progress: false,
            online_replicas: Vec::new(),
        };
        assert!(o.publish_replication("g-0001", Some(view.clone())));
        assert!(!o.publish_replication("g-0001", Some(view.clone())));
        assert_eq!(rx.borrow().version, 1);
        assert_eq!(o.replication("g-0001"), Some(view));
        assert!(o.publish_replication("g-0001", None));
        assert!(!o.publish_replication("g-0001", None));
        assert_eq!(rx.borrow().version, 2);
        assert!(rx.borrow().replication.is_empty());
    }
}
