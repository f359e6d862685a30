//! The agent reads the replication state of its own redis nodes and pushes it with
//! its observations, so the control plane's checks of every group member on every
//! pass (four a second) cost no link call: asked over the link, each was a signed
//! TLS round trip to the agent and one `INFO replication` on the node, and an idle
//! fleet spent most of its control-plane CPU on them.
//!
//! A node whose state changed lately is read often, a settled one rarely; a
//! request that changes a node (replication, a start, a stop) reads it or forgets
//! it at once, before its reply, so the control plane never acts on a state from
//! before its own request. A read that such a request overtook is thrown away.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::interface::{NodeRef, ReplicationView};
use crate::node_conn::NodeAddr;
use crate::{redis_ops, LocalAgent};

/// How often a node read lately changed (or was just changed by a request) is
/// read again: faster than the control plane's passes (250 ms), so a group being
/// created or failed over settles as quickly as when every pass asked.
const HOT_EVERY: Duration = Duration::from_millis(100);
/// How long a node stays hot after its state last changed.
const HOT_FOR: Duration = Duration::from_secs(5);
/// How often a settled node is read: what it takes to notice a replica whose link
/// broke on its own (a primary that dies is the health checks' business).
const COLD_EVERY: Duration = Duration::from_secs(1);
/// Upper bound of one read; a node that does not answer in time is not known.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// When each node is read next, and which reads are still current.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    /// Set once the agent reads its nodes; until then it publishes nothing, so an
    /// agent that does not watch never holds a stale state.
    watching: bool,
    slots: HashMap<String, Slot>,
}

#[derive(Debug)]
struct Slot {
    /// When the last read started (`None`: never read).
    read_at: Option<Instant>,
    /// Read every [`HOT_EVERY`] until then.
    hot_until: Instant,
    /// Moves whenever a request changes the node: a read started before holds an
    /// answer from before that change.
    generation: u64,
}

impl Slot {
    fn new(now: Instant) -> Slot {
        Slot {
            read_at: None,
            hot_until: now + HOT_FOR,
            generation: 0,
        }
    }
}

impl Schedule {
    /// The nodes among `nodes` due for a read at `now`, with the generation each
    /// read must still match; nodes not listed are forgotten.
    pub(crate) fn due(&mut self, nodes: &HashSet<String>, now: Instant) -> Vec<(String, u64)> {
        self.watching = true;
        self.slots.retain(|k, _| nodes.contains(k));
        let mut due = Vec::new();
        for key in nodes {
            let slot = self
                .slots
                .entry(key.clone())
                .or_insert_with(|| Slot::new(now));
            let every = if now < slot.hot_until {
                HOT_EVERY
            } else {
                COLD_EVERY
            };
            if slot
                .read_at
                .is_none_or(|at| now.duration_since(at) >= every)
            {
                slot.read_at = Some(now);
                due.push((key.clone(), slot.generation));
            }
        }
        due
    }

    /// A request changed node `key`: whatever was read of it is stale, and it is
    /// read often for a while. Returns the new generation; `None` while the agent
    /// does not watch its nodes.
    pub(crate) fn touch(&mut self, key: &str, now: Instant) -> Option<u64> {
        if !self.watching {
            return None;
        }
        let slot = self
            .slots
            .entry(key.to_string())
            .or_insert_with(|| Slot::new(now));
        slot.generation += 1;
        slot.hot_until = now + HOT_FOR;
        Some(slot.generation)
    }

    /// Whether a read started at `generation` is still current for `key`.
    pub(crate) fn current(&self, key: &str, generation: u64) -> bool {
        self.watching
            && self
                .slots
                .get(key)
                .is_some_and(|s| s.generation == generation)
    }

    /// The state read of `key` differs from the last one: read it often for a while.
    pub(crate) fn changed(&mut self, key: &str, now: Instant) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.hot_until = now + HOT_FOR;
        }
    }
}

