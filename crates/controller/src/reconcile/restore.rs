//! Restores: a node created from a snapshot starts with that snapshot's file. Before
//! its first start the file is sent to the agent of the node's host in bounded
//! chunks (`StageRestore`), which keeps it in the node's directory, resumes a
//! partial copy where it ends, and checks size and SHA-256 against the snapshot's
//! record before it hands back the path the start loads (`InitialData::Rdb`). A
//! file corrupted or truncated on the control plane is refused there, and the node's
//! start fails as any other would: attempts, events, then `create-failed`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use larder_agent::{NodeAgent, SNAPSHOT_CHUNK_MAX};
use larder_model::{Fault, RestoreFrom};

use crate::Controller;

impl Controller {
    /// Stages `r`'s file for node `key` on `agent`; the path its start loads.
    pub(crate) async fn stage_restore_file(
        &self,
        agent: &dyn NodeAgent,
        key: &str,
        r: &RestoreFrom,
    ) -> Result<PathBuf, Fault> {
        let local = self.restore_local_file(key, r);
        let fail =
            |what: String| Fault::Internal(format!("restoring snapshot {}: {what}", r.snapshot));
        let mut file =
            std::fs::File::open(&local).map_err(|e| fail(format!("{}: {e}", local.display())))?;
        // Where the agent's copy ends (nothing sent yet), then the rest from there.
        let mut staged = agent
            .stage_restore(key, 0, String::new(), &r.file)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut buf = vec![0u8; SNAPSHOT_CHUNK_MAX as usize];
        while staged.path.is_none() {
            file.seek(SeekFrom::Start(staged.have))
                .map_err(|e| fail(e.to_string()))?;
            let n = file.read(&mut buf).map_err(|e| fail(e.to_string()))?;
            if n == 0 {
                return Err(fail(format!(
                    "the file on the control plane ends at {} bytes, the snapshot recorded {}",
                    staged.have, r.file.size
                )));
            }
            staged = agent
                .stage_restore(key, staged.have, hex::encode(&buf[..n]), &r.file)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(staged.path.unwrap_or_default())
    }
}
