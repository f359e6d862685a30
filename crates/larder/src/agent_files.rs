//! Where a host's agent keeps what others need to find and trust it, under
//! `<data-dir>/agent/`: the link secret (0600), the link's certificate and key
//! (`link.crt`, `link.key` 0600), a lock that keeps a second agent off the same data
//! dir, and `agent.json` naming the address, pid and certificate fingerprint it
//! serves on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The files of the agent of one data dir.
#[derive(Debug, Clone)]
pub struct AgentFiles {
    dir: PathBuf,
}

/// What `agent.json` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Announced {
    /// The address the agent listens on.
    pub listen: SocketAddr,
    /// Its pid.
    pub pid: u32,
    /// The SHA-256 fingerprint of the certificate it serves the link with (empty
    /// from an agent older than the TLS link).
    #[serde(default)]
    pub fingerprint: String,
}

impl AgentFiles {
    /// The agent files of `data_dir`.
    pub fn new(data_dir: &Path) -> AgentFiles {
        AgentFiles {
            dir: data_dir.join("agent"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shared secret's file.
    pub fn secret(&self) -> PathBuf {
        self.dir.join("agent.secret")
    }

    /// The default log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    fn announced_path(&self) -> PathBuf {
        self.dir.join("agent.json")
    }

    /// What the running agent announced, if anything.
    pub fn announced(&self) -> Option<Announced> {
        let text = std::fs::read_to_string(self.announced_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Announces this agent (atomically: a reader never sees half a file).
    pub fn announce(&self, a: &Announced) -> std::io::Result<()> {
        let tmp = self.dir.join("agent.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(a).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, self.announced_path())
    }

    /// Withdraws the announcement if it is still `pid`'s.
    pub fn withdraw(&self, pid: u32) {
        if self.announced().is_some_and(|a| a.pid == pid) {
            let _ = std::fs::remove_file(self.announced_path());
        }
    }

    /// Takes the data dir's agent lock, held as long as the returned file is open.
    pub fn lock(&self) -> Result<std::fs::File, String> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let path = self.dir.join("agent.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(format!(
                "another larder agent already runs on {}",
                self.dir.display()
            ));
        }
        Ok(file)
    }
}