impl LocalAgent {
    /// Reads the replication state of this agent's running redis nodes from now on
    /// and pushes it with the observations; the `larder agent` process calls it once.
    pub fn watch_replication(&self) {
        let weak = self.downgrade();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HOT_EVERY).await;
                let Some(agent) = weak.upgrade() else {
                    return;
                };
                agent.read_due().await;
            }
        });
    }

    /// Reads every node that is due, concurrently.
    async fn read_due(&self) {
        let nodes: HashMap<String, NodeRef> = self
            .redis_nodes()
            .into_iter()
            .map(|n| (n.key.clone(), n))
            .collect();
        let keys: HashSet<String> = nodes.keys().cloned().collect();
        let due = self.schedule().due(&keys, Instant::now());
        let mut reads = tokio::task::JoinSet::new();
        for (key, generation) in due {
            let Some(node) = nodes.get(&key) else {
                continue;
            };
            let (me, addr) = (self.clone(), self.node_addr(node));
            reads.spawn(async move {
                let view = me.read_view(&addr).await;
                me.publish_view(&key, generation, view);
            });
        }
        while reads.join_next().await.is_some() {}
    }

    /// One `INFO replication` as the pushed view; `None` when the node did not answer.
    async fn read_view(&self, addr: &NodeAddr) -> Option<ReplicationView> {
        let read = redis_ops::info_replication(self.conns(), addr);
        match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(Ok(info)) => Some(ReplicationView::from(&redis_ops::replication_info(&info))),
            Ok(Err(_)) => None,
            Err(_) => {
                // The command may still be queued on the connection: start afresh.
                self.conns().forget(addr);
                None
            }
        }
    }

    /// Publishes what a read found, unless a request overtook it.
    fn publish_view(&self, key: &str, generation: u64, view: Option<ReplicationView>) {
        let mut schedule = self.schedule();
        if !schedule.current(key, generation) {
            return;
        }
        if self.supervision().observer.publish_replication(key, view) {
            schedule.changed(key, Instant::now());
        }
    }

    /// After a replication change: reads the node at once, so the observation the
    /// control plane reads back after its request shows the change.
    pub(crate) async fn observe_replication_now(&self, node: &NodeRef) {
        let Some(generation) = self.schedule().touch(&node.key, Instant::now()) else {
            return;
        };
        let view = self.read_view(&self.node_addr(node)).await;
        self.publish_view(&node.key, generation, view);
    }

    /// After a lifecycle change (start, stop, exit): what was read of the node's
    /// process no longer holds, until it is read again.
    pub(crate) fn forget_replication(&self, key: &str) {
        let mut schedule = self.schedule();
        if schedule.touch(key, Instant::now()).is_some() {
            self.supervision().observer.publish_replication(key, None);
        }
    }

    /// Node `key`'s replication state as last pushed.
    pub fn replication_view(&self, key: &str) -> Option<ReplicationView> {
        self.supervision().observer.replication(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn due_keys(s: &mut Schedule, nodes: &HashSet<String>, now: Instant) -> Vec<String> {
        let mut due: Vec<String> = s.due(nodes, now).into_iter().map(|(k, _)| k).collect();
        due.sort();
        due
    }

    #[test]
    fn a_new_node_is_read_often_then_rarely_once_it_settles() {
        let mut s = Schedule::default();
        let nodes = keys(&["a"]);
        let t0 = Instant::now();
        assert_eq!(due_keys(&mut s, &nodes, t0), ["a"]);
        assert!(due_keys(&mut s, &nodes, t0 + HOT_EVERY / 2).is_empty());
        assert_eq!(due_keys(&mut s, &nodes, t0 + HOT_EVERY), ["a"]);
        // Past the hot window with no change: once per cold interval.
        let settled = t0 + HOT_FOR + HOT_EVERY;
        assert_eq!(due_keys(&mut s, &nodes, settled), ["a"]);
        assert!(due_keys(&mut s, &nodes, settled + HOT_EVERY).is_empty());
        assert!(due_keys(&mut s, &nodes, settled + COLD_EVERY / 2).is_empty());
        assert_eq!(due_keys(&mut s, &nodes, settled + COLD_EVERY), ["a"]);
    }

    #[test]
    fn a_change_makes_a_settled_node_hot_again() {
        let mut s = Schedule::default();
        let nodes = keys(&["a"]);
        let t0 = Instant::now();
        s.due(&nodes, t0);
        let settled = t0 + HOT_FOR + COLD_EVERY;
        assert_eq!(due_keys(&mut s, &nodes, settled), ["a"]);
        s.changed("a", settled);
        assert_eq!(due_keys(&mut s, &nodes, settled + HOT_EVERY), ["a"]);
    }

    #[test]
    fn a_read_overtaken_by_a_request_is_not_current() {
        let mut s = Schedule::default();
        let nodes = keys(&["a"]);
        let t0 = Instant::now();
        let (_, generation) = s.due(&nodes, t0).pop().unwrap();
        assert!(s.current("a", generation));
        let newer = s.touch("a", t0).unwrap();
        assert!(!s.current("a", generation), "the old read is stale");
        assert!(s.current("a", newer));
    }

    #[test]
    fn nothing_is_current_before_the_agent_watches_and_gone_nodes_are_forgotten() {
        let mut s = Schedule::default();
        let t0 = Instant::now();
        assert_eq!(s.touch("a", t0), None, "no state is kept unwatched");
        assert!(!s.current("a", 0));
        let (_, generation) = s.due(&keys(&["a"]), t0).pop().unwrap();
        s.due(&keys(&[]), t0);
        assert!(!s.current("a", generation), "a node no longer running");
    }
}
