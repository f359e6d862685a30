//! Operations that change or read intent. Requests arrive already validated by the api
//! from each operation's table (types, ranges, enumerations, combinations); the checks
//! here are the ones that need state (exists, not found, status, quota, the current
//! engine). They commit the new intent in one store transaction and wake the reconcile
//! loop; they never touch processes themselves.

mod backup_settings;
mod create;
mod describe;
mod failover;
mod group_backups;
mod lifecycle;
mod migration;
mod modify;
mod parameter_groups;
mod parameter_switch;
mod replicas;
mod replication_groups;
mod service_updates;
mod snapshot_copy;
mod snapshots;
mod snapshotting;
mod subnet_groups;
mod tags;
mod upgrade;

pub use describe::{paginate, ClusterPage, EventFilter};
pub(crate) use failover::retype_members;
pub use modify::NodeChanges;
pub use parameter_groups::Page;
pub(crate) use replication_groups::{group_event, new_member, require_group_available};
pub use service_updates::{BatchOutcome, UpdateAction, UpdateActionFilter, UpdateTarget};
pub(crate) use snapshots::snapshot_event;
pub use snapshots::{SnapshotFilter, SnapshotPage};
pub use snapshotting::Snapshotting;
pub(crate) use upgrade::{start_in_place, start_pending_upgrade};

use larder_model::{CacheCluster, ClusterStatus, Fault};

/// Refuses an operation unless the cluster is `available`, as the service does.
fn require_available(c: &CacheCluster) -> Result<(), Fault> {
    if c.status != ClusterStatus::Available {
        return Err(Fault::InvalidCacheClusterState(format!(
            "Cache cluster {} is not in available state (it is {}).",
            c.id,
            c.status.as_str()
        )));
    }
    Ok(())
}

/// Member clusters change through their replication group, as on the service.
fn refuse_member(c: &CacheCluster) -> Result<(), Fault> {
    match &c.replication_group_id {
        Some(g) => Err(Fault::InvalidParameterCombination(format!(
            "Cache cluster {} is a member of replication group {g}; use the replication group operations.",
            c.id
        ))),
        None => Ok(()),
    }
}

/// Settings every create takes, checked the same way (the windows are
/// `backup_settings`' part).
struct CommonSettings {
    /// Tags, merged and checked.
    tags: Vec<larder_model::Tag>,
}

/// Merges the tags of a create. (Window syntax, port and snapshot ranges were
/// checked by the api from the operation's table.)
fn check_common_settings(tags: &[larder_model::Tag]) -> Result<CommonSettings, Fault> {
    let mut merged = Vec::new();
    larder_model::arn::merge_tags(&mut merged, tags.to_vec())?;
    Ok(CommonSettings { tags: merged })
}

#[cfg(test)]
mod tests {
    /// Every service file, by name.
    const SOURCES: &[(&str, &str)] = &[
        ("backup_settings.rs", include_str!("backup_settings.rs")),
        ("create.rs", include_str!("create.rs")),
        ("describe.rs", include_str!("describe.rs")),
        ("failover.rs", include_str!("failover.rs")),
        ("group_backups.rs", include_str!("group_backups.rs")),
        ("lifecycle.rs", include_str!("lifecycle.rs")),
        ("migration.rs", include_str!("migration.rs")),
        ("mod.rs", include_str!("mod.rs")),
        ("modify.rs", include_str!("modify.rs")),
        ("parameter_groups.rs", include_str!("parameter_groups.rs")),
        ("parameter_switch.rs", include_str!("parameter_switch.rs")),
        ("replicas.rs", include_str!("replicas.rs")),
        (
            "replication_groups.rs",
            include_str!("replication_groups.rs"),
        ),
        ("snapshots.rs", include_str!("snapshots.rs")),
        ("snapshotting.rs", include_str!("snapshotting.rs")),
        ("tags.rs", include_str!("tags.rs")),
    ];

    /// Ranges belong to the api's operation tables (`Kind::Range`), checked once; a
    /// second copy here would drift from them.
    #[test]
    fn the_service_has_no_range_checks() {
        let needle = ["..", "="].concat();
        for (file, text) in SOURCES {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                assert!(!code.contains(&needle), "{file}:{}: {line}", n + 1);
            }
        }
    }
}
