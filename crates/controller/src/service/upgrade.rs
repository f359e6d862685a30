//! ModifyReplicationGroup `EngineVersion`: the checks ElastiCache makes before an
//! upgrade, and the plan the reconcile loop then carries out node by node
//! (`reconcile/upgrade.rs`).

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

/// `N.N.N` as numbers, for ordering versions.
fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

impl Controller {
    /// The upgrade `requested` asks of `g`, or `None` when it names the version `g`
    /// runs. Refused: a version not installed, a downgrade (as on ElastiCache), a
    /// group without a replica (its only node would restart without its data), and
    /// a custom parameter group of the old family (its values may not fit the new
    /// engine). The same checks hold for an upgrade deferred to the window.
    pub(crate) fn plan_upgrade(
        &self,
        g: &ReplicationGroup,
        requested: &str,
    ) -> Result<Option<EngineUpgrade>, Fault> {
        if names_current(requested, g) {
            return Ok(None);
        }
        let target = self.engines().resolve(g.engine, Some(requested))?.clone();
        if version_key(&target.version) < version_key(&g.engine_version) {
            return Err(Fault::InvalidParameterCombination(format!(
                "Cannot downgrade replication group {} from {} to {}.",
                g.id, g.engine_version, target.version
            )));
        }
        if g.members.len() < 2 {
            return Err(Fault::InvalidParameterCombination(format!(
                "Replication group {} has no replica; Larder upgrades a group by restarting replicas first and does not yet restart a lone primary from its data.",
                g.id
            )));
        }
        let current = self.parameter_group(&g.cache_parameter_group_name)?;
        let parameter_group = if current.family == target.family {
            current.name
        } else if current.is_default() {
            CacheParameterGroup::default_of(&target.family).name
        } else {
            return Err(Fault::InvalidParameterCombination(format!(
                "Replication group {} uses the custom parameter group {} of family {}; engine {} needs family {}, and switching groups during an upgrade is not supported by Larder yet.",
                g.id, current.name, current.family, target.version, target.family
            )));
        };
        Ok(Some(EngineUpgrade {
            target: target.version,
            parameter_group,
            step: UpgradeStep::Replicas,
        }))
    }
}

/// Whether a requested version names the group's own (`7.0` or `7.x` for `7.0.15`).
fn names_current(requested: &str, g: &ReplicationGroup) -> bool {
    let r = requested.strip_suffix(".x").unwrap_or(requested);
    g.engine_version == r || g.engine_version.starts_with(&format!("{r}."))
}
