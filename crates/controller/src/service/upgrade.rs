//! ModifyReplicationGroup `EngineVersion`: the checks ElastiCache makes before an
//! upgrade, and the plan the reconcile loop then carries out node by node
//! (`reconcile/upgrade.rs`).

use larder_model::engine::version_order;
use larder_model::{
    CacheParameterGroup, EngineUpgrade, Fault, ReplicationGroup, ReplicationGroupStatus,
    UpgradeStep,
};
use larder_store::Tx;

use super::group_event;
use crate::Controller;

/// Records `u` to wait for the group's maintenance window, shown on every member as
/// `PendingModifiedValues.EngineVersion`. A later request replaces an earlier one.
pub(crate) fn defer_upgrade(
    tx: &mut Tx<'_>,
    g: &mut ReplicationGroup,
    u: EngineUpgrade,
) -> Result<(), Fault> {
    set_members_pending(tx, g, Some(&u.target))?;
    tx.event(group_event(
        &g.id,
        format!(
            "Engine upgrade from {} to {} scheduled for the maintenance window {}",
            g.engine_version, u.target, g.preferred_maintenance_window
        ),
    ));
    g.pending_upgrade = Some(u);
    Ok(())
}

/// Starts `g`'s upgrade now: a deferred one whose window opened, or one asked for
/// with ApplyImmediately (which also takes the place of a deferred one).
pub(crate) fn start_upgrade(
    tx: &mut Tx<'_>,
    g: &mut ReplicationGroup,
    u: EngineUpgrade,
) -> Result<(), Fault> {
    set_members_pending(tx, g, None)?;
    g.pending_upgrade = None;
    tx.event(group_event(
        &g.id,
        format!(
            "Upgrading engine from {} to {}, one node at a time",
            g.engine_version, u.target
        ),
    ));
    g.upgrade = Some(u);
    g.status = ReplicationGroupStatus::Modifying;
    Ok(())
}

/// The maintenance window of `g` is open: its deferred upgrade starts.
pub(crate) fn start_pending_upgrade(
    tx: &mut Tx<'_>,
    g: &mut ReplicationGroup,
) -> Result<(), Fault> {
    match g.pending_upgrade.take() {
        Some(u) => start_upgrade(tx, g, u),
        None => Ok(()),
    }
}

fn set_members_pending(
    tx: &mut Tx<'_>,
    g: &ReplicationGroup,
    version: Option<&str>,
) -> Result<(), Fault> {
    for m in &g.members {
        if let Some(mut c) = tx.cluster(m)? {
            c.pending.engine_version = version.map(str::to_string);
            tx.put_cluster(&c)?;
        }
    }
    Ok(())
}

/// Starts the in-place upgrade `u` of cluster `c` (its only node restarts from its
/// own data; `reconcile/in_place_upgrade.rs`).
pub(crate) fn start_in_place(
    c: &mut larder_model::CacheCluster,
    u: larder_model::InPlaceUpgrade,
    events: &mut Vec<larder_model::Event>,
) {
    events.push(larder_model::Event::cache_cluster(
        &c.id,
        format!(
            "Upgrading engine from {} to {}: writes pause while the node restarts from its data",
            c.engine_version, u.target
        ),
    ));
    c.pending.engine_version = None;
    c.upgrade = Some(u);
    c.status = larder_model::ClusterStatus::Modifying;
}

/// What an upgrade moves to: the engine version and the parameter group.
pub(crate) struct UpgradeTarget {
    pub version: String,
    pub parameter_group: String,
}

impl Controller {
    /// The upgrade `requested` asks of `g`, or `None` when it names the version `g`
    /// runs. Refused: what [`Controller::upgrade_target`] refuses. A group without
    /// a replica upgrades its lone member in place. The same checks hold for an
    /// upgrade deferred to the window.
    pub(crate) fn plan_upgrade(
        &self,
        g: &ReplicationGroup,
        requested: &str,
        given_group: Option<&str>,
    ) -> Result<Option<EngineUpgrade>, Fault> {
        let Some(t) = self.upgrade_target(
            &format!("replication group {}", g.id),
            g.engine,
            &g.engine_version,
            &g.cache_parameter_group_name,
            requested,
            given_group,
        )?
        else {
            return Ok(None);
        };
        // Without a replica to switch to, the lone member restarts from its own data.
        let step = if g.members.len() < 2 {
            UpgradeStep::InPlace { started: false }
        } else {
            UpgradeStep::Replicas
        };
        Ok(Some(EngineUpgrade {
            target: t.version,
            parameter_group: t.parameter_group,
            step,
        }))
    }

