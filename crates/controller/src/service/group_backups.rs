//! ModifyReplicationGroup's backup settings: SnapshotRetentionLimit, SnapshotWindow
//! and SnapshottingClusterId live on the group; its members show the same values.

use larder_model::requests::ModifyReplicationGroup;
use larder_model::{Fault, ReplicationGroup};
use larder_store::Tx;

use super::backup_settings::{for_modify, Backups};

/// Applies the request's backup and maintenance window settings to `g` and copies
/// them to its members, inside the modify's transaction.
pub(crate) fn modify_group_backups(
    tx: &mut Tx<'_>,
    g: &mut ReplicationGroup,
    req: &ModifyReplicationGroup,
) -> Result<(), Fault> {
    let current = Backups {
        retention: g.snapshot_retention_limit,
        window: g.snapshot_window.clone(),
        maintenance: g.preferred_maintenance_window.clone(),
    };
    let next = for_modify(
        &g.id,
        g.engine,
        &current,
        req.snapshot_retention_limit,
        req.snapshot_window.as_deref(),
        req.preferred_maintenance_window.as_deref(),
    )?;
    if let Some(m) = &req.snapshotting_cluster_id {
        if !g.members.contains(m) {
            return Err(Fault::InvalidParameterValue(format!(
                "{m} is not a member of replication group {}.",
                g.id
            )));
        }
        g.snapshotting_cluster_id = Some(m.clone());
    }
    let turning_on = current.retention == 0 && next.retention > 0;
    if turning_on && g.snapshotting_cluster_id.is_none() {
        // The service's answer; Terraform sends SnapshottingClusterId `<id>-001` with
        // the first non-zero retention for this reason.
        return Err(Fault::InvalidParameterCombination(
            "Must specify both SnapshotRetentionLimit and SnapshottingClusterId to turn on snapshots".into(),
        ));
    }
    g.preferred_maintenance_window = next.maintenance.clone();
    g.snapshot_retention_limit = next.retention;
    g.snapshot_window = next.window.clone();
    for m in &g.members {
        let Some(mut c) = tx.cluster(m)? else {
            continue;
        };
        if c.snapshot_retention_limit != next.retention || c.snapshot_window != next.window {
            c.snapshot_retention_limit = next.retention;
            c.snapshot_window = next.window.clone();
            tx.put_cluster(&c)?;
        }
    }
    Ok(())
}
