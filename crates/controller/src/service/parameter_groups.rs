//! Cache parameter groups: the read-only defaults of every installed family
//! (derived, never stored) and custom groups (stored with the values users set).
//! Values are checked against the family's table (`larder_model::parameters`)
//! before anything is written.

use larder_model::{arn, parameters, CacheParameterGroup, Engine, Fault, ParameterView, Tag};
use larder_model::{ParameterDef, ParameterSource};

use super::paginate;
use crate::Controller;

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

    /// Refuses a CacheParameterGroupName on a create or modify that Larder would not
    /// honour, before anything is written: an unknown name answers
    /// `CacheParameterGroupNotFound`; a custom group or a cluster-mode default is
    /// refused rather than recorded and ignored, since Larder does not yet start
    /// nodes with a group's values. A plain default passes (its family is checked
    /// against the engine by the caller).
    pub(crate) fn refuse_unapplied_parameter_group(
        &self,
        requested: Option<&str>,
    ) -> Result<(), Fault> {
        let Some(name) = requested else {
            return Ok(());
        };
        let g = self.parameter_group(&name.to_ascii_lowercase())?;
        if !g.is_default() {
            return Err(Fault::InvalidParameterCombination(format!(
                "Parameter group {} is a custom group; Larder does not apply custom parameter groups to caches yet (use default.{}).",
                g.name, g.family
            )));
        }
        if g.values.get("cluster-enabled").is_some_and(|v| v == "yes") {
            return Err(Fault::InvalidParameterCombination(format!(
                "Parameter group {} turns on cluster mode, which Larder does not support yet.",
                g.name
            )));
        }
        Ok(())
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
        let all: Vec<ParameterView> = self
            .parameter_group(name)?
            .parameters()
            .into_iter()
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
        let defs = parameters::of_family(family);
        if defs.is_empty() {
            return Err(Fault::invalid(
                "CacheParameterGroupFamily",
                family,
                "is not a parameter group family Larder knows",
            ));
        }
        Page::of(defs, max_records, marker)
    }

    /// Sets parameters of a custom group; every value is checked before any is set.
    pub fn modify_cache_parameter_group(
        &self,
        name: &str,
        changes: &[(String, String)],
    ) -> Result<(), Fault> {
        self.parameter_group(name)?.refuse_default("modified")?;
        self.store()
            .update_parameter_group(name, |g| g.modify(changes))
    }

    /// Returns a custom group's named parameters, or all of them, to their defaults.
    pub fn reset_cache_parameter_group(&self, name: &str, names: &[String]) -> Result<(), Fault> {
        self.parameter_group(name)?.refuse_default("reset")?;
        self.store()
            .update_parameter_group(name, |g| g.reset(names))
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
