//! The control plane's side of the link: [`RemoteAgent`] implements [`NodeAgent`]
//! over HTTP/JSON in TLS (the agent's certificate pinned), and keeps the agent's latest [`Observation`] from a long poll so
//! `is_running` costs no round trip.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use larder_agent::{
    AgentError, AgentFuture, AgentReply, AgentRequest, NodeAgent, Observation, ReplicationView,
};

use crate::auth::LinkSecret;
use crate::identity::Fingerprint;
use crate::signed::SignedClient;
use crate::wire::{AgentInfo, CallResult, Observed, CALL_PATH, INFO_PATH, OBSERVE_PATH, STOP_PATH};

/// How long the long poll asks the agent to hold a request: short enough that the
/// agent hears from its control plane well within its contact grace, and that a
/// healthy agent is never silent for long (the control plane judges a host after
/// `UNREACHABLE_AFTER` of silence, 2 s). One small exchange a second per host.
const POLL_WAIT_MS: u64 = 1_000;
/// Pause before polling again after the agent could not be reached.
const RETRY: Duration = Duration::from_millis(100);
/// Extra time a call may take beyond the wait its request names.
const CALL_MARGIN: Duration = Duration::from_secs(10);
/// Extra time a health probe may take beyond its own timeout.
const PROBE_MARGIN: Duration = Duration::from_secs(1);
/// How long a node query (`INFO replication`) may take in all.
const QUERY_BUDGET: Duration = Duration::from_secs(2);

/// A `larder agent` process, reached over the link.
#[derive(Clone)]
pub struct RemoteAgent {
    inner: Arc<Inner>,
}

struct Inner {
    link: SignedClient,
    observed: RwLock<Observed>,
    /// When the agent last answered anything (a call or a poll).
    last_contact: std::sync::Mutex<std::time::Instant>,
    /// The last attempt to reach the agent was refused (and none answered since).
    refused: AtomicBool,
}

impl std::fmt::Debug for RemoteAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteAgent({})", self.inner.link.addr())
    }
}

/// How long a request may take: the wait it names, plus a margin. A health probe
/// gets a short one: a host whose link is cut must cost the health loop a probe
/// timeout, not the margin of a slow call.
fn budget(request: &AgentRequest) -> Duration {
    let (named, margin) = match request {
        AgentRequest::Ping { timeout_ms, .. } | AgentRequest::PingNodes { timeout_ms, .. } => {
            (*timeout_ms, PROBE_MARGIN)
        }
        // Read-only and asked on every pass: a cut link must not hold a pass (and
        // the failover waiting behind it) for the margin of a slow call.
        AgentRequest::ReplicationInfo { .. } | AgentRequest::UsedMemory { .. } => (0, QUERY_BUDGET),
        AgentRequest::WaitReady { timeout_ms, .. }
        | AgentRequest::StreamingReplicas { timeout_ms, .. }
        | AgentRequest::ProbeSource { timeout_ms, .. }
        | AgentRequest::SaveSnapshot { timeout_ms, .. } => (*timeout_ms, CALL_MARGIN),
        _ => (0, CALL_MARGIN),
    };
    Duration::from_millis(named) + margin
}

/// Whether a request may change what the agent observes: which processes run, or
/// a node's replication.
fn changes_observation(request: &AgentRequest) -> bool {
    matches!(
        request,
        AgentRequest::StartNode(_)
            | AgentRequest::RestartNode(_)
            | AgentRequest::StopNode { .. }
            | AgentRequest::Fence { .. }
            | AgentRequest::RemoveData { .. }
            | AgentRequest::Replication { .. }
    )
}

