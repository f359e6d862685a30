//! The dataset a redis node starts with. Nodes run without persistence, yet redis
//! loads `dump.rdb` (or an AOF) from its directory at start if it finds one: a
//! replica's full sync, `SAVE` run in an earlier life or a crash leave such files.
//! So before every spawn the node dir is cleared of them, and only a snapshot the
//! caller names on purpose is put in.

use std::path::Path;

use crate::{InitialData, NodeSpec};

/// The file redis loads at start (its default `dbfilename`; we never change it).
pub(crate) const DB_FILENAME: &str = "dump.rdb";

/// Redis 7's default `appenddirname`, holding the AOF manifest and its parts.
const AOF_DIR: &str = "appendonlydir";

/// Where this host keeps node `key`'s file of `snapshot`: beside the node dirs.
fn saved_file(dir: &Path, snapshot: &str, key: &str) -> std::io::Result<std::path::PathBuf> {
    let invalid = |e: crate::AgentError| std::io::Error::other(e.to_string());
    crate::snapshot_files::check_name("snapshot name", snapshot).map_err(invalid)?;
    crate::snapshot_files::check_name("node key", key).map_err(invalid)?;
    let root = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("a node dir without a parent"))?;
    Ok(root
        .join(crate::snapshot_files::SNAPSHOTS_DIR)
        .join(snapshot)
        .join(format!("{key}.rdb")))
}

/// Removes every RDB/AOF file in `dir`, then copies in the snapshot `spec` asks for.
pub(crate) fn prepare(spec: &NodeSpec, dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name == AOF_DIR {
            tracing::info!(node = %spec.key, "removing a leftover append-only directory");
            std::fs::remove_dir_all(&path)?;
        } else if name.ends_with(".rdb") || name.ends_with(".aof") {
            tracing::info!(node = %spec.key, file = %name, "removing a leftover data file");
            std::fs::remove_file(&path)?;
        }
    }
    match &spec.initial_data {
        InitialData::Rdb(source) => {
            tracing::info!(node = %spec.key, snapshot = %source.display(), "starting from a snapshot");
            std::fs::copy(source, dir.join(DB_FILENAME))?;
        }
        InitialData::Saved { snapshot, expect } => {
            let source = saved_file(dir, snapshot, &spec.key)?;
            let found = crate::snapshot_files::snapshot_file_digest(&source)?;
            if &found != expect {
                return Err(std::io::Error::other(format!(
                    "the saved file {} does not match its record (size {} sha256 {}, expected size {} sha256 {})",
                    source.display(), found.size, found.sha256, expect.size, expect.sha256
                )));
            }
            tracing::info!(node = %spec.key, snapshot, "starting from its own saved data");
            std::fs::copy(&source, dir.join(DB_FILENAME))?;
        }
        InitialData::Empty => {
            // A restore that is over (or was never finished) leaves nothing behind.
            for name in [
                crate::snapshot_files::STAGED_RESTORE,
                crate::snapshot_files::STAGING_RESTORE,
            ] {
                match std::fs::remove_file(dir.join(name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
