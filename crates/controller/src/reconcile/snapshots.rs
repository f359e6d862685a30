//! The snapshot workflow. A snapshot in `creating` moves in persisted steps, each
//! safe to redo after a crash of the control plane, the agent or the node:
//!
//! 1. **save**: the agent of the source node's host has the node `BGSAVE` and moves
//!    the file aside (`SaveSnapshot`, bounded wait; asked again it resumes). Its size
//!    and SHA-256 are committed to the node snapshot. A different answer later (the
//!    agent lost the file and saved again) replaces them and restarts the copy.
//! 2. **copy**: the file is streamed to `<snapshot dir>/<name>/<node key>.rdb.partial`
//!    in bounded chunks, resuming at the partial file's length; once complete its
//!    size and SHA-256 must equal the recorded ones, and only then is it synced and
//!    renamed to `.rdb`. A mismatch discards the partial file and counts a failure.
//! 3. **available**: committed only when every node's `.rdb` is in place, so an
//!    `available` snapshot never has partial data. The agents' copies are removed.
//!
//! A snapshot in `deleting` loses its files first and its record last.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use larder_agent::{NodeRef, SnapshotSave, SNAPSHOT_CHUNK_MAX};
use larder_model::snapshot::agent_file_name;
use larder_model::{Fault, NodeSnapshot, Snapshot, SnapshotFile, SnapshotStatus};

use crate::retry::AfterFailure;
use crate::service::snapshot_event;
use crate::{Controller, RetryPolicy};

/// What one save-and-copy of a node's file came to.
pub(super) enum NodeProgress {
    /// The node is still saving; ask again on a later pass.
    Saving,
    /// Something was committed or completed; look again at once.
    Moved,
    /// The node's file is complete on the control plane.
    Complete,
}

/// Why a step of a snapshot did not complete.
pub(super) enum StepFailure {
    /// Worth another attempt (the node or its agent did not answer, a bad copy).
    Retry(String),
    /// Nothing to retry: the source node is gone.
    Final(String),
}

impl From<String> for StepFailure {
    fn from(reason: String) -> StepFailure {
        StepFailure::Retry(reason)
    }
}

/// The file names of one node's part of a snapshot on the control plane.
pub(crate) fn local_file(dir: &Path, snapshot: &str, ns: &NodeSnapshot) -> PathBuf {
    dir.join(snapshot).join(format!("{}.rdb", ns.node_key()))
}

pub(super) fn partial_of(file: &Path) -> PathBuf {
    file.with_extension("rdb.partial")
}