impl RemoteAgent {
    /// Connects to the agent at `addr` whose certificate is `pin`: reads its first
    /// observation (so no node looks dead before the agent has said anything) and
    /// starts the long poll.
    pub async fn connect(
        addr: SocketAddr,
        secret: LinkSecret,
        pin: Fingerprint,
    ) -> Result<RemoteAgent, AgentError> {
        let agent = RemoteAgent {
            inner: Arc::new(Inner {
                link: SignedClient::pinned(addr, secret, pin),
                observed: RwLock::new(Observed {
                    epoch: String::new(),
                    observation: Observation::default(),
                }),
                last_contact: std::sync::Mutex::new(std::time::Instant::now()),
                refused: AtomicBool::new(false),
            }),
        };
        agent.refresh(0).await?;
        let poller = Arc::downgrade(&agent.inner);
        tokio::spawn(async move {
            while let Some(inner) = poller.upgrade() {
                let agent = RemoteAgent { inner };
                if agent.refresh(POLL_WAIT_MS).await.is_err() {
                    tokio::time::sleep(RETRY).await;
                }
            }
        });
        Ok(agent)
    }

    /// The agent's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.link.addr()
    }

    /// Who the agent is.
    pub async fn info(&self) -> Result<AgentInfo, AgentError> {
        let body = self.send("GET", INFO_PATH, Vec::new(), CALL_MARGIN).await?;
        serde_json::from_slice(&body).map_err(|e| AgentError::Unreachable(e.to_string()))
    }

    /// Asks the agent to stop every node and endpoint and exit.
    pub async fn stop(&self) -> Result<(), AgentError> {
        self.send("POST", STOP_PATH, Vec::new(), CALL_MARGIN)
            .await?;
        Ok(())
    }

    /// The latest observation this side holds.
    pub fn observation(&self) -> Observation {
        self.read().observation.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Observed> {
        self.inner
            .observed
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches the next observation (waiting up to `wait_ms` for a change) and keeps it
    /// if it is newer than the one held.
    async fn refresh(&self, wait_ms: u64) -> Result<(), AgentError> {
        let (epoch, after) = {
            let o = self.read();
            (o.epoch.clone(), o.observation.version)
        };
        let after = if wait_ms == 0 { 0 } else { after };
        let path = format!("{OBSERVE_PATH}?epoch={epoch}&after={after}&wait_ms={wait_ms}");
        let timeout = Duration::from_millis(wait_ms) + CALL_MARGIN;
        let body = self.send("GET", &path, Vec::new(), timeout).await?;
        let got: Observed =
            serde_json::from_slice(&body).map_err(|e| AgentError::Unreachable(e.to_string()))?;
        let mut held = self
            .inner
            .observed
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if got.epoch != held.epoch || got.observation.version >= held.observation.version {
            *held = got;
        }
        Ok(())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, AgentError> {
        let sent = self.inner.link.exchange(method, path, body, timeout).await;
        let bytes = match sent {
            Ok(bytes) => bytes,
            Err(failure) => {
                if failure.refused {
                    self.inner.refused.store(true, Ordering::SeqCst);
                }
                return Err(failure.error);
            }
        };
        self.inner.refused.store(false, Ordering::SeqCst);
        *self
            .inner
            .last_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        Ok(bytes)
    }

    async fn call_remote(&self, request: AgentRequest) -> Result<AgentReply, AgentError> {
        let timeout = budget(&request);
        let refresh = changes_observation(&request);
        let body = serde_json::to_vec(&request).map_err(|e| AgentError::Remote(e.to_string()))?;
        let bytes = self.send("POST", CALL_PATH, body, timeout).await;
        if refresh {
            // Whatever the outcome, the processes or the node's replication may have
            // changed: read them back before the caller asks `is_running` or looks
            // at the node's replication.
            let _ = self.refresh(0).await;
        }
        let result: CallResult =
            serde_json::from_slice(&bytes?).map_err(|e| AgentError::Unreachable(e.to_string()))?;
        result.map_err(AgentError::Remote)
    }
}

impl NodeAgent for RemoteAgent {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        Box::pin(self.call_remote(request))
    }

    fn is_running(&self, key: &str) -> bool {
        self.read().observation.running.contains(key)
    }

    fn replication_view(&self, key: &str) -> Option<ReplicationView> {
        self.read().observation.replication.get(key).cloned()
    }

    fn link_refused(&self) -> bool {
        self.inner.refused.load(Ordering::SeqCst)
    }

    fn contact_age(&self) -> Option<Duration> {
        let at = *self
            .inner
            .last_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Some(at.elapsed())
    }
}
