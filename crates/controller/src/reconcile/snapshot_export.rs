//! The export step of CopySnapshot with TargetBucket. The control plane uploads:
//! it already holds every available snapshot's verified files (the agents' copies
//! are gone by then), so no agent, and no host that may have left, takes part.
//! Each node's file becomes one object (`<TargetSnapshotName>-<NNNN>.rdb`) through
//! a multipart upload, visible only once complete; the export leaves the snapshot's
//! record only after every object is there, so a crash at any point redoes the
//! uploads, which overwrite what the earlier attempt completed with the same bytes.

use chrono::Utc;
use larder_model::{Snapshot, SnapshotExport};

use super::snapshots::local_file;
use crate::retry::AfterFailure;
use crate::service::snapshot_event;
use crate::{Controller, RetryPolicy};

impl Controller {
    /// Runs the first pending export of an available snapshot; whether it moved.
    pub(super) async fn export_pass(&self, s: &Snapshot) -> bool {
        let Some(export) = s.exports.first().cloned() else {
            return false;
        };
        if !RetryPolicy::due(s.retry_at, Utc::now()) {
            return false;
        }
        let s3 = self.s3();
        for (i, ns) in s.node_snapshots.iter().enumerate() {
            let file = local_file(&self.settings().snapshot_dir, &s.name, ns);
            let key = export.object_key(i);
            if let Err(reason) = s3.upload(&export.bucket, &key, &file).await {
                tracing::warn!(snapshot = %s.name, bucket = %export.bucket, %key, %reason, "export failed");
                self.record_export_failure(s, &export, &reason);
                return false;
            }
            tracing::info!(snapshot = %s.name, bucket = %export.bucket, %key, "snapshot file exported");
        }
        self.snapshot_crash_point(&s.name, "export-uploaded").await;
        let done = self.store().update_snapshot(&s.name, |cur, events| {
            let before = cur.exports.len();
            cur.exports.retain(|e| e != &export);
            cur.attempts = 0;
            cur.retry_at = None;
            if cur.exports.len() < before {
                events.push(snapshot_event(
                    cur,
                    format!(
                        "Snapshot {} exported to s3://{}/{}",
                        cur.name, export.bucket, export.name
                    ),
                ));
            }
            Ok(())
        });
        done.is_ok()
    }

    /// Counts a failed upload on the snapshot; after the last attempt the export is
    /// dropped with an event saying why (the snapshot itself stays available).
    fn record_export_failure(&self, s: &Snapshot, export: &SnapshotExport, reason: &str) {
        let policy = self.settings().node_retry;
        let now = Utc::now();
        let r = self.store().update_snapshot(&s.name, |cur, events| {
            if cur.attempts != s.attempts || !cur.exports.contains(export) {
                return Ok(());
            }
            let target = format!("s3://{}/{}", export.bucket, export.name);
            match policy.after_failure(cur.attempts, now) {
                AfterFailure::Retry { attempts, at, .. } => {
                    cur.attempts = attempts;
                    cur.retry_at = Some(at);
                    events.push(snapshot_event(
                        cur,
                        format!(
                            "Snapshot {} export to {target} attempt {attempts} of {} failed: {reason}",
                            cur.name, policy.max_attempts
                        ),
                    ));
                }
                AfterFailure::GiveUp { attempts } => {
                    cur.exports.retain(|e| e != export);
                    cur.attempts = 0;
                    cur.retry_at = None;
                    events.push(snapshot_event(
                        cur,
                        format!(
                            "Snapshot {} export to {target} failed after {attempts} attempts: {reason}",
                            cur.name
                        ),
                    ));
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::error!(snapshot = %s.name, error = %e, "cannot record the export failure");
        }
    }
}
