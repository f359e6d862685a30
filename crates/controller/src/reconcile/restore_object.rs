//! Restores from SnapshotArns: before the node's first start the control plane
//! downloads the RDB object to `<snapshot dir>/.objects/<node key>.rdb` (through a
//! `.partial` file renamed once complete), checks that it is an RDB file (magic
//! `REDIS` and a four-digit version) and records its size and SHA-256; from there
//! the restore is the one of a snapshot (`restore.rs`): staged on the node's host,
//! checked again, loaded. A missing object, or one that is not an RDB file, fails
//! the node at once (no attempt can mend it): `create-failed` with an event, and
//! nothing else is touched. An unreachable endpoint fails an attempt, as any start
//! failure does. Redone after a crash, a complete download is reused.

use std::io::Read;
use std::path::{Path, PathBuf};

use larder_model::{Fault, RestoreFrom};

use crate::s3::FetchError;
use crate::Controller;

/// The directory of downloaded objects, under the snapshot directory (a leading dot:
/// no SnapshotName starts with one).
const OBJECTS_DIR: &str = ".objects";

/// The smallest RDB file: magic, version, EOF opcode and checksum.
const RDB_MIN: u64 = 18;

/// Refuses a file that does not start as an RDB file does.
pub(crate) fn check_rdb_header(path: &Path) -> Result<(), String> {
    let mut head = [0u8; 9];
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len < RDB_MIN || f.read_exact(&mut head).is_err() {
        return Err(format!("it has {len} bytes, too few for an RDB file"));
    }
    if &head[..5] != b"REDIS" || !head[5..].iter().all(u8::is_ascii_digit) {
        return Err("it is not an RDB file (no REDIS magic and version)".into());
    }
    Ok(())
}

/// What a restore object came to.
pub(super) enum Fetched {
    /// The restore to stage, with the file's size and SHA-256.
    Ready(RestoreFrom),
    /// The object is missing or no RDB file: the node cannot start from it.
    Refused(String),
}

impl Controller {
    /// Where a node's restore file is on the control plane.
    pub(super) fn restore_local_file(&self, key: &str, r: &RestoreFrom) -> PathBuf {
        let dir = &self.settings().snapshot_dir;
        match &r.object {
            Some(_) => dir.join(OBJECTS_DIR).join(format!("{key}.rdb")),
            None => dir.join(&r.snapshot).join(format!("{}.rdb", r.node_key)),
        }
    }

    /// For a restore from an S3 object: downloads and checks it, and answers the
    /// restore with the file's size and SHA-256. A snapshot's restore is returned as
    /// it is.
    pub(super) async fn fetch_restore_object(
        &self,
        key: &str,
        r: &RestoreFrom,
        max_bytes: u64,
    ) -> Result<Fetched, Fault> {
        let Some(o) = &r.object else {
            return Ok(Fetched::Ready(r.clone()));
        };
        let fail = |what: String| Fault::Internal(format!("restoring from {}: {what}", r.snapshot));
        let local = self.restore_local_file(key, r);
        if !local.exists() {
            // An RDB file is smaller than the dataset it loads into.
            let limit = max_bytes.max(1 << 20);
            match self.s3().download(&o.bucket, &o.key, &local, limit).await {
                Ok(()) => {}
                Err(FetchError::Missing(m)) => return Ok(Fetched::Refused(m)),
                Err(FetchError::Other(m)) => return Err(fail(m)),
            }
        }
        let path = local.clone();
        let checked = tokio::task::spawn_blocking(move || {
            check_rdb_header(&path)?;
            larder_agent::snapshot_file_digest(&path).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| fail(e.to_string()))?;
        let file = match checked {
            Ok(f) => f,
            Err(why) => {
                let _ = std::fs::remove_file(&local);
                return Ok(Fetched::Refused(format!("{}: {why}", r.snapshot)));
            }
        };
        tracing::info!(node = %key, object = %r.snapshot, bytes = file.size, "restore object downloaded and checked");
        Ok(Fetched::Ready(RestoreFrom {
            file,
            node_key: key.to_string(),
            ..r.clone()
        }))
    }

    /// Removes a downloaded object once the node's host has its verified copy.
    pub(super) fn drop_restore_object(&self, key: &str, r: &RestoreFrom) {
        if r.object.is_some() {
            let _ = std::fs::remove_file(self.restore_local_file(key, r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rdb_files_pass_the_header_check() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.rdb");
        std::fs::write(&f, b"REDIS0010\xfa\x09redis-ver\x067.0.15\xff12345678").unwrap();
        assert!(check_rdb_header(&f).is_ok());
        std::fs::write(&f, b"<?xml version=\"1.0\"?><Error>NoSuchKey</Error>").unwrap();
        assert!(check_rdb_header(&f).is_err());
        std::fs::write(&f, b"ZEDIS0010\xfa\x09redis-ver\x067.0.15\xff1").unwrap();
        assert!(check_rdb_header(&f).is_err());
        std::fs::write(&f, b"REDIS0010").unwrap();
        assert!(check_rdb_header(&f).is_err());
        std::fs::write(&f, b"REDISabcd\xfa\x09redis-ver\x067.0.15\xff1").unwrap();
        assert!(check_rdb_header(&f).is_err());
    }
}
