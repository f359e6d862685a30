//! Renders engine configuration. Pure functions, so the exact text is unit-tested.

use std::path::{Path, PathBuf};

use larder_model::Engine;

use crate::access::{access_directives, AclDialect, AdminSecret};
use crate::{AgentError, NodeSpec};

/// File inside the node dir holding the engine's pid (written by us, also by redis).
pub(crate) fn pidfile(dir: &Path, engine: Engine) -> PathBuf {
    dir.join(match engine {
        Engine::Memcached => "memcached.pid",
        Engine::Redis | Engine::Valkey => "redis.pid",
    })
}

/// File inside the node dir receiving the engine's log and stray stdout/stderr.
pub(crate) fn logfile(dir: &Path, engine: Engine) -> PathBuf {
    dir.join(format!("{}.log", engine.as_str()))
}

/// Longest tail of a node's log read to say why it exited, and longest line reported.
const LOG_TAIL_BYTES: u64 = 4096;
const REASON_CHARS: usize = 200;

/// The last non-empty line of a node's log: what an engine that exits at startup
/// prints last is why (`Bad directive ...`, `failed to listen on TCP port ...`).
pub(crate) fn last_log_line(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return "no log written".into();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut tail = Vec::new();
    let read = f
        .seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))
        .and_then(|_| f.take(LOG_TAIL_BYTES).read_to_end(&mut tail));
    if read.is_err() {
        return "log unreadable".into();
    }
    let text = String::from_utf8_lossy(&tail);
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("empty log");
    line.chars().take(REASON_CHARS).collect()
}

/// The rendered config file: redis.conf, or memcached.args (one argument per line).
pub(crate) fn config_file(dir: &Path, engine: Engine) -> PathBuf {
    dir.join(match engine {
        Engine::Memcached => "memcached.args",
        Engine::Redis | Engine::Valkey => "redis.conf",
    })
}

/// Quotes a value for redis.conf so paths with spaces or quotes survive.
fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Rejects text that would let one directive inject another.
fn check_line(spec: &NodeSpec, what: &str, text: &str) -> Result<(), AgentError> {
    if text.chars().any(|c| c == '\n' || c == '\r' || c == '\0') {
        return Err(AgentError::InvalidSpec {
            key: spec.key.clone(),
            reason: format!("{what} contains a line break or NUL"),
        });
    }
    Ok(())
}

/// Renders redis.conf for a redis or valkey node living in `dir`; Larder's own user
/// authenticates with `secret`.
///
/// `set-proc-title no` keeps the config path in /proc/<pid>/cmdline, which is how a
/// restarted daemon recognises (adopts) a node it left running.
pub fn redis_config(
    spec: &NodeSpec,
    dir: &Path,
    secret: &AdminSecret,
) -> Result<String, AgentError> {
    check_line(spec, "bind", &spec.bind)?;
    let dir_s = dir.to_string_lossy();
    check_line(spec, "node dir", &dir_s)?;
    let mut out = String::new();
    let mut line = |name: &str, value: &str| {
        out.push_str(name);
        out.push(' ');
        out.push_str(value);
        out.push('\n');
    };
    line("port", &spec.port.to_string());
    line("bind", &spec.bind);
    line("dir", &quote(&dir_s));
    line(
        "pidfile",
        &quote(&pidfile(dir, spec.engine).to_string_lossy()),
    );
    line(
        "logfile",
        &quote(&logfile(dir, spec.engine).to_string_lossy()),
    );
    line("daemonize", "no");
    line("set-proc-title", "no");
    line("protected-mode", "no");
    line("save", "\"\"");
    line("appendonly", "no");
    line("maxmemory", &spec.maxmemory_bytes.to_string());
    // ElastiCache's default policy, unlike redis' noeviction.
    line("maxmemory-policy", "volatile-lru");
    // Redis 7 waits 5 s before a diskless full sync; replicas should attach at once.
    line("repl-diskless-sync-delay", "0");
    // Without persistence a replica still writes the full-sync RDB to `dir`, and the
    // next start would load it: old data. A replica with an empty dataset (the usual
    // case: it was just started) loads the stream straight into memory; one that has
    // data loads through the file, which is deleted at once. `swapdb` would skip the
    // file always but holds two datasets at once, more than a node type's memory.
    line("rdb-del-sync-files", "yes");
    line("repl-diskless-load", "on-empty-db");
    let acl = if spec.runs_redis_6() {
        AclDialect::Redis6
    } else {
        AclDialect::Redis7
    };
    for (name, value) in access_directives(spec.command_limits, secret, acl) {
        line(&name, &value);
    }
    for (name, value) in &spec.extra_config {
        check_line(spec, "directive name", name)?;
        check_line(spec, "directive value", value)?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(AgentError::InvalidSpec {
                key: spec.key.clone(),
                reason: format!("bad directive name {name:?}"),
            });
        }
        // An empty value must be spelled "" or redis sees a missing argument.
        let value = if value.is_empty() { "\"\"" } else { value };
        line(name, value);
    }
    Ok(out)
}

/// Memcached's `-m`: whole MiB, rounded down, at least 1.
fn memcached_mib(bytes: u64) -> u64 {
    (bytes / (1024 * 1024)).max(1)
}

