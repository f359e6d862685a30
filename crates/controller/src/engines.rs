//! The engine versions this host can run, as its agent reports them.

use larder_agent::NodeAgent;
use larder_model::{Engine, Fault};

/// One installed engine version as DescribeCacheEngineVersions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// The engine.
    pub engine: Engine,
    /// Full version, e.g. `7.0.15`.
    pub version: String,
    /// Parameter group family, e.g. `redis7`, `memcached1.6`.
    pub family: String,
    /// The parameters the binary accepts with its own defaults, read from it by the
    /// agent (`CONFIG GET *`); empty when unknown (memcached, a fake agent).
    pub defaults: std::collections::BTreeMap<String, String>,
}

impl EngineVersion {
    /// Builds the entry for a version string, deriving the family the way ElastiCache
    /// names them: major version for Redis and Valkey, major.minor for memcached.
    pub fn new(engine: Engine, version: &str) -> EngineVersion {
        let mut parts = version.split('.');
        let major = parts.next().unwrap_or("0");
        let minor = parts.next().unwrap_or("0");
        let family = match engine {
            Engine::Memcached => format!("memcached{major}.{minor}"),
            Engine::Redis if major == "2" || major == "3" || major == "4" || major == "5" => {
                format!("redis{major}.{minor}")
            }
            // ElastiCache names the 6 family for its minor versions together.
            Engine::Redis if major == "6" => "redis6.x".to_string(),
            Engine::Redis => format!("redis{major}"),
            Engine::Valkey => format!("valkey{major}"),
        };
        EngineVersion {
            engine,
            version: version.to_string(),
            family,
            defaults: Default::default(),
        }
    }

    /// The default parameter group of this version's family.
    pub fn default_parameter_group(&self) -> String {
        format!("default.{}", self.family)
    }

    /// Whether a requested version names this one: exact, a prefix of whole parts
    /// (`7.0` and `7` both name `7.0.15`), or ElastiCache's `6.x` for any 6 release.
    pub fn matches(&self, requested: &str) -> bool {
        let requested = requested.strip_suffix(".x").unwrap_or(requested);
        self.version == requested || self.version.starts_with(&format!("{requested}."))
    }

    /// Human description, shown as CacheEngineDescription.
    pub fn engine_description(&self) -> &'static str {
        match self.engine {
            Engine::Redis => "Redis",
            Engine::Valkey => "Valkey",
            Engine::Memcached => "Memcached",
        }
    }
}

/// The installed engines.
#[derive(Debug, Clone, Default)]
pub struct EngineCatalog {
    /// Every installed version.
    pub versions: Vec<EngineVersion>,
}

impl EngineCatalog {
    /// Learns the engines the agent's host has installed; none when the agent cannot
    /// say (logged), so creates fail with "not installed" rather than start nothing.
    pub async fn from_agent(agent: &dyn NodeAgent) -> EngineCatalog {
        let installed = agent.installed_engines().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the agent did not report its engines");
            Vec::new()
        });
        let versions = installed
            .into_iter()
            .map(|e| EngineVersion {
                defaults: e.defaults,
                ..EngineVersion::new(e.engine, &e.version)
            })
            .collect();
        EngineCatalog { versions }
    }

    /// The engine's own defaults for the installed `version` of `engine`, when known.
    pub fn defaults_of(
        &self,
        engine: Engine,
        version: &str,
    ) -> Option<&std::collections::BTreeMap<String, String>> {
        self.versions
            .iter()
            .find(|v| v.engine == engine && v.version == version)
            .map(|v| &v.defaults)
            .filter(|d| !d.is_empty())
    }

    /// Whether every installed binary of `family` whose parameters are known accepts
    /// parameter `name` (true when none is known: the table alone decides then).
    pub fn family_accepts(&self, family: &str, name: &str) -> bool {
        self.versions
            .iter()
            .filter(|v| v.family == family && !v.defaults.is_empty())
            .all(|v| v.defaults.contains_key(name))
    }

    /// Resolves an engine and optional requested version to an installed version.
    pub fn resolve(
        &self,
        engine: Engine,
        requested: Option<&str>,
    ) -> Result<&EngineVersion, Fault> {
        let mut candidates = self.versions.iter().filter(|v| v.engine == engine);
        match requested {
            None => candidates.next().ok_or_else(|| {
                Fault::InvalidParameterCombination(format!(
                    "Engine {engine} is not installed on this Larder host."
                ))
            }),
            Some(req) => candidates.find(|v| v.matches(req)).ok_or_else(|| {
                Fault::InvalidParameterCombination(format!(
                    "Cannot find version {req} for {engine}"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_matching() {
        let r = EngineVersion::new(Engine::Redis, "7.0.15");
        assert_eq!(r.family, "redis7");
        assert_eq!(
            EngineVersion::new(Engine::Redis, "6.2.14").family,
            "redis6.x"
        );
        assert!(r.matches("7.0") && r.matches("7") && r.matches("7.0.15"));
        assert!(!r.matches("7.1") && !r.matches("7.0.1"));
        let m = EngineVersion::new(Engine::Memcached, "1.6.18");
        assert_eq!(m.family, "memcached1.6");
        assert_eq!(m.default_parameter_group(), "default.memcached1.6");
    }

    #[test]
    fn a_family_accepts_what_every_known_binary_of_it_has() {
        let with = |version: &str, names: &[&str]| EngineVersion {
            defaults: names
                .iter()
                .map(|n| (n.to_string(), "1".to_string()))
                .collect(),
            ..EngineVersion::new(Engine::Redis, version)
        };
        let c = EngineCatalog {
            versions: vec![
                with("6.2.14", &["hz", "latency-tracking"]),
                with("6.2.7", &["hz"]),
                EngineVersion::new(Engine::Redis, "7.0.15"),
            ],
        };
        assert!(c.family_accepts("redis6.x", "hz"));
        assert!(
            !c.family_accepts("redis6.x", "latency-tracking"),
            "6.2.7 lacks it"
        );
        // Nothing known of the redis7 binary: the table decides.
        assert!(c.family_accepts("redis7", "anything"));
        assert_eq!(c.defaults_of(Engine::Redis, "7.0.15"), None);
        assert!(c.defaults_of(Engine::Redis, "6.2.7").is_some());
    }

    #[test]
    fn resolve_reports_missing_versions() {
        let c = EngineCatalog {
            versions: vec![EngineVersion::new(Engine::Redis, "7.0.15")],
        };
        assert!(c.resolve(Engine::Redis, Some("6.2")).is_err());
        assert!(c.resolve(Engine::Redis, Some("6.x")).is_err());
        assert_eq!(
            c.resolve(Engine::Redis, Some("7.x")).unwrap().version,
            "7.0.15"
        );
        assert!(c.resolve(Engine::Memcached, None).is_err());
        assert_eq!(c.resolve(Engine::Redis, None).unwrap().version, "7.0.15");
    }
}
