//! The in-process local agent: spawns, adopts, probes and stops engine processes.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use larder_model::Engine;
use nix::sys::signal::Signal;

use crate::access::{config_has_admin, AdminSecret};
use crate::config::{
    config_file, last_log_line, logfile, memcached_args, parse_args, pidfile, redis_config,
    render_args,
};
use crate::endpoint_host::EndpointHost;
use crate::probe::probe_once;
use crate::process::{
    cmdline_mentions, find_by_cmdline, is_alive, memcached_max_conns, read_pidfile,
    running_as_root, signal, write_pidfile,
};
use crate::{AgentError, NodeSpec};

/// Upper bound of one health probe; a healthy local engine answers in well under 1 ms.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Poll interval of `wait_ready`: start latency is benchmarked against a ~7-15 ms floor.
const READY_POLL: Duration = Duration::from_millis(1);
/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Poll interval while waiting for a signalled process to exit.
const STOP_POLL: Duration = Duration::from_millis(5);
/// File in the nodes root holding the secret of Larder's user on redis nodes.
const SECRET_FILE: &str = "larder-admin.secret";

/// Runs cache nodes as local processes under `nodes_root/<key>/`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalAgent {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Processes this agent spawned, kept so we can reap them (no zombies).
    /// Adopted processes are not here; they are found through their pidfile.
    children: Mutex<HashMap<String, Child>>,
    /// Nodes being spawned right now.
    starting: Mutex<HashSet<String>>,
    /// Larder's admin secret, read (or created) on first use.
    secret: OnceLock<AdminSecret>,
    /// One snapshot save at a time on this host: two would only fight over a
    /// node's `dump.rdb`, and each save forks a node.
    snapshot_lock: tokio::sync::Mutex<()>,
    /// What the agent remembers about its nodes and keeps them alive with.
    supervision: crate::supervise::Supervision,
    /// The endpoints this agent serves, with their state file in the nodes root.
    endpoints: EndpointHost,
    /// Connections to redis nodes kept for the commands asked for on every pass.
    conns: crate::node_conn::NodeConns,
    /// Connections to memcached nodes kept for the legacy discovery key refresh.
    legacy_conns: crate::legacy_keys::LegacyKeyConns,
    /// When each redis node's replication state is read next (`repl_watch.rs`).
    repl_schedule: Mutex<crate::repl_watch::Schedule>,
}

/// A handle on the agent that does not keep it alive: its own background tasks
/// hold this, so they end with the agent.
pub(crate) struct WeakAgent(std::sync::Weak<Inner>);

impl WeakAgent {
    /// The agent, while it exists.
    pub(crate) fn upgrade(&self) -> Option<LocalAgent> {
        self.0.upgrade().map(|inner| LocalAgent { inner })
    }
}

/// A node key claimed for spawning; released on drop, also when the spawn fails.
struct StartClaim<'a> {
    inner: &'a Inner,
    key: String,
}

