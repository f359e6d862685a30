//! What an installed redis (or valkey) binary accepts and its own defaults, read
//! from the engine itself: the binary is started once, with no TCP port, on a unix
//! socket in a scratch directory, asked `CONFIG GET *`, and killed. The control plane
//! uses the answer to list only parameters the binary knows and to tell where
//! ElastiCache's defaults differ from the engine's (those are written into every
//! node's configuration, so a node runs what DescribeCacheParameters says).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the probe waits for the binary's socket.
const STARTUP: Duration = Duration::from_secs(5);

/// Answers already read, by binary path: a binary is probed once per agent process.
static PROBED: Mutex<Option<HashMap<PathBuf, BTreeMap<String, String>>>> = Mutex::new(None);

/// The binary's `CONFIG GET *`, or an empty map when it cannot be read (logged):
/// the control plane then treats the binary's parameters as unknown.
pub fn config_defaults(binary: &Path) -> BTreeMap<String, String> {
    if let Some(known) = PROBED
        .lock()
        .expect("probe lock")
        .as_ref()
        .and_then(|m| m.get(binary))
    {
        return known.clone();
    }
    let read = probe(binary).unwrap_or_else(|e| {
        tracing::warn!(binary = %binary.display(), error = %e, "could not read the engine's parameters");
        BTreeMap::new()
    });
    PROBED
        .lock()
        .expect("probe lock")
        .get_or_insert_with(HashMap::new)
        .insert(binary.to_path_buf(), read.clone());
    read
}

fn probe(binary: &Path) -> Result<BTreeMap<String, String>, String> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("larder-engine-probe-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let socket = dir.join("probe.sock");
    let mut child = Command::new(binary)
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .arg("--unixsocket")
        .arg(&socket)
        .args(["--unixsocketperm", "700"])
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let read = (|| {
        let deadline = Instant::now() + STARTUP;
        let client = redis::Client::open(format!("unix://{}", socket.display()))
            .map_err(|e| e.to_string())?;
        let mut conn = loop {
            match client.get_connection() {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(format!("no answer on its socket: {e}")),
            }
        };
        let flat: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("*")
            .query(&mut conn)
            .map_err(|e| e.to_string())?;
        Ok(flat
            .chunks_exact(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect())
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    read
}
