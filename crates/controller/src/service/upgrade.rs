//! ModifyReplicationGroup `EngineVersion`: the checks ElastiCache makes before an
//! upgrade, and the plan the reconcile loop then carries out node by node
//! (`reconcile/upgrade.rs`).

use larder_model::{CacheParameterGroup, EngineUpgrade, Fault, ReplicationGroup, UpgradeStep};

use crate::Controller;

/// `N.N.N` as numbers, for ordering versions.
fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

impl Controller {
    /// The upgrade `requested` asks of `g`, or `None` when it names the version `g`
    /// runs. Refused: a version not installed, a downgrade (as on ElastiCache), a
    /// deferred upgrade (Larder applies them at once only), a group without a
    /// replica (its only node would restart without its data), and a custom
    /// parameter group of the old family (its values may not fit the new engine).
    pub(crate) fn plan_upgrade(
        &self,
        g: &ReplicationGroup,
        requested: &str,
        apply_immediately: bool,
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
        if !apply_immediately {
            return Err(Fault::InvalidParameterCombination(
                "Larder applies engine upgrades immediately only: set ApplyImmediately=true (upgrades in the maintenance window are not implemented yet).".into(),
            ));
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
