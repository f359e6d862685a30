//! A host of the data plane: one `larder agent` and the nodes and endpoints it runs.
//! ElastiCache hides its hosts; Larder shows them (`larder agents`) because the
//! operator owns them, and because a host is what a zone failure takes down.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The id of the host that `larder server` starts (or joins) on its own machine.
pub const LOCAL_HOST: &str = "local";

/// A host the control plane knows, as kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Stable id: the advertised address for joined agents, [`LOCAL_HOST`] for the
    /// control plane's own.
    pub id: String,
    /// The availability zones nodes placed on this host report. A joined agent has
    /// one; the local one offers every zone of the region when no agent has joined.
    pub zones: Vec<String>,
    /// Where the agent serves the agent interface (`addr:port`).
    pub link: String,
    /// The address the host's nodes and endpoints are reached at by clients and by
    /// the other hosts' nodes.
    pub address: String,
    /// When the agent first joined.
    pub joined: DateTime<Utc>,
    /// The SHA-256 fingerprint of the certificate the agent serves the link with, as
    /// its last signed join named it; the control plane accepts no other. Empty in a
    /// record from before the TLS link: such a host is dialled again once it joins.
    #[serde(default)]
    pub fingerprint: String,
}
