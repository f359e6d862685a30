//! The copy step of CopySnapshot. A copy has no node to save: each of its node
//! files comes from the source snapshot's file on the control plane. The file is
//! hard-linked (snapshot files never change once in place, so both names may share
//! the data) or, where a link is refused, copied, under the `.partial` name; it
//! becomes `.rdb` only once its size and SHA-256 equal the source's record. Redone
//! after a crash at any point, the step starts the partial file afresh.

use std::path::Path;

use larder_model::NodeSnapshot;

use super::snapshots::{local_file, partial_of, remove_if_there, NodeProgress, StepFailure};
use crate::Controller;

impl Controller {
    /// Puts node `ns`'s file of snapshot `source` in place as `file`.
    pub(super) async fn copy_from_snapshot(
        &self,
        source: &str,
        ns: &NodeSnapshot,
        file: &Path,
    ) -> Result<NodeProgress, StepFailure> {
        let Some(want) = ns.file.clone() else {
            return Err(StepFailure::Final(format!(
                "snapshot {source} has no file recorded for node {}",
                ns.node_key()
            )));
        };
        let from = local_file(&self.settings().snapshot_dir, source, ns);
        if !from.exists() {
            return Err(StepFailure::Final(format!(
                "snapshot {source}'s file of node {} is gone",
                ns.node_key()
            )));
        }
        let io = |e: std::io::Error| StepFailure::Retry(format!("{}: {e}", file.display()));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let partial = partial_of(file);
        remove_if_there(&partial).map_err(io)?;
        if std::fs::hard_link(&from, &partial).is_err() {
            std::fs::copy(&from, &partial).map_err(io)?;
        }
        let check = partial.clone();
        let got = tokio::task::spawn_blocking(move || larder_agent::snapshot_file_digest(&check))
            .await
            .map_err(|e| StepFailure::Retry(e.to_string()))?
            .map_err(io)?;
        if got != want {
            remove_if_there(&partial).map_err(io)?;
            return Err(StepFailure::Retry(format!(
                "snapshot {source}'s file of node {} has {} bytes and SHA-256 {}, its record {} bytes and {}",
                ns.node_key(),
                got.size,
                got.sha256,
                want.size,
                want.sha256
            )));
        }
        std::fs::rename(&partial, file).map_err(io)?;
        if let Some(parent) = file.parent() {
            // The rename is durable only once the directory is.
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        tracing::info!(snapshot = %source, node = %ns.node_key(), bytes = want.size, "snapshot file copied and verified");
        Ok(NodeProgress::Moved)
    }
}
