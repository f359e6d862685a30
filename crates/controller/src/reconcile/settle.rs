//! Record-only transitions that follow node changes: publishing memcached membership
//! and returning a busy cluster to `available`. They run inside the same transaction
//! as the node change that allows them, so a create finishes with one commit.

use larder_model::{CacheCluster, ClusterStatus, Engine, Event, NodeStatus};

/// Nodes clients may be told about: members that have finished starting.
pub(crate) fn published(c: &CacheCluster) -> Vec<String> {
    c.nodes
        .iter()
        .filter(|n| !matches!(n.status, NodeStatus::Creating | NodeStatus::Deleting))
        .map(|n| n.cache_node_id.clone())
        .collect()
}

/// Bumps the auto discovery version when memcached membership changed. True if bumped.
pub(crate) fn publish_membership(c: &mut CacheCluster) -> bool {
    if c.engine != Engine::Memcached || c.status == ClusterStatus::Deleting {
        return false;
    }
    let now = published(c);
    if now.is_empty() || now == c.published_members {
        return false;
    }
    c.config_version += 1;
    c.published_members = now;
    true
}

/// Moves a busy cluster whose nodes are all available to `available`. True if moved.
pub(crate) fn finish(c: &mut CacheCluster, events: &mut Vec<Event>) -> bool {
    let busy = matches!(
        c.status,
        ClusterStatus::Creating | ClusterStatus::Modifying | ClusterStatus::RebootingNodes
    );
    // An in-place engine upgrade keeps the cluster `modifying` while its node,
    // available all along, is paused, dumped and restarted.
    if !busy || c.upgrade.is_some() || c.nodes.iter().any(|n| n.status != NodeStatus::Available) {
        return false;
    }
    let message = match c.status {
        ClusterStatus::Creating => "Cache cluster created",
        ClusterStatus::Modifying => "Cache cluster modified",
        _ => "Cache cluster nodes rebooted",
    };
    events.push(Event::cache_cluster(&c.id, message));
    c.status = ClusterStatus::Available;
    true
}

/// Both, in order: membership first so a cluster never turns available with a stale
/// discovery config.
pub(crate) fn settle(c: &mut CacheCluster, events: &mut Vec<Event>) -> bool {
    let bumped = publish_membership(c);
    finish(c, events) | bumped
}
