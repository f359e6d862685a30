//! CopySnapshot: a copy of an available snapshot under a new name, or, with
//! TargetBucket, an export of its files to an S3 bucket. Both only record intent
//! here; the reconcile loop copies or uploads the files (`reconcile/snapshot_copy.rs`,
//! `reconcile/snapshot_export.rs`).

use chrono::Utc;
use larder_model::requests::CopySnapshot;
use larder_model::{Fault, Snapshot, SnapshotExport, SnapshotSource, SnapshotStatus};
use larder_store::Tx;

use super::snapshot_event;
use crate::Controller;

/// Refuses one snapshot more than the quota allows.
pub(crate) fn refuse_over_quota(tx: &Tx<'_>, max: u32) -> Result<(), Fault> {
    let count = tx.snapshots()?.len();
    if count >= max as usize {
        return Err(Fault::SnapshotQuotaExceeded(format!(
            "The maximum number of snapshots ({max}) has been reached; delete one first."
        )));
    }
    Ok(())
}

fn require_available(s: &Snapshot) -> Result<(), Fault> {
    if s.status != SnapshotStatus::Available {
        return Err(Fault::InvalidSnapshotState(format!(
            "Snapshot {} is {}; only an available snapshot can be copied.",
            s.name,
            s.status.as_str()
        )));
    }
    Ok(())
}

impl Controller {
    /// Records a copy of a snapshot, or its export to a bucket.
    pub fn copy_snapshot(&self, r: CopySnapshot) -> Result<Snapshot, Fault> {
        match r.target_bucket.clone() {
            Some(bucket) => self.export_snapshot(&r, &bucket),
            None => self.copy_to_name(&r),
        }
    }

    fn copy_to_name(&self, r: &CopySnapshot) -> Result<Snapshot, Fault> {
        let arn = self.settings().arn("snapshot", &r.target_snapshot_name);
        let mut tags = Vec::new();
        larder_model::arn::merge_tags(&mut tags, r.tags.clone())?;
        let max = self.settings().max_snapshots;
        let copy = self.store().transaction(|tx| {
            let source = tx
                .snapshot(&r.source_snapshot_name)?
                .ok_or_else(|| Fault::SnapshotNotFound(r.source_snapshot_name.clone()))?;
            if tx.snapshot(&r.target_snapshot_name)?.is_some() {
                return Err(Fault::SnapshotAlreadyExists(r.target_snapshot_name.clone()));
            }
            require_available(&source)?;
            refuse_over_quota(tx, max)?;
            let copy = Snapshot {
                name: r.target_snapshot_name.clone(),
                status: SnapshotStatus::Creating,
                // A copy is the user's, whoever made its source.
                source: SnapshotSource::Manual,
                create_time: Utc::now(),
                attempts: 0,
                retry_at: None,
                copy_of: Some(source.name.clone()),
                exports: Vec::new(),
                ..source
            };
            tx.create_snapshot(&copy)?;
            if !tags.is_empty() {
                tx.put_tags(&arn, &tags)?;
            }
            tx.event(snapshot_event(
                &copy,
                format!(
                    "Snapshot {} copy from {} started",
                    copy.name, r.source_snapshot_name
                ),
            ));
            Ok(copy)
        })?;
        self.wake();
        Ok(copy)
    }

    /// Checks the bucket now (the user must hear of a missing bucket from this call,
    /// as from ElastiCache) and records the export on the source snapshot.
    fn export_snapshot(&self, r: &CopySnapshot, bucket: &str) -> Result<Snapshot, Fault> {
        let source = self
            .store()
            .get_snapshot(&r.source_snapshot_name)?
            .ok_or_else(|| Fault::SnapshotNotFound(r.source_snapshot_name.clone()))?;
        require_available(&source)?;
        let export = SnapshotExport {
            bucket: bucket.to_string(),
            name: r.target_snapshot_name.clone(),
        };
        let keys: Vec<String> = (0..source.node_snapshots.len())
            .map(|i| export.object_key(i))
            .collect();
        let s3 = self.s3();
        let taken = self.wait_for_agent(s3.existing_keys(bucket, &keys))?;
        if let Some(key) = taken.first() {
            // ElastiCache never overwrites a snapshot, in a bucket either.
            return Err(Fault::SnapshotAlreadyExists(format!(
                "{} (the object {key} exists in bucket {bucket})",
                r.target_snapshot_name
            )));
        }
        let s = self.store().update_snapshot(&source.name, |s, events| {
            require_available(s)?;
            if s.exports.contains(&export) {
                return Err(Fault::SnapshotAlreadyExists(format!(
                    "{} (an export to bucket {bucket} is under way)",
                    export.name
                )));
            }
            s.exports.push(export.clone());
            events.push(snapshot_event(
                s,
                format!(
                    "Snapshot {} export to s3://{bucket}/{} started",
                    s.name, export.name
                ),
            ));
            Ok(s.clone())
        })?;
        self.wake();
        Ok(s)
    }
}
