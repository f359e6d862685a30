//! The hosts of the data plane and their agents. The control plane's own host
//! (`local`) always exists; other hosts join when their `larder agent --join`
//! announces itself, and are kept in the store so a restarted control plane dials
//! them again at once. Every node record names its host; every node-level call
//! goes to that host's agent.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use larder_agent::{AgentError, AgentFuture, AgentRequest, NodeAgent};
use larder_model::{CacheNode, Fault, Host, LOCAL_HOST};
use serde::{Deserialize, Serialize};

/// What a joining agent says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAnnouncement {
    /// Where it serves the agent interface (`addr:port`), reachable from the
    /// control plane.
    pub link: String,
    /// Its availability zone.
    pub zone: String,
    /// The address its nodes and endpoints are reached at.
    pub address: String,
    /// The SHA-256 fingerprint (64 hex digits) of the certificate it serves the
    /// link with.
    pub fingerprint: String,
}

/// How a host looks from the control plane now (`larder agents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    /// Host id.
    pub id: String,
    /// Zones its nodes are placed in.
    pub zones: Vec<String>,
    /// Agent interface address (`in-process` for an agent without one).
    pub link: String,
    /// Address of its nodes and endpoints.
    pub address: String,
    /// `healthy`, `unreachable` (not heard from for a while) or `connecting`.
    pub health: String,
    /// Milliseconds since the agent last answered (0 for an in-process agent).
    pub last_contact_ms: u64,
    /// Nodes placed on it.
    pub nodes: usize,
    /// The fingerprint of the agent's link certificate that the control plane
    /// pins (empty for the local agent, pinned from its data dir).
    #[serde(default)]
    pub fingerprint: String,
}

/// Dials a joined agent at its link address (first argument), accepting only the
/// certificate whose fingerprint is the second.
pub type Connector = Arc<
    dyn Fn(
            String,
            String,
        ) -> Pin<Box<dyn Future<Output = Result<Arc<dyn NodeAgent>, AgentError>> + Send>>
        + Send
        + Sync,
>;

/// A host and the agent that speaks for it.
#[derive(Clone)]
pub(crate) struct HostEntry {
    pub host: Host,
    pub agent: Arc<dyn NodeAgent>,
    /// False while the stand-in waits for the first connection (after a restart).
    pub dialled: bool,
}

/// Every known host.
pub(crate) struct Hosts {
    local: RwLock<HostEntry>,
    joined: RwLock<BTreeMap<String, HostEntry>>,
    connector: RwLock<Option<Connector>>,
}

/// Stands in for a joined agent not dialled yet (or not answering since the control
/// plane started): nothing runs as far as anyone can tell, every call fails, and
/// its silence ages from the moment it was created.
struct Unreached {
    since: Instant,
    link: String,
}

impl NodeAgent for Unreached {
    fn call(&self, _request: AgentRequest) -> AgentFuture<'_> {
        let link = self.link.clone();
        Box::pin(async move { Err(AgentError::Unreachable(format!("{link}: not connected"))) })
    }

    fn is_running(&self, _key: &str) -> bool {
        false
    }

    fn contact_age(&self) -> Option<Duration> {
        Some(self.since.elapsed())
    }
}

impl Hosts {
    pub fn new(local: Host, agent: Arc<dyn NodeAgent>) -> Hosts {
        Hosts {
            local: RwLock::new(HostEntry {
                host: local,
                agent,
                dialled: true,
            }),
            joined: RwLock::new(BTreeMap::new()),
            connector: RwLock::new(None),
        }
    }

    /// The host of `id` (`None` or `local`: the control plane's own).
    pub fn get(&self, id: Option<&str>) -> Option<HostEntry> {
        match id {
            None | Some(LOCAL_HOST) => Some(self.local()),
            Some(id) => self
                .joined
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned(),
        }
    }

    /// Every host, the local one first.
    pub fn all(&self) -> Vec<HostEntry> {
        let mut out = vec![self.local()];
        out.extend(
            self.joined
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned(),
        );
        out
    }

    fn local(&self) -> HostEntry {
        self.local.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn put(&self, entry: HostEntry) {
        self.joined
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.host.id.clone(), entry);
    }

