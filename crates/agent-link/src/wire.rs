//! The shapes that travel between control plane and agent, and their paths.

use larder_agent::{AgentReply, Observation};
use serde::{Deserialize, Serialize};

/// POST: one [`larder_agent::AgentRequest`] in, one [`CallResult`] out.
pub const CALL_PATH: &str = "/v1/call";
/// GET `?epoch=E&after=V&wait_ms=M`: the next [`Observed`] (a long poll).
pub const OBSERVE_PATH: &str = "/v1/observations";
/// GET: [`AgentInfo`].
pub const INFO_PATH: &str = "/v1/info";
/// POST: stop every node and endpoint, then the agent itself.
pub const STOP_PATH: &str = "/v1/stop";
/// On the control plane's API listener: POST a [`JoinRequest`] (an agent joins or
/// renews), GET the hosts it knows (what `larder agents` prints). Signed like every
/// request on the link.
pub const AGENTS_PATH: &str = "/larder/v1/agents";
/// Largest request body the agent reads.
pub const MAX_BODY: usize = 1 << 20;
/// Longest a long poll is held open.
pub const MAX_WAIT_MS: u64 = 30_000;

/// The outcome of a call: the reply, or the agent's error as text.
pub type CallResult = Result<AgentReply, String>;

/// An observation and the agent instance that made it; versions restart with the
/// agent process, so a new epoch replaces whatever the reader had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Random per agent process.
    pub epoch: String,
    /// The observation.
    pub observation: Observation,
}

/// What an agent tells the control plane it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Where the agent serves the link (`addr:port`, reachable from the control plane).
    pub link: String,
    /// Its availability zone.
    pub zone: String,
    /// The address its nodes and endpoints are reached at.
    pub address: String,
    /// The SHA-256 fingerprint of the certificate it serves the link with: the
    /// control plane accepts that certificate alone. The join is signed, so only a
    /// holder of the installation's secret can name it.
    pub fingerprint: String,
}

/// Who an agent is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's process id.
    pub pid: u32,
    /// Its availability zone.
    pub zone: String,
    /// The address its nodes and endpoints advertise.
    pub advertise_host: String,
    /// The Larder version it runs.
    pub version: String,
    /// The observation epoch (changes when the agent restarts).
    pub epoch: String,
    /// The fingerprint of the certificate it serves the link with.
    #[serde(default)]
    pub fingerprint: String,
    /// TLS handshakes its listener completed since it started (a control plane
    /// keeps its connections, so this barely grows on a steady link).
    #[serde(default)]
    pub handshakes: u64,
    /// Connections its listener refused in the handshake (plain HTTP, a wrong or
    /// silent peer).
    #[serde(default)]
    pub refused_handshakes: u64,
}
