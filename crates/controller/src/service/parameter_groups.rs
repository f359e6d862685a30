//! Cache parameter groups: the read-only defaults of every installed family
//! (derived, never stored) and custom groups (stored with the values users set).
//! Values are checked against the family's table (`larder_model::parameters`)
//! before anything is written.

use larder_model::parameter_apply::node_values;
use larder_model::{
    arn, parameters, CacheCluster, CacheParameterGroup, Engine, Fault, ParameterView, Tag,
};
use larder_model::{ParameterDef, ParameterSource};

use super::paginate;
use crate::{Controller, EngineVersion};

/// Refuses a group whose values Larder would accept and ignore on a running cache:
/// cluster mode, which Larder does not have yet, and service parameters it does not
/// act on.
fn refuse_unapplied(g: &CacheParameterGroup) -> Result<(), Fault> {
    if g.values.get("cluster-enabled").is_some_and(|v| v == "yes") {
        return Err(Fault::InvalidParameterCombination(format!(
            "Parameter group {} turns on cluster mode, which Larder does not support yet.",
            g.name
        )));
    }
    if let Some(k) = g
        .values
        .keys()
        .find(|k| parameters::is_unapplied_service_parameter(k))
    {
        return Err(Fault::InvalidParameterCombination(format!(
            "Parameter group {} sets {k}, which Larder does not apply to nodes yet.",
            g.name
        )));
    }
    Ok(())
}

/// A page of parameter groups or parameters.
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub marker: Option<String>,
}

impl<T> Page<T> {
    fn of(items: Vec<T>, max_records: Option<i64>, marker: Option<&str>) -> Result<Self, Fault> {
        let (items, marker) = paginate(items, max_records, marker)?;
        Ok(Page { items, marker })
    }
}

