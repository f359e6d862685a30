//! The parameters of each parameter group family, as data: one table per engine
//! (`redis.rs` for the redis and valkey families, `memcached.rs`), each entry with
//! its type, allowed values, ElastiCache's default and whether users may change it.
//! Validation of a value against its entry lives here, once.

mod memcached;
mod redis;

use crate::Fault;

/// `DataType` as the service shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// A whole number.
    Integer,
    /// Text (including decimals and yes/no switches).
    String,
}

impl DataType {
    /// The API word.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Integer => "integer",
            DataType::String => "string",
        }
    }
}

/// `ChangeType`: when a new value takes effect on a running node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Applied to running nodes at once (CONFIG SET).
    Immediate,
    /// Applied when the node restarts.
    RequiresReboot,
}

impl ChangeType {
    /// The API word.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Immediate => "immediate",
            ChangeType::RequiresReboot => "requires-reboot",
        }
    }
}

/// `Source`: where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterSource {
    /// The family's default, which a user may override.
    EngineDefault,
    /// Set by the service itself per node (not changeable).
    System,
    /// Set by a user in this group.
    User,
}

impl ParameterSource {
    /// The API word.
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterSource::EngineDefault => "engine-default",
            ParameterSource::System => "system",
            ParameterSource::User => "user",
        }
    }

    /// Parses the `Source` filter of DescribeCacheParameters.
    pub fn parse(s: &str) -> Option<ParameterSource> {
        match s {
            "engine-default" => Some(ParameterSource::EngineDefault),
            "system" => Some(ParameterSource::System),
            "user" => Some(ParameterSource::User),
            _ => None,
        }
    }
}

/// What values a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    /// A whole number in `min..=max` (`max` i64::MAX: unbounded above).
    Range(i64, i64),
    /// A decimal number in `[min, max]`, written as text.
    Decimal(f64, f64),
    /// One of these words.
    Choices(&'static [&'static str]),
    /// Any text (nothing to check).
    Any,
}

impl Allowed {
    /// `AllowedValues` as the service writes it (`0-100`, `0-`, `yes,no`).
    pub fn text(&self) -> Option<String> {
        match *self {
            Allowed::Range(lo, i64::MAX) => Some(format!("{lo}-")),
            Allowed::Range(lo, hi) => Some(format!("{lo}-{hi}")),
            Allowed::Decimal(lo, hi) => Some(format!("{lo}-{hi}")),
            Allowed::Choices(words) => Some(words.join(",")),
            Allowed::Any => None,
        }
    }
}

/// One parameter of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDef {
    /// ParameterName.
    pub name: &'static str,
    /// ElastiCache's default (none: set per node by the service).
    pub default: Option<&'static str>,
    /// Description, in our words.
    pub description: &'static str,
    /// DataType.
    pub data_type: DataType,
    /// AllowedValues, checked on modification.
    pub allowed: Allowed,
    /// IsModifiable.
    pub modifiable: bool,
    /// MinimumEngineVersion.
    pub min_version: &'static str,
    /// ChangeType.
    pub change: ChangeType,
    /// Source of the default.
    pub source: ParameterSource,
}

impl Eq for ParameterDef {}

impl ParameterDef {
    /// Checks a value a user wants to set: the parameter must be modifiable and the
    /// value of its type and among its allowed values.
    pub fn check(&self, value: &str) -> Result<(), Fault> {
        let name = self.name;
        if !self.modifiable {
            return Err(Fault::InvalidParameterValue(format!(
                "Parameter {name} is not modifiable."
            )));
        }
        let bad = |why: String| {
            Fault::InvalidParameterValue(format!(
                "Invalid value '{value}' for parameter {name}: {why}"
            ))
        };
        match self.allowed {
            Allowed::Range(lo, hi) => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| bad("it must be an integer".into()))?;
                if n < lo || n > hi {
                    return Err(bad(format!(
                        "allowed values are {}",
                        self.allowed.text().unwrap_or_default()
                    )));
                }
            }
            Allowed::Decimal(lo, hi) => {
                let n: f64 = value
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| bad("it must be a number".into()))?;
                if n < lo || n > hi {
                    return Err(bad(format!("allowed values are {lo}-{hi}")));
                }
            }
            Allowed::Choices(words) => {
                if !words.contains(&value) {
                    return Err(bad(format!("allowed values are {}", words.join(","))));
                }
            }
            Allowed::Any => {}
        }
        Ok(())
    }
}

/// Whether a redis parameter is also a redis configuration directive of the same
/// name and meaning, so a group's value can be written into a node's config.
pub fn is_redis_directive(name: &str) -> bool {
    !redis::SERVICE_ONLY.contains(&name)
        && redis::PARAMETERS
            .iter()
            .any(|d| d.name == name && d.modifiable)
}

/// Whether a parameter is the service's own (not an engine directive).
pub fn is_service_parameter(name: &str) -> bool {
    redis::SERVICE_ONLY.contains(&name)
}

/// Service parameters whose values Larder does not act on yet: a cache cannot use a
/// group that sets them (it would be accepted and ignored).
pub fn is_unapplied_service_parameter(name: &str) -> bool {
    redis::SERVICE_ONLY.contains(&name)
        && !matches!(name, "reserved-memory-percent" | "cluster-enabled")
}

/// The engine major version a MinimumEngineVersion names.
fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// The families Larder has a table for, whether or not their engine is installed.
pub fn is_known_family(family: &str) -> bool {
    !of_family(family).is_empty()
}