impl<'a> StartClaim<'a> {
    fn take(inner: &'a Inner, key: &str) -> Option<StartClaim<'a>> {
        let mut starting = inner.starting.lock().unwrap_or_else(|p| p.into_inner());
        starting.insert(key.to_string()).then(|| StartClaim {
            inner,
            key: key.to_string(),
        })
    }
}

impl Drop for StartClaim<'_> {
    fn drop(&mut self) {
        self.inner
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Every pidfile name an engine of ours may use; `is_running` only knows the key.
const ENGINES: [Engine; 2] = [Engine::Redis, Engine::Memcached];

impl LocalAgent {
    /// Creates an agent keeping node directories under `nodes_root`.
    pub fn new(nodes_root: PathBuf) -> Self {
        // The path ends up in engine command lines, which adoption matches on: keep it absolute.
        let root = std::path::absolute(&nodes_root).unwrap_or(nodes_root);
        LocalAgent {
            inner: Arc::new(Inner {
                children: Mutex::new(HashMap::new()),
                starting: Mutex::new(HashSet::new()),
                secret: OnceLock::new(),
                snapshot_lock: tokio::sync::Mutex::new(()),
                endpoints: EndpointHost::new(&root),
                conns: Default::default(),
                repl_schedule: Default::default(),
                legacy_conns: Default::default(),
                supervision: crate::supervise::Supervision::load(&root),
                root,
            }),
        }
    }

    /// Starts the endpoints named in the state file with the last routes they were
    /// told; call once when the agent starts. Returns how many endpoints listen.
    pub async fn restore_endpoints(&self) -> usize {
        self.inner.endpoints.restore().await
    }

    /// The endpoints this agent serves.
    pub(crate) fn endpoints(&self) -> &EndpointHost {
        &self.inner.endpoints
    }

    /// A handle for background tasks that must not keep the agent alive.
    pub(crate) fn downgrade(&self) -> WeakAgent {
        WeakAgent(Arc::downgrade(&self.inner))
    }

    /// The connections kept to memcached nodes for the legacy discovery key.
    pub(crate) fn legacy_conns(&self) -> &crate::legacy_keys::LegacyKeyConns {
        &self.inner.legacy_conns
    }

    /// When each redis node's replication state is read next.
    pub(crate) fn schedule(&self) -> MutexGuard<'_, crate::repl_watch::Schedule> {
        self.inner
            .repl_schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The connections kept to redis nodes.
    pub(crate) fn conns(&self) -> &crate::node_conn::NodeConns {
        &self.inner.conns
    }

    /// The secret of Larder's own user ([`crate::ADMIN_USER`]) on redis nodes, kept
    /// in the nodes root with mode 0600 and created on first use.
    pub fn admin_secret(&self) -> Result<AdminSecret, AgentError> {
        if let Some(secret) = self.inner.secret.get() {
            return Ok(secret.clone());
        }
        std::fs::create_dir_all(&self.inner.root)?;
        let secret = AdminSecret::load_or_create(&self.inner.root.join(SECRET_FILE))?;
        Ok(self.inner.secret.get_or_init(|| secret).clone())
    }

    /// Larder's credentials for a running redis node: `None` when its config
    /// predates Larder's user (a node adopted after an upgrade), so only its
    /// unrestricted default user exists until it next restarts.
    fn probe_auth(&self, spec: &NodeSpec) -> Option<AdminSecret> {
        if !spec.engine.is_redis_like() {
            return None;
        }
        let conf = std::fs::read_to_string(config_file(&self.node_dir(&spec.key), spec.engine));
        match conf {
            Ok(text) if !config_has_admin(&text) => None,
            _ => self.admin_secret().ok(),
        }
    }

    pub(crate) fn supervision(&self) -> &crate::supervise::Supervision {
        &self.inner.supervision
    }

    /// Serialises snapshot saves on this host.
    pub(crate) fn snapshot_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.snapshot_lock
    }

    /// Directory holding a node's config, pidfile, log and data.
    pub fn node_dir(&self, key: &str) -> PathBuf {
        self.inner.root.join(key)
    }

    fn children(&self) -> MutexGuard<'_, HashMap<String, Child>> {
        // A panic while holding the lock leaves the map usable; recover it.
        self.inner
            .children
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pid of the node's live process: our own child (reaped if it exited), or a
    /// process named in a pidfile whose command line points into the node dir.
    fn live_pid(&self, children: &mut HashMap<String, Child>, key: &str) -> Option<u32> {
        if let Some(child) = children.get_mut(key) {
            match child.try_wait() {
                Ok(None) => return Some(child.id()),
                _ => {
                    children.remove(key);
                }
            }
        }
        self.adoptable_pid(key)
    }

    /// A pid left by an earlier daemon, if it still runs this node.
    fn adoptable_pid(&self, key: &str) -> Option<u32> {
        let dir = self.node_dir(key);
        let needle = format!("{}/", dir.to_string_lossy());
        ENGINES.iter().find_map(|&engine| {
            let pid = read_pidfile(&pidfile(&dir, engine))?;
            (is_alive(pid) && cmdline_mentions(pid, &needle)).then_some(pid)
        })
    }

    /// A node process that has no pidfile (its daemon died between spawn and
    /// pidfile); only looked for when the node dir already exists, so brand-new nodes
    /// pay nothing for it.
    fn orphaned_pid(&self, spec: &NodeSpec) -> Option<u32> {
        let dir = self.node_dir(&spec.key);
        if !dir.exists() {
            return None;
        }
        let pid = find_by_cmdline(&format!("{}/", dir.to_string_lossy()))?;
        write_pidfile(&pidfile(&dir, spec.engine), pid).ok()?;
        tracing::warn!(node = %spec.key, pid, "adopted a node that had no pidfile");
        Some(pid)
    }

    /// Starts the node unless it already runs (ours or adopted); returns its pid.
    pub async fn ensure_started(&self, spec: &NodeSpec) -> Result<u32, AgentError> {
        validate_key(spec)?;
        // Claim the key, so concurrent calls cannot start the same node twice while
        // different nodes still spawn in parallel (a cluster's nodes start together).
        let _claim = loop {
            {
                let mut children = self.children();
                if let Some(pid) = self.live_pid(&mut children, &spec.key) {
                    tracing::debug!(node = %spec.key, pid, "node already running");
                    return Ok(pid);
                }
                if let Some(claim) = StartClaim::take(&self.inner, &spec.key) {
                    if let Some(pid) = self.orphaned_pid(spec) {
                        return Ok(pid);
                    }
                    break claim;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let dir = self.node_dir(&spec.key);
        std::fs::create_dir_all(&dir)?;
        let mut command = if spec.engine.is_redis_like() {
            crate::data::prepare(spec, &dir)?;
            redis_command(spec, &dir, &self.admin_secret()?)?
        } else {
            memcached_command(spec, &dir)?
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile(&dir, spec.engine))?;
        command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a Ctrl-C aimed at the daemon must not reach the nodes.
            .process_group(0);
        let child = command.spawn().map_err(|source| AgentError::Spawn {
            binary: command.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let pid = child.id();
        self.children().insert(spec.key.clone(), child);
        write_pidfile(&pidfile(&dir, spec.engine), pid)?;
        tracing::info!(node = %spec.key, pid, engine = spec.engine.as_str(), port = spec.port, "node started");
        Ok(pid)
    }

    /// True while the node's process exists and is not a zombie.
    pub fn is_running(&self, key: &str) -> bool {
        self.pid(key).is_some()
    }

    /// Pid of the node's running process, if any.
    pub fn pid(&self, key: &str) -> Option<u32> {
        let mut children = self.children();
        self.live_pid(&mut children, key)
    }

    /// One health probe: redis `PING` or memcached `version`, with a short timeout.
    pub async fn probe(&self, spec: &NodeSpec) -> bool {
        let auth = self.probe_auth(spec);
        probe_once(
            spec.connect_host(),
            spec.port,
            spec.engine,
            auth.as_ref(),
            PROBE_TIMEOUT,
        )
        .await
    }

    /// Polls [`LocalAgent::probe`] until the node answers, it dies, or `timeout` passes.
    pub async fn wait_ready(&self, spec: &NodeSpec, timeout: Duration) -> Result<(), AgentError> {
        let start = Instant::now();
        let auth = self.probe_auth(spec);
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let limit = left.min(PROBE_TIMEOUT).max(Duration::from_millis(1));
            let host = spec.connect_host();
            if probe_once(host, spec.port, spec.engine, auth.as_ref(), limit).await {
                tracing::debug!(node = %spec.key, waited = ?start.elapsed(), "node ready");
                return Ok(());
            }
            if !self.is_running(&spec.key) {
                let log = logfile(&self.node_dir(&spec.key), spec.engine);
                return Err(AgentError::Exited {
                    key: spec.key.clone(),
                    said: last_log_line(&log),
                    log,
                });
            }
            if start.elapsed() >= timeout {
                return Err(AgentError::NotReady {
                    key: spec.key.clone(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// True while `pid` (of node `key`) has not exited; reaps it if it is our child.
    fn still_alive(&self, key: &str, pid: u32) -> bool {
        let mut children = self.children();
        if let Some(child) = children.get_mut(key).filter(|c| c.id() == pid) {
            return match child.try_wait() {
                Ok(None) => true,
                _ => {
                    children.remove(key);
                    false
                }
            };
        }
        is_alive(pid)
    }

    /// Sends `sig` and waits up to `grace` for the process to go; true if it went.
    pub(crate) async fn signal_and_wait(
        &self,
        key: &str,
        pid: u32,
        sig: Signal,
        grace: Duration,
    ) -> bool {
        if signal(pid, sig).is_err() {
            return !self.still_alive(key, pid);
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if !self.still_alive(key, pid) {
                return true;
            }
            tokio::time::sleep(STOP_POLL).await;
        }
        !self.still_alive(key, pid)
    }

    /// SIGTERM, then SIGKILL after ~5 s. Not running is fine. Works for adopted nodes.
    pub async fn stop(&self, key: &str) -> Result<(), AgentError> {
        let Some(pid) = self.pid(key) else {
            return Ok(());
        };
        tracing::info!(node = %key, pid, "stopping node");
        if !self
            .signal_and_wait(key, pid, Signal::SIGTERM, STOP_GRACE)
            .await
        {
            tracing::warn!(node = %key, pid, "node ignored SIGTERM; killing");
            if !self
                .signal_and_wait(key, pid, Signal::SIGKILL, Duration::from_secs(2))
                .await
            {
                return Err(AgentError::StopFailed {
                    key: key.to_string(),
                    pid,
                });
            }
        }
        let dir = self.node_dir(key);
        for engine in ENGINES {
            remove_if_exists(&pidfile(&dir, engine))?;
        }
        Ok(())
    }

    /// Stops and starts the node again with the same dir and port, like a reboot.
    pub async fn restart(&self, spec: &NodeSpec) -> Result<u32, AgentError> {
        self.stop(&spec.key).await?;
        self.ensure_started(spec).await
    }

    /// Deletes the node directory; call after [`LocalAgent::stop`].
    pub fn remove_data(&self, key: &str) -> Result<(), AgentError> {
        if key.is_empty() || key.contains('/') || key == "." || key == ".." {
            // Never let a bad key turn into removing the root or a sibling.
            return Ok(());
        }
        match std::fs::remove_dir_all(self.node_dir(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Node keys become directory names; refuse anything that escapes the root.
fn validate_key(spec: &NodeSpec) -> Result<(), AgentError> {
    let k = spec.key.as_str();
    if k.is_empty() || k == "." || k == ".." || k.contains(['/', '\0', '\n']) {
        return Err(AgentError::InvalidSpec {
            key: spec.key.clone(),
            reason: "node key must be a plain directory name".into(),
        });
    }
    Ok(())
}

/// Renders redis.conf into the node dir (mode 0600: it holds Larder's secret) and
/// builds the engine's command line from it.
fn redis_command(spec: &NodeSpec, dir: &Path, secret: &AdminSecret) -> Result<Command, AgentError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = config_file(dir, spec.engine);
    let text = redis_config(spec, dir, secret)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    // A config written by an older Larder may be world-readable.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    let mut command = Command::new(engine_binary(spec)?);
    command.arg(&path);
    Ok(command)
}

/// Writes memcached's args file and builds its command line from it.
fn memcached_command(spec: &NodeSpec, dir: &Path) -> Result<Command, AgentError> {
    let path = config_file(dir, spec.engine);
    let args = memcached_args(spec, dir, running_as_root(), memcached_max_conns());
    std::fs::write(&path, render_args(&args))?;
    let mut command = Command::new(engine_binary(spec)?);
    // Read back so that a hand-edited args file is what actually runs.
    command.args(parse_args(&std::fs::read_to_string(&path)?));
    Ok(command)
}

/// The binary that runs `spec`: the installed one of its engine version, or the
/// engine's binary on PATH for a spec that names no version.
fn engine_binary(spec: &NodeSpec) -> Result<std::path::PathBuf, AgentError> {
    let Some(version) = &spec.engine_version else {
        return Ok(spec.engine.binary().into());
    };
    crate::binary_for(spec.engine, version).ok_or_else(|| AgentError::Spawn {
        binary: format!("{} {version}", spec.engine.binary()),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no {} {version} is installed on this host (PATH, or {})",
                spec.engine.as_str(),
                crate::ENGINE_BINARIES_ENV
            ),
        ),
    })
}

/// Removes a file, treating "already gone" as success.
fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
