//! Operations that change or read intent. They validate like ElastiCache, commit the
//! new intent in one store transaction and wake the reconcile loop; they never touch
//! processes themselves.

mod create;
mod describe;
mod failover;
mod lifecycle;
mod migration;
mod modify;
mod replicas;
mod replication_groups;
mod tags;

pub use describe::{paginate, ClusterPage, EventFilter};
pub(crate) use failover::retype_members;
pub use modify::NodeChanges;
pub(crate) use replication_groups::{group_event, new_member, require_group_available};

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

/// Checks a requested parameter group: Larder has only each family's default group.
fn check_parameter_group(requested: Option<&str>, default: &str) -> Result<String, Fault> {
    match requested {
        None => Ok(default.to_string()),
        Some(name) if name == default => Ok(name.to_string()),
        Some(name) => Err(Fault::CacheParameterGroupNotFound(name.to_string())),
    }
}

/// The first unsupported parameter in a request, as a clear refusal.
fn refuse_unsupported(names: &[&'static str]) -> Result<(), Fault> {
    match names.first() {
        Some(name) => Err(Fault::InvalidParameterCombination(format!(
            "The parameter {name} is not supported by Larder yet."
        ))),
        None => Ok(()),
    }
}

/// Validates a retention limit: memcached has no snapshots; at most 35 days. (The API
/// refuses a non-zero limit and any SnapshotWindow until snapshots exist.)
fn check_snapshot_settings(
    engine: larder_model::Engine,
    retention: Option<i64>,
) -> Result<(), Fault> {
    if let Some(r) = retention {
        if !(0..=35).contains(&r) {
            return Err(Fault::invalid(
                "SnapshotRetentionLimit",
                &r.to_string(),
                "must be 0-35",
            ));
        }
    }
    let wants_snapshots = retention.unwrap_or(0) > 0;
    if engine == larder_model::Engine::Memcached && wants_snapshots {
        return Err(Fault::InvalidParameterCombination(
            "Snapshots are not supported for memcached clusters.".into(),
        ));
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

/// Settings every create takes, checked the same way.
struct CommonSettings {
    /// The maintenance window, defaulted.
    window: String,
    /// Tags, merged and checked.
    tags: Vec<larder_model::Tag>,
}

/// Checks the maintenance window, port, snapshot settings and tags of a create.
fn check_common_settings(
    engine: larder_model::Engine,
    window: Option<&str>,
    port: Option<i64>,
    retention: Option<i64>,
    tags: &[larder_model::Tag],
) -> Result<CommonSettings, Fault> {
    let window = window
        .unwrap_or(larder_model::maintenance_window::DEFAULT_MAINTENANCE_WINDOW)
        .to_string();
    larder_model::MaintenanceWindow::parse(&window)?;
    if let Some(p) = port {
        if !(1..=65535).contains(&p) {
            return Err(Fault::invalid("Port", &p.to_string(), "must be 1-65535"));
        }
    }
    check_snapshot_settings(engine, retention)?;
    let mut merged = Vec::new();
    larder_model::arn::merge_tags(&mut merged, tags.to_vec())?;
    Ok(CommonSettings {
        window,
        tags: merged,
    })
}
