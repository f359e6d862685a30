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

/// Runs every known engine's version command; engines not on PATH are skipped.
pub fn installed_engines() -> Vec<InstalledEngine> {
    [Engine::Redis, Engine::Valkey, Engine::Memcached]
        .into_iter()
        .filter_map(|engine| {
            let binary = which(engine.binary())?;
            let flag = if engine.is_redis_like() {
                "--version"
            } else {
                "-V"
            };
            let output = Command::new(&binary)
                .arg(flag)
                .stdin(Stdio::null())
                .output()
                .ok()?;
            let banner = String::from_utf8_lossy(&output.stdout);
            let version = parse_version(&banner)?;
            Some(InstalledEngine {
                engine,
                version,
                binary,
            })
        })
        .collect()
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
    fn a_bound_port_is_not_free() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!port_is_free("127.0.0.1", port));
        drop(listener);
        assert!(port_is_free("127.0.0.1", port));
    }
}
