//! A replication group's primary and reader endpoints run on every host's agent, on
//! the same ports, so the address DescribeReplicationGroups names (the control
//! plane's host) stays valid across failovers between hosts, and a client on any
//! host can use its own host's agent (spliced in the kernel when local).

use std::time::{Duration, Instant};

use larder_agent::GroupEndpointSpec;
use larder_endpoints::EndpointOptions;
use larder_model::{ReplicationGroup, LOCAL_HOST};

use crate::hosts::HostEntry;
use crate::Controller;

/// How long an unchanged endpoint request is trusted before it is sent again.
const ENDPOINT_RESEND_AFTER: Duration = Duration::from_secs(30);
/// How often each host is told which groups and clusters exist, so it retires the
/// endpoints of deletions it missed; also at once when a host answers again.
const RETAIN_EVERY: Duration = Duration::from_secs(15);
/// Endpoints an agent was asked for this recently are kept whatever the list says:
/// the list may have been read before a create.
const RETAIN_GRACE: Duration = Duration::from_secs(5);

fn sent_key(group_id: &str, host_id: &str) -> String {
    format!("{group_id}@{host_id}")
}

impl Controller {
    /// The address endpoints bind on `host`.
    fn endpoint_bind(&self, host: &HostEntry) -> String {
        if host.host.id == LOCAL_HOST {
            self.settings().bind_host.clone()
        } else {
            host.host.address.clone()
        }
    }

    /// The request that makes `host`'s agent serve `g`'s endpoints as they should be.
    fn group_endpoint_spec(&self, g: &ReplicationGroup, host: &HostEntry) -> GroupEndpointSpec {
        let settings = self.settings();
        GroupEndpointSpec {
            group_id: g.id.clone(),
            bind: self.endpoint_bind(host),
            primary_port: g.primary_endpoint_port,
            reader_port: g.reader_endpoint_port,
            options: EndpointOptions {
                multiplexing: settings.endpoint_multiplexing,
                kernel_splice: settings.endpoint_kernel_splice,
                limits: settings.endpoint_limits,
            },
            targets: self.group_targets(g),
        }
    }

    /// Tells every reachable agent where the group's endpoints send clients now; each
    /// starts them when they do not listen yet. Sent on change (a re-route goes out at
    /// once, to all hosts together) and again now and then, so an agent that lost
    /// its state is healed; not on every pass.
    pub(crate) async fn sync_group_endpoints(&self, g: &ReplicationGroup) {
        let unknown = g.members.iter().any(|m| {
            self.member_node(m)
                .is_some_and(|(_, n)| !self.host_dialled(&n))
        });
        if unknown {
            // A restarted control plane that has not reached a member's host yet
            // knows nothing of that member: the agents keep the routes they have.
            return;
        }
        let mut sends = tokio::task::JoinSet::new();
        for host in self.hosts().all() {
            if !host.answers() {
                continue;
            }
            let spec = self.group_endpoint_spec(g, &host);
            let key = sent_key(&g.id, &host.host.id);
            {
                let sent = self
                    .inner
                    .sent_endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if sent
                    .get(&key)
                    .is_some_and(|(s, at)| *s == spec && at.elapsed() < ENDPOINT_RESEND_AFTER)
                {
                    continue;
                }
            }
            // The task holds only the agent: a pass cut off (a crash test drops it)
            // leaves nothing of the controller behind.
            let agent = host.agent.clone();
            sends.spawn(async move {
                let sent = agent.group_endpoints(spec.clone()).await;
                (key, spec, host.host.id, sent)
            });
        }
        while let Some(Ok((key, spec, host_id, sent))) = sends.join_next().await {
            match sent {
                Ok(()) => {
                    self.inner
                        .sent_endpoints
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, (spec, Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(replication_group_id = %spec.group_id, host = %host_id, error = %e, "endpoints not updated; will retry")
                }
            }
        }
    }

    /// Stops the group's endpoints on every host. A host that does not answer is
    /// not waited for (a deleted group must not wait on a dead host); true when
    /// every reachable one retired them.
    pub(crate) async fn retire_group_endpoints(&self, id: &str) -> bool {
        let mut all = true;
        for host in self.hosts().all() {
            self.inner
                .sent_endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&sent_key(id, &host.host.id));
            if !host.answers() {
                tracing::warn!(replication_group_id = %id, host = %host.host.id, "host unreachable; its endpoints for the group stay until it is told again");
                continue;
            }
            if let Err(e) = host.agent.retire_group_endpoints(id).await {
                tracing::warn!(replication_group_id = %id, host = %host.host.id, error = %e, "endpoints not retired; will retry");
                all = false;
            }
        }
        all
    }

    /// Forgets every restart policy sent, so all are sent again.
    pub(crate) fn forget_sent_policies(&self) {
        self.inner
            .sent_policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Tells every answering host that is due which groups and clusters exist; each
    /// retires the endpoints of the others (deleted while it was out of reach).
    pub(crate) async fn retain_endpoints(&self) {
        let due: Vec<HostEntry> = {
            let retained = self
                .inner
                .retained
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.hosts()
                .all()
                .into_iter()
                .filter(|h| {
                    h.dialled
                        && h.answers()
                        && retained
                            .get(&h.host.id)
                            .is_none_or(|at| at.elapsed() >= RETAIN_EVERY)
                })
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let (Ok(groups), Ok(clusters)) = (
            self.store().list_replication_groups(),
            self.store().list_clusters(),
        ) else {
            return;
        };
        let group_ids: Vec<String> = groups.into_iter().map(|g| g.id).collect();
        let cluster_ids: Vec<String> = clusters.into_iter().map(|c| c.id).collect();
        for host in due {
            let request = larder_agent::AgentRequest::RetainEndpoints {
                group_ids: group_ids.clone(),
                cluster_ids: cluster_ids.clone(),
                grace_ms: RETAIN_GRACE.as_millis() as u64,
            };
            match host.agent.call(request).await {
                Ok(reply) => {
                    if reply != larder_agent::AgentReply::Count(0) {
                        tracing::info!(host = %host.host.id, ?reply, "stale endpoints retired");
                    }
                    self.inner
                        .retained
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(host.host.id.clone(), Instant::now());
                }
                Err(e) => {
                    tracing::debug!(host = %host.host.id, error = %e, "endpoint list not sent")
                }
            }
        }
    }

    /// Forgets what was sent to `host_id`, so everything is sent again (a host that
    /// was out of reach may have restarted with older routes).
    pub(crate) fn forget_sent_to(&self, host_id: &str) {
        self.inner
            .retained
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(host_id);
        let suffix = format!("@{host_id}");
        self.inner
            .sent_endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| !k.ends_with(&suffix));
        if host_id == LOCAL_HOST {
            // Configuration endpoints run on the control plane's own host.
            self.inner
                .sent_config_endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }
}
