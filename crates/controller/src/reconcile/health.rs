//! Failure detection for replication group primaries. A dead process is a failure at
//! once; a live but silent one after a few missed probes in a row, so one slow reply
//! does not cause a failover.

use std::collections::HashMap;

use larder_agent::{AgentError, AgentReply, AgentRequest, NodeRef};
use larder_model::{CacheCluster, Failover, NodeStatus, ReplicationGroup, ReplicationGroupStatus};
use tokio::sync::watch;

use crate::service::group_event;
use crate::Controller;

/// A failed probe: the primary's cluster and whether its process is gone (rather
/// than only silent).
pub(super) type Failure = (Box<CacheCluster>, bool);

impl Controller {
    /// Probes every group's primary until shutdown. Groups are probed concurrently,
    /// so one hung primary's probe timeouts do not slow detection for the others.
    pub async fn health_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.settings().health_check_interval;
        let mut failures: HashMap<String, u32> = HashMap::new();
        // The host checks run on their own clock: a probe round waits for every
        // host's answer, and a cut host's takes the probe's whole budget (its timeout
        // plus the link's margin, 1.25 s), which held the host checks, and so the
        // judgement of that very host, a second late. A host judged lost there fails
        // its primaries over at once (`fail_over_decided`).
        let me = self.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => return,
                }
                me.check_hosts().await;
            }
        });
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            let Ok(groups) = self.store().list_replication_groups() else {
                continue;
            };
            // Verdicts known without asking count at once, the others as each
            // host's probes come back: a hung node's timeout delays no one else.
            let (decided, mut asked) = self.probe_primaries(groups);
            for (g, verdict) in decided {
                self.count_probe(&mut failures, g, verdict);
            }
            while let Some(done) = asked.join_next().await {
                for (g, verdict) in done.unwrap_or_default() {
                    self.count_probe(&mut failures, g, verdict);
                }
            }
        }
    }

    /// Counts one probe's verdict; a dead primary, or one silent for
    /// `health_check_failures` probes in a row, is failed over.
    pub(super) fn count_probe(
        &self,
        failures: &mut HashMap<String, u32>,
        g: ReplicationGroup,
        verdict: Option<Failure>,
    ) {
        let Some((c, dead)) = verdict else {
            failures.remove(&g.id);
            return;
        };
        let misses = failures.entry(g.id.clone()).or_insert(0);
        *misses += 1;
        if !dead && *misses < self.settings().health_check_failures {
            return;
        }
        failures.remove(&g.id);
        if !self.failover_covers(&c) {
            return;
        }
        let reason = if dead {
            "process exited"
        } else {
            "not answering health checks"
        };
        self.start_automatic_failover(&g.id, &g.primary, reason);
    }

    /// Fails over every watched primary whose verdict is known without asking (its
    /// host judged lost, or its process gone) at once, as the next probe round would:
    /// that round may be held up to a probe's whole budget by the very host that was
    /// just judged, whose calls hang until they time out.
    pub(super) fn fail_over_decided(&self) {
        let Ok(groups) = self.store().list_replication_groups() else {
            return;
        };
        let mut failures = HashMap::new();
        for g in groups {
            if let Probe::Decided(Some(verdict)) = self.probe_plan(&g) {
                if verdict.1 {
                    self.count_probe(&mut failures, g, Some(verdict));
                }
            }
        }
    }

    /// One health probe of a group's primary; `None` when it answered or is not
    /// watched now (automatic failover off, or the group busy).
    #[cfg(test)]
    pub(super) async fn probe_primary(&self, g: &ReplicationGroup) -> Option<Failure> {
        match self.probe_plan(g) {
            Probe::Decided(verdict) => verdict,
            Probe::Ping { cluster, node, .. } => {
                let agent = self.agent_of(&cluster.nodes[0]);
                let timeout_ms = self.settings().health_check_timeout.as_millis() as u64;
                ping_verdict(
                    cluster,
                    agent.call(AgentRequest::Ping { node, timeout_ms }).await,
                )
            }
        }
    }

    /// What probing a group's primary takes: nothing (the verdict is known without
    /// asking) or a `PING` through its host's agent.
    fn probe_plan(&self, g: &ReplicationGroup) -> Probe {
        let watching = g.automatic_failover
            && g.failover.is_none()
            && matches!(
                g.status,
                ReplicationGroupStatus::Available | ReplicationGroupStatus::Modifying
            );
        let Some(c) = watching
            .then(|| self.store().get_cluster(&g.primary).ok().flatten())
            .flatten()
        else {
            return Probe::Decided(None);
        };
        let Some(n) = c
            .nodes
            .first()
            .filter(|n| n.status == NodeStatus::Available)
        else {
            return Probe::Decided(None);
        };
        if self.host_lost(n) {
            // Nobody reaches its host: as good as a process that exited.
            return Probe::Decided(Some((Box::new(c.clone()), true)));
        }
        if !self.host_healthy(n) {
            // Its agent is silent but its nodes answer other hosts (or that is not
            // known yet): no verdict, so a cut to the control plane fails nothing over.
            return Probe::Decided(None);
        }
        let node = self.node_ref(&c, n);
        if !self.agent_of(n).is_running(&node.key) {
            return Probe::Decided(Some((Box::new(c.clone()), true)));
        }
        let host = n.host.clone();
        Probe::Ping {
            cluster: Box::new(c),
            node,
            host,
        }
    }

    /// Probes every group's primary once, concurrently: the primaries of one host in
    /// one call to its agent (an idle fleet must not cost a link call per group and
    /// interval), with the same timeout and verdicts as one `PING` each. An agent
    /// from before that call is probed node by node, as it always was.
    pub(super) fn probe_primaries(&self, groups: Vec<ReplicationGroup>) -> (Verdicts, Asked) {
        let timeout_ms = self.settings().health_check_timeout.as_millis() as u64;
        let mut decided = Vec::new();
        let mut by_host: HashMap<Option<String>, Vec<Pending>> = HashMap::new();
        for g in groups {
            match self.probe_plan(&g) {
                Probe::Decided(verdict) => decided.push((g, verdict)),
                Probe::Ping {
                    cluster,
                    node,
                    host,
                } => by_host.entry(host).or_default().push((g, cluster, node)),
            }
        }
        let mut hosts = tokio::task::JoinSet::new();
        for (host, probes) in by_host {
            let agent = self.agent_on(host.as_deref());
            hosts.spawn(async move {
                let nodes = probes.iter().map(|(_, _, n)| n.clone()).collect();
                let batch = agent
                    .call(AgentRequest::PingNodes { nodes, timeout_ms })
                    .await;
                let flags = match batch {
                    Ok(AgentReply::Flags(flags)) if flags.len() == probes.len() => flags,
                    Err(AgentError::Unreachable(e)) if !e.contains("unknown variant") => {
                        // The agent did not answer, not the nodes: the host checks decide.
                        return probes.into_iter().map(|(g, _, _)| (g, None)).collect();
                    }
                    _ => return ping_each(agent, probes, timeout_ms).await,
                };
                probes
                    .into_iter()
                    .zip(flags)
                    .map(|((g, c, _), up)| (g, (!up).then_some((c, false))))
                    .collect::<Verdicts>()
            });
        }
        (decided, hosts)
    }

    pub(super) fn start_automatic_failover(&self, id: &str, primary: &str, reason: &str) {
        let started = self.store().transaction(|tx| {
            let Some(mut g) = tx.replication_group(id)? else {
                return Ok(false);
            };
            if g.primary != primary || g.failover.is_some() {
                return Ok(false);
            }
            g.failover = Some(Failover::new(primary, None, false, reason));
            g.status = ReplicationGroupStatus::Modifying;
            tx.put_replication_group(&g)?;
            tx.event(group_event(
                id,
                format!("Primary node {primary} failed ({reason}); automatic failover started"),
            ));
            Ok(true)
        });
        if started.unwrap_or(false) {
            tracing::warn!(replication_group_id = %id, primary, reason, "automatic failover started");
            self.wake();
        }
    }
}

