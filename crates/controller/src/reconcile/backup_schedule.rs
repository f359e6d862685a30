//! The automatic backup scheduler: once a day, inside its SnapshotWindow, a redis
//! cluster or group with SnapshotRetentionLimit > 0 gets an automated snapshot,
//! made by the snapshot workflow like any CreateSnapshot; the oldest automated
//! snapshots beyond the limit, and those whose cache is gone, are deleted.
//!
//! Resumable at any instant: the snapshot record and the cache's
//! `automated_snapshot_day` are committed in one transaction (both or neither), so
//! a restarted daemon neither takes the day twice nor skips it while the window is
//! open; the name follows from the day, so even a lost mark could not make a second
//! one. Deletions are recomputed from committed state on every pass, each one
//! committed alone, so a crash between two never deletes a snapshot that should stay.
//! Time comes from `Settings::clock`, never the system clock, so tests can move it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use larder_model::{ClusterStatus, Fault, Snapshot, SnapshotSource, SnapshotStatus};

use super::backup_plan::{beyond_retention, due, Due};
use crate::service::snapshot_event;
use crate::Controller;

/// Whose automatic snapshot it is.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    /// A standalone cluster.
    Cluster(&'a str),
    /// A replication group.
    Group(&'a str),
}

impl Controller {
    /// One look at every cache's automatic backups.
    pub(crate) async fn backup_schedule_pass(&self) {
        let now = self.settings().clock.now();
        if let Err(e) = self.start_due_snapshots(now) {
            tracing::warn!(error = %e, "automatic snapshots not started");
        }
        if let Err(e) = self.delete_expired_snapshots() {
            tracing::warn!(error = %e, "automatic snapshots not pruned");
        }
    }

    fn start_due_snapshots(&self, now: DateTime<Utc>) -> Result<(), Fault> {
        for c in self.store().list_clusters()? {
            let standalone = c.replication_group_id.is_none() && c.engine.is_redis_like();
            let d = due(
                &c.id,
                c.snapshot_retention_limit,
                c.snapshot_window.as_deref(),
                c.automated_snapshot_day,
                now,
            );
            if let (true, Some(d)) = (standalone, d) {
                self.start_automated(Source::Cluster(&c.id), &d, now);
            }
        }
        for g in self.store().list_replication_groups()? {
            let d = due(
                &g.id,
                g.snapshot_retention_limit,
                g.snapshot_window.as_deref(),
                g.automated_snapshot_day,
                now,
            );
            if let Some(d) = d {
                self.start_automated(Source::Group(&g.id), &d, now);
            }
        }
        Ok(())
    }

    /// Records the day's snapshot and marks the day, in one transaction. A source
    /// that cannot be snapshotted now (not available, another snapshot running) is
    /// left unmarked and tried again on the next pass while the window is open.
    fn start_automated(&self, source: Source<'_>, d: &Due, now: DateTime<Utc>) {
        let started = self.store().transaction(|tx| {
            let mut s = match source {
                Source::Cluster(id) => {
                    let Some(mut c) = tx.cluster(id)? else {
                        return Ok(None);
                    };
                    let again = due(
                        &c.id,
                        c.snapshot_retention_limit,
                        c.snapshot_window.as_deref(),
                        c.automated_snapshot_day,
                        now,
                    );
                    if again.as_ref() != Some(d) {
                        return Ok(None);
                    }
                    let s = self.cluster_snapshot(tx, &d.name, id)?;
                    c.automated_snapshot_day = Some(d.day);
                    tx.put_cluster(&c)?;
                    s
                }
                Source::Group(id) => {
                    let Some(mut g) = tx.replication_group(id)? else {
                        return Ok(None);
                    };
                    let again = due(
                        &g.id,
                        g.snapshot_retention_limit,
                        g.snapshot_window.as_deref(),
                        g.automated_snapshot_day,
                        now,
                    );
                    if again.as_ref() != Some(d) {
                        return Ok(None);
                    }
                    // SnapshottingClusterId while that member is available, else a
                    // healthy replica as for CreateSnapshot.
                    let member = match self.snapshotting_cluster(&g) {
                        Some(m) => tx
                            .cluster(m)?
                            .filter(|c| c.status == ClusterStatus::Available)
                            .map(|c| c.id),
                        None => None,
                    };
                    let s = self.group_snapshot_from(tx, &d.name, id, member.as_deref())?;
                    g.automated_snapshot_day = Some(d.day);
                    tx.put_replication_group(&g)?;
                    s
                }
            };
            if tx.snapshot(&d.name)?.is_some() {
                // The day's snapshot exists (a mark lost in an older store): keep it.
                return Ok(None);
            }
            s.source = SnapshotSource::Automated;
            s.create_time = now;
            tx.create_snapshot(&s)?;
            tx.event(snapshot_event(
                &s,
                format!("Automatic snapshot {} creation started", s.name),
            ));
            Ok(Some(s.name))
        });
        match started {
            Ok(Some(name)) => {
                tracing::info!(snapshot = %name, "automatic snapshot started");
                self.wake();
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(snapshot = %d.name, error = %e, "automatic snapshot waits");
            }
        }
    }

    /// Deletes the automated snapshots beyond each cache's retention, and those of
    /// caches that are gone (a cache of the same name created since is another
    /// cache: its creation time differs). Manual and final snapshots are never
    /// touched. A snapshot something still reads (a restore, a copy, an export) is
    /// refused by DeleteSnapshot's checks and tried again on a later pass.
    fn delete_expired_snapshots(&self) -> Result<(), Fault> {
        let snapshots = self.store().list_snapshots()?;
        // Keyed by the cache and its creation time: one id may have named two caches.
        type Key<'a> = (bool, &'a str, DateTime<Utc>);
        let mut by_source: BTreeMap<Key<'_>, Vec<&Snapshot>> = BTreeMap::new();
        for s in snapshots
            .iter()
            .filter(|s| s.source == SnapshotSource::Automated)
        {
            let key = match &s.replication_group_id {
                Some(g) => (true, g.as_str(), s.cache_cluster_create_time),
                None => (false, s.source_id(), s.cache_cluster_create_time),
            };
            by_source.entry(key).or_default().push(s);
        }
        for ((group, id, created), automated) in by_source {
            // The cache's limit, or None when the cache these were taken of is gone.
            let limit = if group {
                self.store()
                    .get_replication_group(id)?
                    .filter(|g| g.create_time == created)
                    .map(|g| g.snapshot_retention_limit)
            } else {
                self.store()
                    .get_cluster(id)?
                    .filter(|c| c.create_time == created)
                    // A cluster that joined a group since keeps its old ones.
                    .map(|c| match c.replication_group_id {
                        None => c.snapshot_retention_limit,
                        Some(_) => 0,
                    })
            };
            let doomed = match limit {
                Some(limit) => beyond_retention(&automated, limit),
                None => automated
                    .iter()
                    .filter(|s| {
                        matches!(s.status, SnapshotStatus::Available | SnapshotStatus::Failed)
                    })
                    .map(|s| s.name.clone())
                    .collect(),
            };
            for name in doomed {
                match self.delete_snapshot(&name) {
                    Ok(_) => {
                        tracing::info!(snapshot = %name, source = id, "automatic snapshot deleted")
                    }
                    Err(e) => {
                        tracing::debug!(snapshot = %name, error = %e, "automatic snapshot kept for now")
                    }
                }
            }
        }
        Ok(())
    }
}
