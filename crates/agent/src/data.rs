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
