//! Snapshot files on the agent's host. A redis node saves its dataset with `BGSAVE`
//! into its own directory (`dump.rdb`, written by redis to a temporary file and
//! renamed, so it is whole whenever it exists); the agent moves that file into
//! `<nodes root>/.snapshots/<snapshot>/<node key>.rdb`, records its size and SHA-256
//! beside it, and hands it to the control plane in bounded chunks.
//!
//! Every step can be asked again after any crash (of the agent, the node or the
//! control plane): a file already moved is answered at once; a save still running
//! is waited for (bounded; the caller asks again); a save that finished while
//! nobody waited is recognised by the node's `rdb_saves` counter, recorded in a
//! marker before `BGSAVE`; anything else saves again.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use larder_model::SnapshotFile;
use sha2::{Digest, Sha256};

use crate::data::DB_FILENAME;
use crate::interface::{NodeRef, SnapshotChunk, SnapshotSave, StagedRestore};
use crate::node_conn::{admin_query, connect, NodeAddr};
use crate::{AgentError, LocalAgent};

/// The most bytes one chunk carries (hex-encoded, twice that on the wire, which
/// stays under the link's 1 MiB body limit).
pub const CHUNK_MAX: u32 = 256 * 1024;

/// Longest snapshot name or node key accepted as a file name.
const NAME_MAX: usize = 255;

/// How often a running save is looked at.
const SAVE_POLL: Duration = Duration::from_millis(20);

/// Directory under the nodes root holding the snapshot files (a leading dot: no
/// node key starts with one).
pub(crate) const SNAPSHOTS_DIR: &str = ".snapshots";

/// The complete restore file in a node's directory. Not `*.rdb`, so the sweep of
/// stale data before a spawn (`data.rs`) leaves it for the start that loads it.
pub(crate) const STAGED_RESTORE: &str = "restore.staged";

/// A restore file still arriving.
pub(crate) const STAGING_RESTORE: &str = "restore.partial";

/// Refuses anything but a plain name: lower-case letters, digits and hyphens. The
/// names become path components, so `..`, slashes and NULs must never get through.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), AgentError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AgentError::InvalidSpec {
            key: name.chars().take(64).collect(),
            reason: format!("not a valid {what}"),
        })
    }
}

/// The paths of one node's file in one snapshot.
struct Paths {
    dir: PathBuf,
    file: PathBuf,
    meta: PathBuf,
    marker: PathBuf,
}

