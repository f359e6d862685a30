//! Cache parameter groups: a named set of engine settings of one family. The
//! read-only default group of every installed family is derived from the family's
//! table (`parameters/`), never stored; a custom group stores only the values a user
//! set, so a table change reaches every group that did not override the parameter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::parameters::{self, ParameterDef, ParameterSource};
use crate::Fault;

/// Longest CacheParameterGroupName (the service's limit).
pub const PARAMETER_GROUP_NAME_MAX: usize = 255;

/// Most custom parameter groups one account may have, as on the service.
pub const PARAMETER_GROUP_QUOTA: usize = 150;

/// Prefix of every default group's name; users cannot create names with it (a dot is
/// not allowed in a user's name) and cannot change or delete those groups.
pub const DEFAULT_PREFIX: &str = "default.";

/// A custom parameter group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheParameterGroup {
    /// Lower-case CacheParameterGroupName.
    pub name: String,
    /// CacheParameterGroupFamily (`redis7`, `memcached1.6`, …).
    pub family: String,
    /// Description given at creation.
    pub description: String,
    /// Values a user set with ModifyCacheParameterGroup, by parameter name.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// One parameter as DescribeCacheParameters shows it for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterView {
    /// The table entry.
    pub def: &'static ParameterDef,
    /// The value in effect in the group (none for per-node system values).
    pub value: Option<String>,
    /// `user` when the group overrides the default.
    pub source: ParameterSource,
}

impl CacheParameterGroup {
    /// The read-only default group of a family.
    pub fn default_of(family: &str) -> CacheParameterGroup {
        CacheParameterGroup {
            name: format!("{DEFAULT_PREFIX}{family}"),
            family: family.to_string(),
            description: format!("Default parameter group for {family}"),
            values: BTreeMap::new(),
        }
    }

    /// The read-only cluster-mode default group of a redis or valkey family
    /// (`default.redis7.cluster.on`): the family's defaults with `cluster-enabled yes`.
    pub fn cluster_on_default_of(family: &str) -> CacheParameterGroup {
        let mut g = CacheParameterGroup::default_of(family);
        g.name = format!("{DEFAULT_PREFIX}{family}.cluster.on");
        g.description = format!("Customer cluster-mode default parameter group for {family}");
        g.values.insert("cluster-enabled".into(), "yes".into());
        g
    }

    /// Whether this is a default group (read-only).
    pub fn is_default(&self) -> bool {
        self.name.starts_with(DEFAULT_PREFIX)
    }

    /// The group's parameters in table order, with the values in effect.
    pub fn parameters(&self) -> Vec<ParameterView> {
        parameters::of_family(&self.family)
            .into_iter()
            .map(|def| match self.values.get(def.name) {
                // A default group's own values are the service's, not a user's.
                Some(v) => ParameterView {
                    def,
                    value: Some(v.clone()),
                    source: if self.is_default() {
                        def.source
                    } else {
                        ParameterSource::User
                    },
                },
                None => ParameterView {
                    def,
                    value: def.default.map(str::to_string),
                    source: def.source,
                },
            })
            .collect()
    }

    /// Sets values after checking every one of them: a single bad entry changes
    /// nothing (the caller commits only an `Ok`).
    pub fn modify(&mut self, changes: &[(String, String)]) -> Result<(), Fault> {
        self.refuse_default("modified")?;
        let defs = parameters::of_family(&self.family);
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in changes {
            if !seen.insert(name.as_str()) {
                return Err(Fault::InvalidParameterCombination(format!(
                    "Parameter {name} is given more than once."
                )));
            }
            let def = find(&defs, name, &self.family)?;
            def.check(value)?;
        }
        for (name, value) in changes {
            if find(&defs, name, &self.family)?.default == Some(value.as_str()) {
                self.values.remove(name);
            } else {
                self.values.insert(name.clone(), value.clone());
            }
        }
        Ok(())
    }

    /// Returns named parameters (or all, when `names` is empty) to their defaults.
    pub fn reset(&mut self, names: &[String]) -> Result<(), Fault> {
        self.refuse_default("reset")?;
        let defs = parameters::of_family(&self.family);
        for name in names {
            find(&defs, name, &self.family)?;
        }
        if names.is_empty() {
            self.values.clear();
        } else {
            self.values.retain(|k, _| !names.contains(k));
        }
        Ok(())
    }

    /// The service answers InvalidParameterValue for any change to a default group.
    pub fn refuse_default(&self, what: &str) -> Result<(), Fault> {
        if self.is_default() {
            return Err(Fault::InvalidParameterValue(format!(
                "Default parameter group {} cannot be {what}.",
                self.name
            )));
        }
        Ok(())
    }
}

/// The table entry of a parameter of a family, or InvalidParameterValue naming it.
fn find(
    defs: &[&'static ParameterDef],
    name: &str,
    family: &str,
) -> Result<&'static ParameterDef, Fault> {
    defs.iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            Fault::InvalidParameterValue(format!("Unknown parameter {name} for family {family}."))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> CacheParameterGroup {
        CacheParameterGroup {
            name: "mine".into(),
            family: "redis7".into(),
            description: "d".into(),
            values: BTreeMap::new(),
        }
    }

    fn value(g: &CacheParameterGroup, name: &str) -> (Option<String>, ParameterSource) {
        let p = g
            .parameters()
            .into_iter()
            .find(|p| p.def.name == name)
            .unwrap();
        (p.value, p.source)
    }

    #[test]
    fn defaults_come_from_the_table_and_user_values_override_them() {
        let mut g = custom();
        assert_eq!(
            value(&g, "maxmemory-policy"),
            (Some("volatile-lru".into()), ParameterSource::EngineDefault)
        );
        g.modify(&[("maxmemory-policy".into(), "allkeys-lru".into())])
            .unwrap();
        assert_eq!(
            value(&g, "maxmemory-policy"),
            (Some("allkeys-lru".into()), ParameterSource::User)
        );
        g.reset(&[]).unwrap();
        assert!(g.values.is_empty());
    }

    #[test]
    fn one_bad_entry_changes_nothing() {
        let mut g = custom();
        let before = g.clone();
        for bad in [
            vec![
                ("maxmemory-policy".into(), "allkeys-lru".into()),
                ("timeout".into(), "soon".into()),
            ],
            vec![("maxmemory-policy".into(), "sometimes".into())],
            vec![("port".into(), "7000".into())],
            vec![("no-such-thing".into(), "1".into())],
            vec![("reserved-memory-percent".into(), "101".into())],
        ] {
            assert!(g.modify(&bad).is_err(), "{bad:?}");
            assert_eq!(g, before);
        }
    }

    #[test]
    fn default_groups_are_read_only() {
        let mut g = CacheParameterGroup::default_of("redis7");
        let e = g.modify(&[("timeout".into(), "5".into())]).unwrap_err();
        assert!(matches!(e, Fault::InvalidParameterValue(_)), "{e:?}");
        assert!(g.reset(&[]).is_err());
    }

    #[test]
    fn cluster_mode_families_turn_cluster_enabled_on() {
        let on = CacheParameterGroup::cluster_on_default_of("redis7");
        assert_eq!(on.name, "default.redis7.cluster.on");
        assert_eq!(value(&on, "cluster-enabled").0.as_deref(), Some("yes"));
        assert_eq!(value(&custom(), "cluster-enabled").0.as_deref(), Some("no"));
    }
}