/// A group whose primary is to be pinged: the group, the primary's cluster, its node.
type Pending = (ReplicationGroup, Box<CacheCluster>, NodeRef);
/// Groups and the verdicts of their primaries' probes.
pub(super) type Verdicts = Vec<(ReplicationGroup, Option<Failure>)>;
/// Probes under way, one task per host.
pub(super) type Asked = tokio::task::JoinSet<Verdicts>;

/// What probing one group's primary takes.
enum Probe {
    /// Known without asking.
    Decided(Option<Failure>),
    /// A `PING` of `node` through the agent of `host`.
    Ping {
        cluster: Box<CacheCluster>,
        node: NodeRef,
        host: Option<String>,
    },
}

/// The verdict of one `PING` answer.
fn ping_verdict(
    cluster: Box<CacheCluster>,
    reply: Result<AgentReply, AgentError>,
) -> Option<Failure> {
    match reply {
        Ok(AgentReply::Flag(true)) => None,
        // The agent did not answer, not the node: the host checks decide.
        Err(AgentError::Unreachable(_)) => None,
        _ => Some((cluster, false)),
    }
}

/// One `PING` call per node, concurrently: for an agent that does not know `PingNodes`.
async fn ping_each(
    agent: std::sync::Arc<dyn larder_agent::NodeAgent>,
    probes: Vec<Pending>,
    timeout_ms: u64,
) -> Verdicts {
    let mut pings = tokio::task::JoinSet::new();
    for (g, c, node) in probes {
        let agent = agent.clone();
        pings.spawn(async move {
            let reply = agent.call(AgentRequest::Ping { node, timeout_ms }).await;
            (g, ping_verdict(c, reply))
        });
    }
    let mut out = Vec::new();
    while let Some(Ok(v)) = pings.join_next().await {
        out.push(v);
    }
    out
}