/// Builds memcached's argument list (without the binary) for a node living in `dir`.
///
/// `-P <dir>/memcached.pid` also puts the node dir into /proc/<pid>/cmdline for adoption;
/// `-u root` is required by memcached when it runs with euid 0. `max_conns` is `-c`
/// (memcached raises its fd limit to exactly that and refuses to start if it cannot).
pub fn memcached_args(spec: &NodeSpec, dir: &Path, as_root: bool, max_conns: u64) -> Vec<String> {
    let mut args = vec![
        "-p".to_string(),
        spec.port.to_string(),
        "-U".to_string(),
        "0".to_string(),
        "-l".to_string(),
        spec.bind.clone(),
        "-m".to_string(),
        memcached_mib(spec.maxmemory_bytes).to_string(),
        "-c".to_string(),
        max_conns.to_string(),
        "-P".to_string(),
        pidfile(dir, spec.engine).to_string_lossy().into_owned(),
    ];
    if as_root {
        args.push("-u".to_string());
        args.push("root".to_string());
    }
    args
}

/// Serialises memcached args one per line; args never contain line breaks here.
pub(crate) fn render_args(args: &[String]) -> String {
    let mut out = args.join("\n");
    out.push('\n');
    out
}

/// Reads back an args file written by [`render_args`].
pub(crate) fn parse_args(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_log_line_says_why_a_node_exited() {
        let dir = std::env::temp_dir().join(format!("larder-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("redis.log");
        assert_eq!(last_log_line(&log), "no log written");
        let mut text = "x".repeat(10_000);
        text.push_str(
            "\n*** FATAL CONFIG FILE ERROR ***\nBad directive or wrong number of arguments\n\n",
        );
        std::fs::write(&log, &text).unwrap();
        assert_eq!(
            last_log_line(&log),
            "Bad directive or wrong number of arguments"
        );
        std::fs::write(&log, "y".repeat(5000)).unwrap();
        assert_eq!(last_log_line(&log).len(), REASON_CHARS);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    use crate::CommandLimits;

    fn spec(engine: Engine) -> NodeSpec {
        NodeSpec {
            key: "c-0001".into(),
            engine,
            engine_version: None,
            port: 7001,
            bind: "127.0.0.1".into(),
            maxmemory_bytes: 100 * 1024 * 1024 + 5,
            extra_config: vec![
                ("notify-keyspace-events".into(), String::new()),
                ("timeout".into(), "300".into()),
            ],
            command_limits: CommandLimits::Unrestricted,
            initial_data: Default::default(),
        }
    }

    fn secret() -> AdminSecret {
        AdminSecret::for_tests("0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn redis_config_has_required_directives_in_order() {
        let text = redis_config(&spec(Engine::Redis), Path::new("/n/c-0001"), &secret()).unwrap();
        let expected = "port 7001\nbind 127.0.0.1\ndir \"/n/c-0001\"\n\
            pidfile \"/n/c-0001/redis.pid\"\nlogfile \"/n/c-0001/redis.log\"\n\
            daemonize no\nset-proc-title no\nprotected-mode no\nsave \"\"\nappendonly no\n\
            maxmemory 104857605\nmaxmemory-policy volatile-lru\nrepl-diskless-sync-delay 0\n\
            rdb-del-sync-files yes\nrepl-diskless-load on-empty-db\n\
            masteruser larder-replica\nmasterauth REPL\n\
            user larder-admin on >0123456789abcdef0123456789abcdef ~* &* +@all\n\
            user larder-replica on >REPL resetkeys resetchannels -@all +psync +replconf +ping\n\
            user default on nopass ~* &* +@all\nenable-debug-command yes\n\
            notify-keyspace-events \"\"\ntimeout 300\n";
        let expected = expected.replace("REPL", &secret().replica_password());
        assert_eq!(text, expected);
    }

    #[test]
    fn redis_config_quotes_awkward_paths() {
        let text = redis_config(&spec(Engine::Valkey), Path::new("/a b/\"q\""), &secret()).unwrap();
        assert!(text.contains("dir \"/a b/\\\"q\\\"\"\n"), "{text}");
        assert!(
            text.contains("logfile \"/a b/\\\"q\\\"/valkey.log\"\n"),
            "{text}"
        );
    }

    #[test]
    fn redis_config_rejects_injection() {
        let mut s = spec(Engine::Redis);
        s.extra_config = vec![("timeout".into(), "1\nslaveof evil 1".into())];
        assert!(matches!(
            redis_config(&s, Path::new("/n"), &secret()),
            Err(AgentError::InvalidSpec { .. })
        ));
        s.extra_config = vec![("two words".into(), "1".into())];
        assert!(redis_config(&s, Path::new("/n"), &secret()).is_err());
    }

    #[test]
    fn memcached_args_round_trip_and_root() {
        let s = spec(Engine::Memcached);
        let args = memcached_args(&s, Path::new("/n/c-0001"), true, 65000);
        assert_eq!(
            args.join(" "),
            "-p 7001 -U 0 -l 127.0.0.1 -m 100 -c 65000 -P /n/c-0001/memcached.pid -u root"
        );
        assert_eq!(parse_args(&render_args(&args)), args);
        let plain = memcached_args(&s, Path::new("/n"), false, 1024);
        assert!(!plain.contains(&"-u".to_string()));
    }

    #[test]
    fn memcached_memory_rounds_down_with_floor_of_one() {
        assert_eq!(memcached_mib(0), 1);
        assert_eq!(memcached_mib(1024 * 1024 - 1), 1);
        assert_eq!(memcached_mib(3 * 1024 * 1024 - 1), 2);
        assert_eq!(memcached_mib(64 * 1024 * 1024), 64);
    }
}