/// The size and SHA-256 of the file at `path`, read in 64 KiB blocks. The control
/// plane checks its copies with the same digest.
pub fn snapshot_file_digest(path: &Path) -> std::io::Result<SnapshotFile> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(SnapshotFile {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The fields of `INFO persistence` a save is judged by.
struct SaveState {
    in_progress: bool,
    /// Grows with every completed save: the save count, or on Redis 6 the time of
    /// the last save.
    saves: u64,
    last_ok: bool,
}

async fn save_state(addr: &NodeAddr) -> redis::RedisResult<SaveState> {
    let mut conn = connect(addr).await?;
    let text: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(&mut conn)
        .await?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    Ok(SaveState {
        in_progress: field("rdb_bgsave_in_progress") == Some("1"),
        // Redis 6 has no `rdb_saves`; the time of its last save (whole seconds) tells
        // a newer save apart too, once the clock has moved past the marker's.
        saves: field("rdb_saves")
            .or_else(|| field("rdb_last_save_time"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        last_ok: field("rdb_last_bgsave_status") == Some("ok"),
    })
}

async fn bgsave(addr: &NodeAddr) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    match admin_query::<String>(&mut conn, "bgsave", &[]).await {
        // Another save (ours from before a crash, or a replica's sync) runs: wait for it.
        Err(e) if e.to_string().contains("in progress") => Ok(()),
        other => other.map(|_| ()),
    }
}

impl LocalAgent {
    fn snapshot_paths(&self, snapshot: &str, key: &str) -> Paths {
        let dir = self.snapshots_root().join(snapshot);
        Paths {
            file: dir.join(format!("{key}.rdb")),
            meta: dir.join(format!("{key}.json")),
            marker: dir.join(format!("{key}.saving")),
            dir,
        }
    }

    fn snapshots_root(&self) -> PathBuf {
        self.node_dir(SNAPSHOTS_DIR)
    }

    /// Saves node `node`'s dataset as its file of `snapshot`, waiting at most
    /// `timeout` for the node's save; see the module comment for how it resumes.
    pub(crate) async fn save_snapshot(
        &self,
        node: &NodeRef,
        snapshot: &str,
        timeout: Duration,
    ) -> Result<SnapshotSave, AgentError> {
        check_name("snapshot name", snapshot)?;
        check_name("node key", &node.key)?;
        let _one_at_a_time = self.snapshot_lock().lock().await;
        let paths = self.snapshot_paths(snapshot, &node.key);
        std::fs::create_dir_all(&paths.dir)?;
        if let Some(done) = self.finished_file(&paths).await? {
            return Ok(SnapshotSave::Saved(done));
        }
        let addr = self.node_addr(node);
        let node_err = |e: redis::RedisError| AgentError::Node {
            node: addr.to_string(),
            message: e.to_string(),
        };
        let dump = self.node_dir(&node.key).join(DB_FILENAME);
        let deadline = Instant::now() + timeout;
        loop {
            let state = save_state(&addr).await.map_err(node_err)?;
            if state.in_progress {
                if Instant::now() >= deadline {
                    return Ok(SnapshotSave::Pending);
                }
                tokio::time::sleep(SAVE_POLL).await;
                continue;
            }
            let asked_at: Option<u64> = std::fs::read_to_string(&paths.marker)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            match asked_at {
                Some(before) if state.saves > before && state.last_ok && dump.exists() => {
                    tracing::info!(node = %node.key, snapshot, "node saved its dataset");
                    std::fs::rename(&dump, &paths.file)?;
                    let done = self.finished_file(&paths).await?;
                    return done
                        .ok_or_else(|| {
                            AgentError::Io(std::io::Error::other("snapshot file vanished"))
                        })
                        .map(SnapshotSave::Saved);
                }
                Some(before) if state.saves > before && !state.last_ok => {
                    let _ = std::fs::remove_file(&paths.marker);
                    return Err(AgentError::Node {
                        node: addr.to_string(),
                        message: "BGSAVE failed (rdb_last_bgsave_status:err); see the node's log"
                            .into(),
                    });
                }
                _ => {
                    // Not asked yet, or asked of a node that restarted since (its
                    // counter went back), or the file went to another snapshot.
                    write_atomically(&paths.marker, state.saves.to_string().as_bytes())?;
                    tracing::info!(node = %node.key, snapshot, "asking the node to save its dataset");
                    bgsave(&addr).await.map_err(node_err)?;
                }
            }
        }
    }

    /// The recorded size and checksum of a file already moved into the snapshot
    /// (computed and recorded now when a crash came between the move and the record).
    async fn finished_file(&self, paths: &Paths) -> Result<Option<SnapshotFile>, AgentError> {
        if !paths.file.exists() {
            return Ok(None);
        }
        if let Ok(text) = std::fs::read(&paths.meta) {
            if let Ok(meta) = serde_json::from_slice::<SnapshotFile>(&text) {
                return Ok(Some(meta));
            }
        }
        let file = paths.file.clone();
        // Hashing a large file takes a while: off the runtime's workers.
        let meta = tokio::task::spawn_blocking(move || snapshot_file_digest(&file))
            .await
            .map_err(|e| AgentError::Io(std::io::Error::other(e)))??;
        let text = serde_json::to_vec(&meta).map_err(|e| AgentError::Io(e.into()))?;
        write_atomically(&paths.meta, &text)?;
        let _ = std::fs::remove_file(&paths.marker);
        Ok(Some(meta))
    }

    /// Up to `len` bytes (at most [`CHUNK_MAX`]) of a saved file from `offset`.
    pub(crate) fn read_snapshot(
        &self,
        snapshot: &str,
        key: &str,
        offset: u64,
        len: u32,
    ) -> Result<SnapshotChunk, AgentError> {
        check_name("snapshot name", snapshot)?;
        check_name("node key", key)?;
        let paths = self.snapshot_paths(snapshot, key);
        let mut f = std::fs::File::open(&paths.file)?;
        let size = f.metadata()?.len();
        f.seek(SeekFrom::Start(offset.min(size)))?;
        let want = len.min(CHUNK_MAX) as usize;
        let mut buf = Vec::with_capacity(want);
        f.take(want as u64).read_to_end(&mut buf)?;
        let eof = offset + buf.len() as u64 >= size;
        Ok(SnapshotChunk {
            hex: hex::encode(&buf),
            eof,
        })
    }

    /// Stages a piece of node `key`'s restore file (see `AgentRequest::StageRestore`).
    pub(crate) async fn stage_restore(
        &self,
        key: &str,
        offset: u64,
        hex_bytes: &str,
        expect: &SnapshotFile,
    ) -> Result<StagedRestore, AgentError> {
        check_name("node key", key)?;
        let bad = |why: String| AgentError::InvalidSpec {
            key: key.to_string(),
            reason: why,
        };
        // Bound what a caller announces before decoding or writing anything.
        if hex_bytes.len() > 2 * CHUNK_MAX as usize {
            return Err(bad(format!(
                "a restore chunk carries at most {CHUNK_MAX} bytes"
            )));
        }
        let dir = self.node_dir(key);
        std::fs::create_dir_all(&dir)?;
        let staged = dir.join(STAGED_RESTORE);
        let partial = dir.join(STAGING_RESTORE);
        if let Ok(meta) = std::fs::metadata(&staged) {
            // Verified when it was completed; a file of another size is another restore's.
            if meta.len() == expect.size {
                return Ok(StagedRestore {
                    have: expect.size,
                    path: Some(staged),
                });
            }
            std::fs::remove_file(&staged)?;
        }
        let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        let mut have = if have > expect.size {
            std::fs::remove_file(&partial)?;
            0
        } else {
            have
        };
        if offset == have && !hex_bytes.is_empty() {
            let bytes = hex::decode(hex_bytes).map_err(|e| bad(format!("bad chunk: {e}")))?;
            if have + bytes.len() as u64 > expect.size {
                return Err(bad(format!(
                    "more than the announced {} bytes",
                    expect.size
                )));
            }
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&partial)?;
            f.write_all(&bytes)?;
            f.sync_data()?;
            have += bytes.len() as u64;
        }
        if have < expect.size {
            return Ok(StagedRestore { have, path: None });
        }
        let check = partial.clone();
        let got = tokio::task::spawn_blocking(move || snapshot_file_digest(&check))
            .await
            .map_err(|e| AgentError::Io(std::io::Error::other(e)))??;
        if &got != expect {
            let _ = std::fs::remove_file(&partial);
            return Err(bad(format!(
                "the restore file has SHA-256 {} ({} bytes), the snapshot recorded {} ({} bytes)",
                got.sha256, got.size, expect.sha256, expect.size
            )));
        }
        std::fs::rename(&partial, &staged)?;
        tracing::info!(node = %key, bytes = expect.size, "restore file staged and verified");
        Ok(StagedRestore {
            have,
            path: Some(staged),
        })
    }

    /// Removes this host's files of `snapshot`; nothing to remove is fine.
    pub(crate) fn discard_snapshot(&self, snapshot: &str) -> Result<(), AgentError> {
        check_name("snapshot name", snapshot)?;
        match std::fs::remove_dir_all(self.snapshots_root().join(snapshot)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_directory_are_refused() {
        for bad in ["", "..", "a/b", "A", "x\0", "snap.rdb", &"a".repeat(256)] {
            assert!(check_name("snapshot name", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("snapshot name", "nightly-2024-05-01").is_ok());
    }
}
