//! Service updates: a newer patch of an engine minor version installed on the hosts
//! (say redis-server 6.2.14 beside 6.2.7), offered to every cluster and replication
//! group on an older patch of that minor version, as ElastiCache offers its engine
//! patches. Applying one is an engine upgrade, node by node, like any other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::version_order;
use crate::Engine;

/// Days after its release by which an update is recommended to be applied.
pub const RECOMMENDED_WITHIN_DAYS: i64 = 30;

/// One service update: engine `engine` at patch `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUpdate {
    /// `larder-<engine>-<version>`.
    pub name: String,
    /// The engine it updates.
    pub engine: Engine,
    /// The patch version it brings.
    pub version: String,
    /// When this installation first offered it.
    pub release_date: DateTime<Utc>,
}

impl ServiceUpdate {
    /// The name of the update that brings `engine` at `version`.
    pub fn name_for(engine: Engine, version: &str) -> String {
        format!("larder-{}-{version}", engine.as_str())
    }

    /// The date by which it should be applied.
    pub fn recommended_apply_by(&self) -> DateTime<Utc> {
        self.release_date + chrono::Duration::days(RECOMMENDED_WITHIN_DAYS)
    }

    /// Whether something running `engine` at `version` is offered this update: the
    /// same engine and minor version, an older patch.
    pub fn applies_to(&self, engine: Engine, version: &str) -> bool {
        engine == self.engine && is_older_patch(version, &self.version)
    }
}

/// Whether `have` is an older patch of `want`'s minor version (6.2.7 of 6.2.14).
pub fn is_older_patch(have: &str, want: &str) -> bool {
    let (have, want) = (version_order(have), version_order(want));
    have.get(..2) == want.get(..2) && have < want
}

/// What was asked of a cluster or group about one service update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRecord {
    /// The service update's name.
    pub name: String,
    /// What was asked.
    pub state: UpdateState,
    /// When it was asked.
    pub modified: DateTime<Utc>,
}

/// What BatchApplyUpdateAction or BatchStopUpdateAction asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateState {
    /// Applied (the upgrade was started).
    Applied,
    /// Stopped before it was applied.
    Stopped,
}

/// An update action's status, in ElastiCache's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateActionStatus {
    NotApplied,
    InProgress,
    Stopped,
    Complete,
}

impl UpdateActionStatus {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateActionStatus::NotApplied => "not-applied",
            UpdateActionStatus::InProgress => "in-progress",
            UpdateActionStatus::Stopped => "stopped",
            UpdateActionStatus::Complete => "complete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_applies_to_older_patches_of_its_minor_version_only() {
        let u = ServiceUpdate {
            name: ServiceUpdate::name_for(Engine::Redis, "6.2.14"),
            engine: Engine::Redis,
            version: "6.2.14".into(),
            release_date: Utc::now(),
        };
        assert_eq!(u.name, "larder-redis-6.2.14");
        assert!(u.applies_to(Engine::Redis, "6.2.7"));
        assert!(!u.applies_to(Engine::Redis, "6.2.14"));
        assert!(!u.applies_to(Engine::Redis, "6.0.16"));
        assert!(!u.applies_to(Engine::Redis, "7.0.15"));
        assert!(!u.applies_to(Engine::Valkey, "6.2.7"));
        // Numeric, not text, order: 6.2.9 is older than 6.2.14.
        assert!(u.applies_to(Engine::Redis, "6.2.9"));
    }
}