/// A family's parameters in table order; empty for a family Larder does not know.
/// Redis 6.x and 7 share one table (entries carry their minimum version); valkey's
/// families accept what redis 7 does, which is where valkey began.
pub fn of_family(family: &str) -> Vec<&'static ParameterDef> {
    let redis_up_to = |max_major: u32| -> Vec<&'static ParameterDef> {
        redis::PARAMETERS
            .iter()
            .filter(|d| major(d.min_version) <= max_major)
            .collect()
    };
    match family {
        "redis6.x" => redis_up_to(6),
        "redis7" | "valkey7" | "valkey8" => redis_up_to(7),
        "memcached1.6" => memcached::PARAMETERS.iter().collect(),
        _ => Vec::new(),
    }
}

/// Builders for the tables: a modifiable integer, a modifiable choice, a decimal,
/// and a value the service sets itself.
const fn int(
    name: &'static str,
    default: &'static str,
    (lo, hi): (i64, i64),
    change: ChangeType,
    min_version: &'static str,
    description: &'static str,
) -> ParameterDef {
    ParameterDef {
        name,
        default: Some(default),
        description,
        data_type: DataType::Integer,
        allowed: Allowed::Range(lo, hi),
        modifiable: true,
        min_version,
        change,
        source: ParameterSource::EngineDefault,
    }
}

const fn choice(
    name: &'static str,
    default: &'static str,
    words: &'static [&'static str],
    change: ChangeType,
    min_version: &'static str,
    description: &'static str,
) -> ParameterDef {
    ParameterDef {
        name,
        default: Some(default),
        description,
        data_type: DataType::String,
        allowed: Allowed::Choices(words),
        modifiable: true,
        min_version,
        change,
        source: ParameterSource::EngineDefault,
    }
}

const fn decimal(
    name: &'static str,
    default: &'static str,
    (lo, hi): (f64, f64),
    change: ChangeType,
    min_version: &'static str,
    description: &'static str,
) -> ParameterDef {
    ParameterDef {
        name,
        default: Some(default),
        description,
        data_type: DataType::String,
        allowed: Allowed::Decimal(lo, hi),
        modifiable: true,
        min_version,
        change,
        source: ParameterSource::EngineDefault,
    }
}

/// A parameter the service sets on each node and users cannot change.
const fn system(
    name: &'static str,
    default: Option<&'static str>,
    data_type: DataType,
    min_version: &'static str,
    description: &'static str,
) -> ParameterDef {
    ParameterDef {
        name,
        default,
        description,
        data_type,
        allowed: Allowed::Any,
        modifiable: false,
        min_version,
        change: ChangeType::RequiresReboot,
        source: ParameterSource::System,
    }
}

/// Short names for the tables.
const NOW: ChangeType = ChangeType::Immediate;
const REBOOT: ChangeType = ChangeType::RequiresReboot;
const YES_NO: &[&str] = &["yes", "no"];
const ZERO_ONE: &[&str] = &["0", "1"];
const UNBOUNDED: i64 = i64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_pass_their_own_checks() {
        for family in ["redis6.x", "redis7", "memcached1.6"] {
            let defs = of_family(family);
            assert!(defs.len() > 10, "{family}");
            let mut names: Vec<_> = defs.iter().map(|d| d.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), defs.len(), "{family}: duplicate names");
            for d in defs.iter().filter(|d| d.modifiable) {
                let v = d
                    .default
                    .unwrap_or_else(|| panic!("{}: no default", d.name));
                d.check(v)
                    .unwrap_or_else(|e| panic!("{family} {}: {e}", d.name));
            }
        }
    }

    #[test]
    fn values_are_checked_against_type_and_allowed_values() {
        let defs = of_family("redis7");
        let get = |n: &str| *defs.iter().find(|d| d.name == n).unwrap();
        assert!(get("timeout").check("10").is_ok());
        assert!(get("timeout").check("ten").is_err());
        assert!(get("timeout").check("-1").is_err());
        assert!(get("reserved-memory-percent").check("100").is_ok());
        assert!(get("reserved-memory-percent").check("101").is_err());
        assert!(get("maxmemory-policy").check("allkeys-lfu").is_ok());
        assert!(get("maxmemory-policy").check("ALLKEYS-LFU").is_err());
        for fixed in ["bind", "port", "dir", "requirepass", "replicaof"] {
            assert!(get(fixed).check("x").is_err(), "{fixed}");
            assert_eq!(get(fixed).source, ParameterSource::System);
        }
        let m = of_family("memcached1.6");
        let growth = m
            .iter()
            .find(|d| d.name == "chunk_size_growth_factor")
            .unwrap();
        assert!(growth.check("1.5").is_ok() && growth.check("NaN").is_err());
    }

    #[test]
    fn only_redis_directives_reach_a_node_config() {
        assert!(is_redis_directive("maxmemory-policy") && is_redis_directive("timeout"));
        for service in [
            "reserved-memory-percent",
            "cluster-enabled",
            "close-on-replica-write",
        ] {
            assert!(!is_redis_directive(service), "{service}");
        }
        // Not modifiable, so never from a group.
        assert!(!is_redis_directive("port") && !is_redis_directive("replicaof"));
        assert!(is_unapplied_service_parameter("reserved-memory"));
        assert!(!is_unapplied_service_parameter("reserved-memory-percent"));
    }

    #[test]
    fn redis6_has_no_redis7_only_parameters() {
        let six = of_family("redis6.x");
        assert!(!six.iter().any(|d| d.name == "latency-tracking"));
        assert!(of_family("redis7")
            .iter()
            .any(|d| d.name == "latency-tracking"));
        assert!(of_family("redis9").is_empty());
    }
}
