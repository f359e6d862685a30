//! What each node's agent does on its own if the node dies while no control plane
//! is in contact: the controller decides from the node's place in its group and
//! tells the agent once per change (the agent keeps it across its own restarts).
//! The rule mirrors what the controller itself does when it is there: a primary that
//! a failover would replace is left for the failover; a replica comes back as a
//! replica of its primary; anything else comes back empty, as a replaced node.

use std::time::{Duration, Instant};

use larder_agent::{AgentRequest, RestartPolicy};
use larder_model::{CacheCluster, CacheNode};

use crate::Controller;

/// How long a sent policy is trusted before it is sent again (an agent that lost
/// its state, or a change the agent made itself on a fence, is healed by then).
const RESEND_AFTER: Duration = Duration::from_secs(60);

impl Controller {
    /// The policy node `n` of cluster `c` should have now.
    pub(crate) fn restart_policy(&self, c: &CacheCluster) -> Option<RestartPolicy> {
        let Some(gid) = &c.replication_group_id else {
            return Some(RestartPolicy::Restart);
        };
        let g = self.store().get_replication_group(gid).ok()??;
        if g.failover.is_some() {
            return None; // decided again once the failover commits
        }
        if g.primary == c.id {
            let replaced_by_failover = g.automatic_failover && g.members.len() > 1;
            return Some(if replaced_by_failover {
                RestartPolicy::Leave
            } else {
                RestartPolicy::Restart
            });
        }
        let (_, primary) = self.member_node(&g.primary)?;
        Some(RestartPolicy::RestartAsReplica {
            primary: self.upstream(&primary),
        })
    }

    /// Tells the agent the node's policy if it changed since it was last told.
    pub(crate) async fn sync_restart_policy(&self, c: &CacheCluster, n: &CacheNode) {
        let Some(policy) = self.restart_policy(c) else {
            return;
        };
        let key = c.node_key(&n.cache_node_id);
        {
            let sent = self
                .inner
                .sent_policies
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if sent
                .get(&key)
                .is_some_and(|(p, at)| *p == policy && at.elapsed() < RESEND_AFTER)
            {
                return;
            }
        }
        let request = AgentRequest::Supervise {
            key: key.clone(),
            policy: policy.clone(),
        };
        match self.agent_of(n).call(request).await {
            Ok(_) => {
                self.inner
                    .sent_policies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (policy, Instant::now()));
            }
            Err(e) => {
                tracing::debug!(node = %key, error = %e, "restart policy not sent; will retry")
            }
        }
    }
}