impl Controller {
    /// The default groups of the installed families, by name: `default.<family>`,
    /// and for redis and valkey also the cluster-mode `default.<family>.cluster.on`.
    pub fn default_parameter_groups(&self) -> Vec<CacheParameterGroup> {
        let mut out = Vec::new();
        for v in &self.engines().versions {
            if !parameters::is_known_family(&v.family) {
                continue;
            }
            out.push(CacheParameterGroup::default_of(&v.family));
            if v.engine != Engine::Memcached {
                out.push(CacheParameterGroup::cluster_on_default_of(&v.family));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// A default or custom group by name, or `CacheParameterGroupNotFound`.
    pub fn parameter_group(&self, name: &str) -> Result<CacheParameterGroup, Fault> {
        if let Some(g) = self
            .default_parameter_groups()
            .into_iter()
            .find(|g| g.name == name)
        {
            return Ok(g);
        }
        self.store()
            .get_parameter_group(name)?
            .ok_or_else(|| Fault::CacheParameterGroupNotFound(name.to_string()))
    }

    /// Checks that a CacheParameterGroupName on a modify names a group that exists
    /// (`CacheParameterGroupNotFound` otherwise), before any transaction; whether
    /// it is the cache's own group is checked against the record.
    pub(crate) fn require_existing_parameter_group(
        &self,
        requested: Option<&str>,
    ) -> Result<(), Fault> {
        match requested {
            Some(name) => self.parameter_group(&name.to_ascii_lowercase()).map(drop),
            None => Ok(()),
        }
    }

    /// The parameter group a new cache of `version` runs with: its family's default,
    /// or the named group, which must exist and be of the engine's family. Cluster
    /// mode groups are refused (Larder has no cluster mode yet), and so are custom
    /// memcached groups (their values are not yet given to memcached's command line),
    /// rather than recorded and ignored. Switching groups checks the same.
    pub(crate) fn resolve_parameter_group(
        &self,
        requested: Option<&str>,
        version: &EngineVersion,
    ) -> Result<String, Fault> {
        let Some(name) = requested else {
            return Ok(version.default_parameter_group());
        };
        let g = self.parameter_group(&name.to_ascii_lowercase())?;
        if g.family != version.family {
            return Err(Fault::InvalidParameterCombination(format!(
                "Parameter group {} is of family {}, but engine {} {} needs family {}.",
                g.name, g.family, version.engine, version.version, version.family
            )));
        }
        refuse_unapplied(&g)?;
        if !g.is_default() && version.engine == Engine::Memcached {
            return Err(Fault::InvalidParameterCombination(format!(
                "Parameter group {} is a custom memcached group; Larder applies custom groups to redis and valkey only so far.",
                g.name
            )));
        }
        Ok(g.name)
    }

    /// The share of a node's memory kept out of its dataset: the group's
    /// `reserved-memory-percent`, else the daemon's setting.
    pub(crate) fn reserved_memory_percent(&self, c: &CacheCluster) -> u64 {
        self.store()
            .get_parameter_group(&c.cache_parameter_group_name)
            .ok()
            .flatten()
            .and_then(|g| g.values.get("reserved-memory-percent")?.parse().ok())
            .unwrap_or(self.settings().reserved_memory_percent)
    }

    /// The configuration directives a node of `c` starts with from its custom
    /// parameter group: the values users set that are redis directives. Default
    /// groups add nothing (the agent's config already has ElastiCache's defaults).
    pub(crate) fn parameter_config(&self, c: &CacheCluster) -> Vec<(String, String)> {
        if c.engine == Engine::Memcached {
            return Vec::new();
        }
        // ElastiCache's defaults where the binary's own differ (maxmemory-samples 3
        // where redis has 5, ...), so the node runs what the group says it does.
        let mut values: std::collections::BTreeMap<String, String> =
            self.service_defaults(c).into_iter().collect();
        if !c.cache_parameter_group_name.starts_with("default.") {
            match self
                .store()
                .get_parameter_group(&c.cache_parameter_group_name)
            {
                Ok(Some(g)) => values.extend(
                    g.values
                        .into_iter()
                        .filter(|(k, _)| parameters::is_redis_directive(k)),
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(cache_cluster_id = %c.id, error = %e, "parameter group unreadable; starting with defaults");
                }
            }
        }
        values.into_iter().collect()
    }

    /// The family's defaults that differ from what `c`'s binary does by itself (read
    /// from the engine by the agent); none when the binary's defaults are unknown.
    fn service_defaults(&self, c: &CacheCluster) -> Vec<(String, String)> {
        let Some(engine_defaults) = self.engines().defaults_of(c.engine, &c.engine_version) else {
            return Vec::new();
        };
        let family = EngineVersion::new(c.engine, &c.engine_version).family;
        parameters::of_family(&family)
            .into_iter()
            .filter(|d| d.modifiable && parameters::is_redis_directive(d.name))
            .filter_map(|d| {
                let ours = d.default?;
                let theirs = engine_defaults.get(d.name)?;
                (ours != theirs).then(|| (d.name.to_string(), ours.to_string()))
            })
            .collect()
    }

    /// Whether the installed engines of `family` know parameter `name`: the service's
    /// own parameters and the ones it sets itself always count; an engine parameter
    /// counts when every binary of the family whose parameters are known has it.
    fn family_accepts(&self, family: &str, def: &ParameterDef) -> bool {
        !def.modifiable
            || parameters::is_service_parameter(def.name)
            || self.engines().family_accepts(family, def.name)
    }

    /// Creates an empty custom group of a family Larder has a table for.
    pub fn create_cache_parameter_group(
        &self,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<CacheParameterGroup, Fault> {
        if !parameters::is_known_family(family) {
            return Err(Fault::invalid(
                "CacheParameterGroupFamily",
                family,
                "is not a parameter group family Larder knows",
            ));
        }
        let mut merged = Vec::new();
        arn::merge_tags(&mut merged, tags)?;
        let g = CacheParameterGroup {
            name: name.to_string(),
            family: family.to_string(),
            description: description.to_string(),
            values: Default::default(),
        };
        let key = self.settings().arn("parametergroup", name);
        self.store().transaction(|tx| {
            tx.create_parameter_group(&g)?;
            if !merged.is_empty() {
                tx.put_tags(&key, &merged)?;
            }
            Ok(())
        })?;
        Ok(g)
    }

    /// One group (`CacheParameterGroupNotFound` if unknown), or a page of all of
    /// them: defaults and custom ones, by name.
    pub fn describe_cache_parameter_groups(
        &self,
        name: Option<&str>,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<CacheParameterGroup>, Fault> {
        if let Some(name) = name {
            return Page::of(vec![self.parameter_group(name)?], max_records, marker);
        }
        let mut all = self.default_parameter_groups();
        all.extend(self.store().list_parameter_groups()?);
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Page::of(all, max_records, marker)
    }

    /// A group's parameters with the values in effect, optionally only those from
    /// one source, in table order.
    pub fn describe_cache_parameters(
        &self,
        name: &str,
        source: Option<ParameterSource>,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<ParameterView>, Fault> {
        let group = self.parameter_group(name)?;
        let all: Vec<ParameterView> = group
            .parameters()
            .into_iter()
            .filter(|p| self.family_accepts(&group.family, p.def))
            .filter(|p| source.is_none_or(|s| p.source == s))
            .collect();
        Page::of(all, max_records, marker)
    }

    /// A family's parameters with their defaults.
    pub fn describe_engine_default_parameters(
        &self,
        family: &str,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<&'static ParameterDef>, Fault> {
        let mut defs = parameters::of_family(family);
        if defs.is_empty() {
            return Err(Fault::invalid(
                "CacheParameterGroupFamily",
                family,
                "is not a parameter group family Larder knows",
            ));
        }
        defs.retain(|d| self.family_accepts(family, d));
        Page::of(defs, max_records, marker)
    }

    /// Sets parameters of a custom group; every value is checked before any is set.
    pub fn modify_cache_parameter_group(
        &self,
        name: &str,
        changes: &[(String, String)],
    ) -> Result<(), Fault> {
        let group = self.parameter_group(name)?;
        group.refuse_default("modified")?;
        let defs = parameters::of_family(&group.family);
        for (k, _) in changes {
            let known = defs.iter().find(|d| d.name == k);
            if known.is_some_and(|d| !self.family_accepts(&group.family, d)) {
                return Err(Fault::InvalidParameterValue(format!(
                    "The installed {} engine does not have parameter {k}.",
                    group.family
                )));
            }
        }
        self.change_group(name, |g| g.modify(changes))
    }

    /// Returns a custom group's named parameters, or all of them, to their defaults.
    pub fn reset_cache_parameter_group(&self, name: &str, names: &[String]) -> Result<(), Fault> {
        self.parameter_group(name)?.refuse_default("reset")?;
        self.change_group(name, |g| g.reset(names))
    }

    /// Changes a custom group in one transaction, which also starts bringing every
    /// cluster that uses it to the new values (`reconcile/parameters.rs`): dynamic
    /// ones at once, static ones at each node's reboot. A group in use may not take
    /// values Larder does not apply (the change would be accepted and ignored).
    fn change_group(
        &self,
        name: &str,
        f: impl Fn(&mut CacheParameterGroup) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        self.store().transaction(|tx| {
            let mut g = tx
                .parameter_group(name)?
                .ok_or_else(|| Fault::CacheParameterGroupNotFound(name.to_string()))?;
            let before = node_values(&g);
            f(&mut g)?;
            let users: Vec<CacheCluster> = tx
                .clusters()?
                .into_iter()
                .filter(|c| c.cache_parameter_group_name == name)
                .collect();
            if !users.is_empty() {
                refuse_unapplied(&g)?;
            }
            let after = node_values(&g);
            for mut c in users {
                if c.parameter_apply.begin(&before, after.clone()) {
                    tx.put_cluster(&c)?;
                }
            }
            tx.put_parameter_group(&g)
        })?;
        self.wake();
        Ok(())
    }

    /// Deletes a custom group no cluster uses, with its tags.
    pub fn delete_cache_parameter_group(&self, name: &str) -> Result<(), Fault> {
        self.parameter_group(name)?.refuse_default("deleted")?;
        let key = self.settings().arn("parametergroup", name);
        self.store().transaction(|tx| {
            if tx.parameter_group(name)?.is_none() {
                return Err(Fault::CacheParameterGroupNotFound(name.to_string()));
            }
            if let Some(c) = tx
                .clusters()?
                .into_iter()
                .find(|c| c.cache_parameter_group_name == name)
            {
                return Err(Fault::InvalidCacheParameterGroupState(format!(
                    "Parameter group {name} is in use by cache cluster {}.",
                    c.id
                )));
            }
            tx.delete_parameter_group(name)?;
            tx.delete_tags(&key)
        })
    }
}
