//! The engine upgrade of a cache cluster that has no replica to switch to: its only
//! node restarts on the new binary from a dump of its own data. Writes are paused
//! from before the dump until the old process is gone, so nothing acknowledged is
//! left out of the dump; every step is recorded so a crash resumes it safely.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SnapshotFile;

/// Attempts at pausing and saving before the upgrade is given up (writes resume on
/// the old version and the cluster goes back to `available`).
pub const MAX_ATTEMPTS: u32 = 3;

/// An in-place engine upgrade in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InPlaceUpgrade {
    /// The engine version the node moves to.
    pub target: String,
    /// The parameter group the cluster uses after the upgrade.
    pub parameter_group: String,
    /// Where it stands.
    pub step: InPlaceStep,
}

/// The stages of an [`InPlaceUpgrade`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InPlaceStep {
    /// Writes paused (no earlier than `paused_until` they may resume by themselves),
    /// the node asked to save its data as attempt `attempt`.
    Save {
        attempt: u32,
        paused_until: Option<DateTime<Utc>>,
    },
    /// The dump of attempt `attempt` is complete on the node's host; the process
    /// `old_pid` (the paused one) is replaced by one on the new binary loading it.
    Restart {
        attempt: u32,
        paused_until: DateTime<Utc>,
        file: SnapshotFile,
        old_pid: u32,
    },
    /// The node runs the new version: the dump is discarded, then the record ends.
    Finish { attempt: u32 },
}

impl InPlaceUpgrade {
    /// A new upgrade to `target`, at its first step.
    pub fn new(target: &str, parameter_group: &str) -> InPlaceUpgrade {
        InPlaceUpgrade {
            target: target.to_string(),
            parameter_group: parameter_group.to_string(),
            step: InPlaceStep::Save {
                attempt: 1,
                paused_until: None,
            },
        }
    }

    /// The agent-side name of attempt `attempt`'s dump of cluster `id`.
    pub fn dump_name(id: &str, attempt: u32) -> String {
        format!("upgrade-{id}-{attempt}")
    }
}