pub(super) fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Controller {
    /// Drives one snapshot until no step makes progress.
    pub(crate) async fn snapshot_pass(&self, name: &str) {
        loop {
            let s = match self.store().get_snapshot(name) {
                Ok(Some(s)) => s,
                _ => return,
            };
            let progressed = match s.status {
                SnapshotStatus::Creating => self.make_snapshot(&s).await,
                SnapshotStatus::Deleting => self.remove_snapshot(&s).await,
                SnapshotStatus::Available => self.export_pass(&s).await,
                SnapshotStatus::Failed => false,
            };
            if !progressed {
                return;
            }
        }
    }

    async fn make_snapshot(&self, s: &Snapshot) -> bool {
        if !RetryPolicy::due(s.retry_at, Utc::now()) {
            return false;
        }
        for (i, ns) in s.node_snapshots.iter().enumerate() {
            match self.node_snapshot_step(s, i, ns).await {
                Ok(NodeProgress::Complete) => continue,
                Ok(NodeProgress::Saving) => return false,
                Ok(NodeProgress::Moved) => return true,
                Err(failure) => {
                    let (reason, last) = match failure {
                        StepFailure::Retry(r) => (r, false),
                        StepFailure::Final(r) => (r, true),
                    };
                    tracing::warn!(snapshot = %s.name, node = %ns.node_key(), %reason, "snapshot step failed");
                    if let Err(e) = self.record_snapshot_failure(s, &reason, last).await {
                        tracing::error!(snapshot = %s.name, error = %e, "cannot record the failure");
                    }
                    return false;
                }
            }
        }
        let done = self.store().update_snapshot(&s.name, |cur, events| {
            if cur.status != SnapshotStatus::Creating {
                return Ok(false);
            }
            cur.status = SnapshotStatus::Available;
            cur.attempts = 0;
            cur.retry_at = None;
            events.push(snapshot_event(
                cur,
                format!("Snapshot {} succeeded", cur.name),
            ));
            Ok(true)
        });
        if matches!(done, Ok(true)) {
            tracing::info!(snapshot = %s.name, "snapshot available");
            self.discard_agent_files(s).await;
        }
        done.unwrap_or(false)
    }

    /// One node's save and copy; `Err` is a failed attempt with its reason.
    async fn node_snapshot_step(
        &self,
        s: &Snapshot,
        i: usize,
        ns: &NodeSnapshot,
    ) -> Result<NodeProgress, StepFailure> {
        let dir = &self.settings().snapshot_dir;
        let file = local_file(dir, &s.name, ns);
        if ns.file.is_some() && file.exists() {
            return Ok(NodeProgress::Complete);
        }
        if let Some(source) = &s.copy_of {
            return self.copy_from_snapshot(source, ns, &file).await;
        }
        let cluster = self
            .store()
            .get_cluster(&ns.cache_cluster_id)
            .map_err(|e| e.to_string())?;
        let Some((c, n)) = cluster.and_then(|c| {
            let n = c.node(&ns.cache_node_id)?.clone();
            Some((c, n))
        }) else {
            return Err(StepFailure::Final(format!(
                "the source node {} is gone",
                ns.node_key()
            )));
        };
        let agent = self.agent_of(&n);
        let node: NodeRef = self.node_ref(&c, &n);
        let saved = agent
            .save_snapshot(
                &node,
                &agent_file_name(&s.name),
                self.settings().snapshot_save_wait,
            )
            .await
            .map_err(|e| format!("saving node {}: {e}", node.key))?;
        let saved = match saved {
            SnapshotSave::Pending => return Ok(NodeProgress::Saving),
            SnapshotSave::Saved(f) => f,
        };
        if ns.file.as_ref() != Some(&saved) {
            // A new file (the first answer, or the agent saved again): copy it anew.
            remove_if_there(&partial_of(&file)).map_err(|e| e.to_string())?;
            let now = Utc::now();
            self.store()
                .update_snapshot(&s.name, |cur, _| {
                    if let Some(x) = cur.node_snapshots.get_mut(i) {
                        x.file = Some(saved.clone());
                        x.snapshot_create_time = Some(now);
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
            self.snapshot_crash_point(&s.name, "snapshot-saved").await;
            return Ok(NodeProgress::Moved);
        }
        self.copy_file(&*agent, s, ns, &saved, &file).await?;
        Ok(NodeProgress::Moved)
    }

    /// Streams a saved file from its agent, resuming a partial copy, and puts it in
    /// place only when its size and checksum are the recorded ones.
    async fn copy_file(
        &self,
        agent: &dyn larder_agent::NodeAgent,
        s: &Snapshot,
        ns: &NodeSnapshot,
        want: &SnapshotFile,
        file: &Path,
    ) -> Result<(), String> {
        let io = |e: std::io::Error| format!("writing {}: {e}", file.display());
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let partial = partial_of(file);
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .map_err(io)?;
        let mut offset = out.metadata().map_err(io)?.len();
        let key = ns.node_key();
        while offset < want.size {
            let chunk = agent
                .read_snapshot(&agent_file_name(&s.name), &key, offset, SNAPSHOT_CHUNK_MAX)
                .await
                .map_err(|e| format!("reading node {key}'s file: {e}"))?;
            // The agent is trusted less than the file's record: bound what it sends.
            if chunk.hex.len() > 2 * SNAPSHOT_CHUNK_MAX as usize {
                return Err(format!("node {key}'s agent sent an oversized chunk"));
            }
            let bytes = hex::decode(&chunk.hex).map_err(|e| format!("bad chunk: {e}"))?;
            if bytes.is_empty() {
                break;
            }
            out.write_all(&bytes).map_err(io)?;
            offset += bytes.len() as u64;
            if chunk.eof {
                break;
            }
        }
        out.sync_all().map_err(io)?;
        drop(out);
        let check = partial.clone();
        let got = tokio::task::spawn_blocking(move || larder_agent::snapshot_file_digest(&check))
            .await
            .map_err(|e| e.to_string())?
            .map_err(io)?;
        if &got != want {
            remove_if_there(&partial).map_err(io)?;
            return Err(format!(
                "node {key}'s file arrived with {} bytes and SHA-256 {}, expected {} bytes and {}",
                got.size, got.sha256, want.size, want.sha256
            ));
        }
        std::fs::rename(&partial, file).map_err(io)?;
        if let Some(parent) = file.parent() {
            // The rename is durable only once the directory is.
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        tracing::info!(snapshot = %s.name, node = %key, bytes = want.size, "snapshot file copied and verified");
        self.snapshot_crash_point(&s.name, "snapshot-copied").await;
        Ok(())
    }

    /// Counts a failed attempt; after the last one the snapshot is `failed` and its
    /// files are removed.
    async fn record_snapshot_failure(
        &self,
        s: &Snapshot,
        reason: &str,
        last: bool,
    ) -> Result<(), Fault> {
        let policy = self.settings().node_retry;
        let now = Utc::now();
        let gave_up = self.store().update_snapshot(&s.name, |cur, events| {
            if cur.status != SnapshotStatus::Creating || cur.attempts != s.attempts {
                return Ok(false);
            }
            let decision = if last {
                AfterFailure::GiveUp {
                    attempts: cur.attempts + 1,
                }
            } else {
                policy.after_failure(cur.attempts, now)
            };
            match decision {
                AfterFailure::Retry { attempts, at, .. } => {
                    cur.attempts = attempts;
                    cur.retry_at = Some(at);
                    events.push(snapshot_event(
                        cur,
                        format!(
                            "Snapshot {} attempt {attempts} of {} failed: {reason}",
                            cur.name, policy.max_attempts
                        ),
                    ));
                    Ok(false)
                }
                AfterFailure::GiveUp { attempts } => {
                    cur.status = SnapshotStatus::Failed;
                    cur.attempts = attempts;
                    cur.retry_at = None;
                    events.push(snapshot_event(
                        cur,
                        format!(
                            "Snapshot {} failed after {attempts} attempts: {reason}",
                            cur.name
                        ),
                    ));
                    Ok(true)
                }
            }
        })?;
        if gave_up {
            self.remove_local_files(s);
            self.discard_agent_files(s).await;
        }
        Ok(())
    }

    async fn remove_snapshot(&self, s: &Snapshot) -> bool {
        self.remove_local_files(s);
        self.discard_agent_files(s).await;
        let arn = self.settings().arn("snapshot", &s.name);
        let done = self.store().transaction(|tx| {
            match tx.snapshot(&s.name)? {
                Some(cur) if cur.status == SnapshotStatus::Deleting => {}
                _ => return Ok(false),
            }
            tx.delete_snapshot(&s.name)?;
            tx.delete_tags(&arn)?;
            tx.event(snapshot_event(s, format!("Snapshot {} deleted", s.name)));
            Ok(true)
        });
        done.unwrap_or(false)
    }

    /// The crash-test seam: with `--workflow-step-delay-ms`, names the point in the
    /// log and waits there, so a test can SIGKILL the daemon exactly at it.
    pub(super) async fn snapshot_crash_point(&self, name: &str, point: &str) {
        if self.settings().workflow_step_delay.is_zero() {
            return;
        }
        tracing::info!(snapshot = %name, point, "snapshot crash point {point}");
        self.step_delay().await;
    }

    fn remove_local_files(&self, s: &Snapshot) {
        let dir = self.settings().snapshot_dir.join(&s.name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(snapshot = %s.name, dir = %dir.display(), error = %e, "cannot remove snapshot files");
            }
        }
    }

    /// Asks every agent that saved a file of the snapshot to drop its copy. Best
    /// effort: an agent out of reach keeps a file nobody reads.
    async fn discard_agent_files(&self, s: &Snapshot) {
        let mut hosts: Vec<Option<&str>> =
            s.node_snapshots.iter().map(|n| n.host.as_deref()).collect();
        hosts.dedup();
        for host in hosts {
            let name = agent_file_name(&s.name);
            if let Err(e) = self.agent_on(host).discard_snapshot(&name).await {
                tracing::warn!(snapshot = %s.name, host = host.unwrap_or("local"), error = %e, "agent kept its snapshot files");
            }
        }
    }
}