    /// The in-place upgrade `requested` asks of cache cluster `c` (a Redis cluster of
    /// one node, not in a replication group), or `None` when it names the version
    /// `c` runs. Memcached has one installed version and no data to keep, so a
    /// change of its version is refused.
    pub(crate) fn plan_in_place_upgrade(
        &self,
        c: &larder_model::CacheCluster,
        requested: &str,
        given_group: Option<&str>,
    ) -> Result<Option<larder_model::InPlaceUpgrade>, Fault> {
        let Some(t) = self.upgrade_target(
            &format!("cache cluster {}", c.id),
            c.engine,
            &c.engine_version,
            &c.cache_parameter_group_name,
            requested,
            given_group,
        )?
        else {
            return Ok(None);
        };
        if !c.engine.is_redis_like() {
            return Err(Fault::InvalidParameterCombination(
                "Larder does not change the engine version of a Memcached cluster yet.".into(),
            ));
        }
        if c.nodes.len() != 1 {
            return Err(Fault::InvalidParameterCombination(format!(
                "Cache cluster {} has {} nodes; an in-place upgrade needs exactly one.",
                c.id,
                c.nodes.len()
            )));
        }
        Ok(Some(larder_model::InPlaceUpgrade::new(
            &t.version,
            &t.parameter_group,
        )))
    }

    /// The version and parameter group an upgrade of `what` (running `current` with
    /// `group`) to `requested` moves to, or `None` when `requested` names the
    /// current version. Refused: a version not installed, a downgrade (as on
    /// ElastiCache), and a custom parameter group of the old family (its values may
    /// not fit the new engine).
    pub(crate) fn upgrade_target(
        &self,
        what: &str,
        engine: larder_model::Engine,
        current: &str,
        group: &str,
        requested: &str,
        given_group: Option<&str>,
    ) -> Result<Option<UpgradeTarget>, Fault> {
        if names_current(requested, current) {
            return Ok(None);
        }
        let target = self.engines().resolve(engine, Some(requested))?.clone();
        if version_order(&target.version) < version_order(current) {
            return Err(Fault::InvalidParameterCombination(format!(
                "Cannot downgrade {what} from {current} to {}.",
                target.version
            )));
        }
        if let Some(given) = given_group {
            // The group to run on the new version, named with the upgrade: it must
            // be of the new version's family (checked as on a create).
            let parameter_group = self.resolve_parameter_group(Some(given), &target)?;
            return Ok(Some(UpgradeTarget {
                version: target.version,
                parameter_group,
            }));
        }
        let current_group = self.parameter_group(group)?;
        let parameter_group = if current_group.family == target.family {
            current_group.name
        } else if current_group.is_default() {
            CacheParameterGroup::default_of(&target.family).name
        } else {
            return Err(Fault::InvalidParameterCombination(format!(
                "The {what} uses the custom parameter group {} of family {}; engine {} needs family {}: name a parameter group of that family with the upgrade (CacheParameterGroupName).",
                current_group.name, current_group.family, target.version, target.family
            )));
        };
        Ok(Some(UpgradeTarget {
            version: target.version,
            parameter_group,
        }))
    }
}

/// Whether a requested EngineVersion asks for a version other than `current`.
pub(crate) fn asks_upgrade(requested: Option<&str>, current: &str) -> bool {
    requested.is_some_and(|r| !names_current(r, current))
}

/// Whether a requested version names the current one (`7.0` or `7.x` for `7.0.15`).
fn names_current(requested: &str, current: &str) -> bool {
    let r = requested.strip_suffix(".x").unwrap_or(requested);
    current == r || current.starts_with(&format!("{r}."))
}
