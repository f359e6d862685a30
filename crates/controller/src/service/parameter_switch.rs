//! Switching a cache to another parameter group (ModifyCacheCluster and
//! ModifyReplicationGroup with `CacheParameterGroupName`): the new group is checked
//! as a create would check it, then the cluster records it and starts a round that
//! brings its running nodes to the new group's values (`reconcile/parameters.rs`).

use larder_model::parameter_apply::{node_values, NodeValues};
use larder_model::{CacheCluster, Engine, Event, Fault};

use crate::{Controller, EngineVersion};

/// A checked change of a cache's parameter group.
pub(crate) struct GroupSwitch {
    /// The group switched to.
    pub(crate) name: String,
    /// What the old group gives the nodes (used when a record has no applied values).
    before: NodeValues,
    /// What the new group gives them.
    after: NodeValues,
}

impl GroupSwitch {
    /// Records the switch on cluster `c` and starts bringing its nodes there.
    pub(crate) fn apply(&self, c: &mut CacheCluster, events: &mut Vec<Event>) {
        if c.cache_parameter_group_name == self.name {
            return;
        }
        c.cache_parameter_group_name = self.name.clone();
        c.parameter_apply.begin(&self.before, self.after.clone());
        events.push(Event::cache_cluster(
            &c.id,
            format!("Cache parameter group changed to {}", self.name),
        ));
    }
}

impl Controller {
    /// Checks a CacheParameterGroupName on a modify of a cache of `engine` `version`
    /// that now uses `current`: `None` when it names that group or nothing, else
    /// the switch. The new group must exist (`CacheParameterGroupNotFound`), be of
    /// the engine's family and be one Larder applies (`InvalidParameterCombination`,
    /// as on create).
    pub(crate) fn parameter_switch(
        &self,
        requested: Option<&str>,
        engine: Engine,
        version: &str,
        current: &str,
    ) -> Result<Option<GroupSwitch>, Fault> {
        let Some(requested) = requested else {
            return Ok(None);
        };
        let version = EngineVersion::new(engine, version);
        let name = self.resolve_parameter_group(Some(requested), &version)?;
        if name == current {
            return Ok(None);
        }
        let before = self
            .parameter_group(current)
            .map(|g| node_values(&g))
            .unwrap_or_default();
        let after = node_values(&self.parameter_group(&name)?);
        Ok(Some(GroupSwitch {
            name,
            before,
            after,
        }))
    }
}