    fn connector(&self) -> Option<Connector> {
        self.connector
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How long an agent may be silent before its host counts as unreachable: twice
/// the long poll (which the agent answers within 1 s), so one slow answer on a
/// loaded host is not silence. Silence alone fails nothing over: the other hosts
/// are asked first (`reconcile/host_health.rs`), so this bounds how soon a cut host
/// is noticed, not whether a partition is mistaken for a failure.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(2);

/// Whether `agent` answers: it did within [`UNREACHABLE_AFTER`] and its host did not
/// refuse the link's last connection (an agent process that is gone, on a host that
/// is up, is known at once instead of after the silence; an in-process one always
/// answers).
pub(crate) fn answers(agent: &dyn NodeAgent) -> bool {
    !agent.link_refused() && agent.contact_age().is_none_or(|a| a <= UNREACHABLE_AFTER)
}

impl HostEntry {
    /// Whether this host's agent answers now.
    pub fn answers(&self) -> bool {
        answers(self.agent.as_ref())
    }
}

impl crate::Controller {
    pub(crate) fn hosts(&self) -> &Hosts {
        &self.inner.hosts
    }

    /// Sets how joined agents are dialled (the binary's link client), then dials
    /// every host the store knows, each in the background until it answers.
    pub fn set_connector(&self, connector: Connector) -> Result<(), Fault> {
        *self
            .hosts()
            .connector
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(connector);
        for host in self.store().list_hosts()? {
            if self.hosts().get(Some(&host.id)).is_none() {
                self.hosts().put(HostEntry {
                    agent: Arc::new(Unreached {
                        since: Instant::now(),
                        link: host.link.clone(),
                    }),
                    host: host.clone(),
                    dialled: false,
                });
                self.spawn_dial(host);
            }
        }
        Ok(())
    }

    fn spawn_dial(&self, host: Host) {
        let Some(connect) = self.hosts().connector() else {
            return;
        };
        let controller = self.clone();
        // A signed join may have replaced this record (a new link or certificate)
        // and dialled it: then this older dial has nothing left to do.
        let superseded = |controller: &crate::Controller, host: &Host| {
            controller
                .hosts()
                .get(Some(&host.id))
                .is_none_or(|e| e.dialled || e.host != *host)
        };
        tokio::spawn(async move {
            loop {
                if superseded(&controller, &host) {
                    return;
                }
                match connect(host.link.clone(), host.fingerprint.clone()).await {
                    Ok(_) if superseded(&controller, &host) => return,
                    Ok(agent) => {
                        tracing::info!(host = %host.id, link = %host.link, "agent connected");
                        controller.hosts().put(HostEntry {
                            host: host.clone(),
                            agent,
                            dialled: true,
                        });
                        controller.wake();
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(host = %host.id, error = %e, "agent not reachable yet");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// Speaks to the control plane's own host through `agent` from now on: the
    /// binary started a new local agent after the last one died. Everything is sent
    /// to it again.
    pub fn replace_local_agent(&self, agent: Arc<dyn NodeAgent>) {
        self.hosts()
            .local
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .agent = agent;
        self.forget_sent_to(LOCAL_HOST);
        self.forget_sent_policies();
        self.wake();
    }

    /// The local agent's silence: how long it has not answered.
    pub fn local_agent_silence(&self) -> Option<Duration> {
        self.hosts().local().agent.contact_age()
    }

    /// An agent announces itself (again). A new host, or one whose link, zone,
    /// address or certificate changed, is stored and dialled; an unchanged one costs
    /// nothing. A new certificate (the agent was reinstalled and made a new key) is
    /// trusted because the announcement is signed with the installation's secret:
    /// the agent is dialled with the new pin, the old one is no longer accepted.
    pub async fn register_host(&self, a: HostAnnouncement) -> Result<(), Fault> {
        let invalid = |why: &str| Fault::InvalidParameterValue(why.to_string());
        if a.address.is_empty() || a.address == LOCAL_HOST || a.zone.is_empty() {
            return Err(invalid("an agent needs an address and a zone"));
        }
        if a.link.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid("an agent's link must be addr:port"));
        }
        if a.fingerprint.len() != 64 || !a.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "an agent's certificate fingerprint must be 64 hex digits",
            ));
        }
        let fingerprint = a.fingerprint.to_ascii_lowercase();
        if let Some(known) = self.hosts().get(Some(&a.address)) {
            if known.host.link == a.link
                && known.host.zones == [a.zone.clone()]
                && known.host.fingerprint == fingerprint
            {
                return Ok(());
            }
            if !known.host.fingerprint.is_empty() && known.host.fingerprint != fingerprint {
                tracing::warn!(host = %a.address, old = %known.host.fingerprint, new = %fingerprint, "agent presents a new link certificate in a signed join; pinning the new one");
            }
        }
        let host = Host {
            id: a.address.clone(),
            zones: vec![a.zone.clone()],
            link: a.link.clone(),
            address: a.address.clone(),
            joined: chrono::Utc::now(),
            fingerprint,
        };
        self.store().put_host(&host)?;
        let connect = self
            .hosts()
            .connector()
            .ok_or_else(|| Fault::Internal("this control plane cannot dial agents".into()))?;
        let agent = connect(host.link.clone(), host.fingerprint.clone())
            .await
            .map_err(|e| invalid(&format!("cannot reach the agent at {}: {e}", host.link)))?;
        tracing::info!(host = %host.id, zone = %a.zone, link = %host.link, "agent joined");
        self.hosts().put(HostEntry {
            host,
            agent,
            dialled: true,
        });
        self.wake();
        Ok(())
    }

    /// Every host and how it looks now.
    pub fn host_statuses(&self) -> Result<Vec<HostStatus>, Fault> {
        let clusters = self.store().list_clusters()?;
        Ok(self
            .hosts()
            .all()
            .into_iter()
            .map(|e| {
                let age = e.agent.contact_age();
                let nodes = clusters
                    .iter()
                    .flat_map(|c| &c.nodes)
                    .filter(|n| n.host.as_deref().unwrap_or(LOCAL_HOST) == e.host.id)
                    .count();
                HostStatus {
                    id: e.host.id.clone(),
                    zones: self.host_zones(&e.host),
                    link: e.host.link.clone(),
                    address: e.host.address.clone(),
                    health: if answers(e.agent.as_ref()) {
                        "healthy".into()
                    } else {
                        "unreachable".into()
                    },
                    last_contact_ms: age.map(|a| a.as_millis() as u64).unwrap_or(0),
                    nodes,
                    fingerprint: e.host.fingerprint.clone(),
                }
            })
            .collect())
    }

    /// The zones nodes may be placed in on `host`: a joined host's own zone; the local
    /// host's configured ones unless it is told to run no nodes.
    pub(crate) fn host_zones(&self, host: &Host) -> Vec<String> {
        if host.id == LOCAL_HOST && !self.settings().local_nodes {
            return Vec::new();
        }
        host.zones.clone()
    }

    /// The agent of the host `node` is on. A node whose host is unknown (its record
    /// names a host that never joined this store) gets the stand-in that answers
    /// nothing, so it looks unreachable rather than local.
    pub(crate) fn agent_of(&self, node: &CacheNode) -> Arc<dyn NodeAgent> {
        self.agent_on(node.host.as_deref())
    }

    /// The agent of host `id`.
    pub(crate) fn agent_on(&self, id: Option<&str>) -> Arc<dyn NodeAgent> {
        match self.hosts().get(id) {
            Some(e) => e.agent,
            None => Arc::new(Unreached {
                since: Instant::now() - UNREACHABLE_AFTER * 10,
                link: id.unwrap_or(LOCAL_HOST).to_string(),
            }),
        }
    }

    /// The address `node` is reached at by clients and other nodes.
    pub(crate) fn node_address(&self, node: &CacheNode) -> String {
        match node.host.as_deref() {
            None | Some(LOCAL_HOST) => self.connect_host(),
            Some(id) => self
                .hosts()
                .get(Some(id))
                .map(|e| e.host.address)
                .unwrap_or_else(|| id.to_string()),
        }
    }

    /// Whether the control plane has heard from `node`'s host since it started
    /// (until then its agent is a stand-in that knows nothing).
    pub(crate) fn host_dialled(&self, node: &CacheNode) -> bool {
        self.hosts()
            .get(node.host.as_deref())
            .is_none_or(|e| e.dialled)
    }

    /// The address the API names for `node` (its Endpoint, discovery entries): the
    /// advertised address of the control plane's host, or the node's own host.
    pub fn node_endpoint_address(&self, node: &CacheNode) -> String {
        match node.host.as_deref() {
            None | Some(LOCAL_HOST) => self.settings().advertise_host.clone(),
            Some(_) => self.node_address(node),
        }
    }

    /// The address `node`'s process listens on.
    pub(crate) fn node_bind(&self, node: &CacheNode) -> String {
        match node.host.as_deref() {
            None | Some(LOCAL_HOST) => self.settings().bind_host.clone(),
            _ => self.node_address(node),
        }
    }
}
