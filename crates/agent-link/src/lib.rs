//! The link between Larder's control plane and its node agents: the agent interface
//! ([`larder_agent::AgentRequest`]) served over HTTP/JSON in TLS by a `larder agent`
//! process, every request signed with the installation's shared secret, the agent's
//! certificate pinned by the control plane, and the agent's observations pushed to
//! the control plane by a long poll.

pub mod auth;
mod client;
pub mod identity;
mod listener;
pub mod pinning;
mod server;
mod signed;
pub mod wire;

pub use auth::{LinkSecret, Verifier};
pub use client::RemoteAgent;
pub use identity::{Fingerprint, LinkIdentity};
pub use listener::{serve_tls, LinkStats};
pub use server::{authenticate, router};
pub use signed::SignedClient;
pub use wire::{AgentInfo, JoinRequest, AGENTS_PATH};
