//! DescribeServiceUpdates, DescribeUpdateActions, BatchApplyUpdateAction,
//! BatchStopUpdateAction.

use larder_controller::service::{BatchOutcome, UpdateAction, UpdateActionFilter, UpdateTarget};
use larder_controller::Controller;
use larder_model::{Engine, Fault, ServiceUpdate};

use super::{p, req, Inert, Kind::*, Param, Rule, Validated, ENGINES, MAX_RECORDS};
use crate::xml::Xml;

/// At most this many ids of each kind per call, as on the service.
const IDS_MAX: usize = 20;

const SERVICE_UPDATE_STATUSES: &[&str] = &["available", "cancelled", "expired"];
const UPDATE_ACTION_STATUSES: &[&str] = &[
    "not-applied",
    "waiting-to-start",
    "in-progress",
    "stopping",
    "stopped",
    "complete",
    "scheduling",
    "scheduled",
    "not-applicable",
];

pub const DESCRIBE_UPDATES: &[Param] = &[
    p("ServiceUpdateName", Str),
    p("ServiceUpdateStatus", List),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const DESCRIBE_ACTIONS: &[Param] = &[
    p("ServiceUpdateName", Str),
    p("ReplicationGroupIds", List),
    p("CacheClusterIds", List),
    p(
        "Engine",
        Enum(ENGINES, "must be redis, valkey or memcached"),
    ),
    p("ServiceUpdateStatus", List),
    // Larder's updates are all available from their release on; a time filter is
    // not implemented yet and is refused rather than ignored.
    p("ServiceUpdateTimeRange", Unsupported),
    p("UpdateActionStatus", List),
    // Node-level statuses are not reported yet.
    p("ShowNodeLevelUpdateStatus", Inert(Inert::False)),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const BATCH: &[Param] = &[
    p("ReplicationGroupIds", List),
    p("CacheClusterIds", List),
    req("ServiceUpdateName", Str),
];

pub const DESCRIBE_UPDATES_RULES: &[Rule] = &[known_update_statuses];
pub const DESCRIBE_ACTIONS_RULES: &[Rule] =
    &[known_update_statuses, known_action_statuses, few_ids];
pub const BATCH_RULES: &[Rule] = &[few_ids, some_ids];

fn members(v: &Validated, name: &str) -> Vec<String> {
    v.list(name, "member")
}

fn all_known(v: &Validated, name: &str, known: &[&str]) -> Result<(), Fault> {
    match members(v, name)
        .into_iter()
        .find(|s| !known.contains(&s.as_str()))
    {
        Some(bad) => Err(Fault::InvalidParameterValue(format!(
            "{bad} is not a valid value for {name}; expected one of {}.",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn known_update_statuses(v: &Validated) -> Result<(), Fault> {
    all_known(v, "ServiceUpdateStatus", SERVICE_UPDATE_STATUSES)
}

fn known_action_statuses(v: &Validated) -> Result<(), Fault> {
    all_known(v, "UpdateActionStatus", UPDATE_ACTION_STATUSES)
}

fn few_ids(v: &Validated) -> Result<(), Fault> {
    for name in ["ReplicationGroupIds", "CacheClusterIds"] {
        if members(v, name).len() > IDS_MAX {
            return Err(Fault::InvalidParameterValue(format!(
                "{name} takes at most {IDS_MAX} ids."
            )));
        }
    }
    Ok(())
}

fn some_ids(v: &Validated) -> Result<(), Fault> {
    if members(v, "ReplicationGroupIds").is_empty() && members(v, "CacheClusterIds").is_empty() {
        return Err(Fault::InvalidParameterCombination(
            "Give ReplicationGroupIds, CacheClusterIds or both.".into(),
        ));
    }
    Ok(())
}

/// The ServiceUpdate shape.
fn update(x: &mut Xml, u: &ServiceUpdate) {
    x.open("ServiceUpdate");
    x.leaf("ServiceUpdateName", &u.name);
    x.time("ServiceUpdateReleaseDate", &u.release_date);
    x.leaf("ServiceUpdateSeverity", "medium");
    x.time(
        "ServiceUpdateRecommendedApplyByDate",
        &u.recommended_apply_by(),
    );
    x.leaf("ServiceUpdateStatus", "available");
    x.leaf(
        "ServiceUpdateDescription",
        format!(
            "{} {} is installed: clusters and groups on an older {} patch move to it node by node.",
            u.engine.as_str(),
            u.version,
            minor(&u.version)
        ),
    );
    x.leaf("ServiceUpdateType", "security-update");
    x.leaf("Engine", u.engine.as_str());
    x.leaf("EngineVersion", &u.version);
    // Larder never applies an update by itself.
    x.leaf("AutoUpdateAfterRecommendedApplyByDate", false);
    x.close("ServiceUpdate");
}

fn minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn target_ids(x: &mut Xml, t: &UpdateTarget) {
    match t {
        UpdateTarget::ReplicationGroup(id) => x.leaf("ReplicationGroupId", id),
        UpdateTarget::CacheCluster(id) => x.leaf("CacheClusterId", id),
    };
}

/// The UpdateAction shape.
fn action(x: &mut Xml, a: &UpdateAction) {
    let u = &a.update;
    x.open("UpdateAction");
    target_ids(x, &a.target);
    x.leaf("ServiceUpdateName", &u.name);
    x.time("ServiceUpdateReleaseDate", &u.release_date);
    x.leaf("ServiceUpdateSeverity", "medium");
    x.leaf("ServiceUpdateStatus", "available");
    x.time(
        "ServiceUpdateRecommendedApplyByDate",
        &u.recommended_apply_by(),
    );
    x.leaf("ServiceUpdateType", "security-update");
    x.time("UpdateActionAvailableDate", &u.release_date);
    x.leaf("UpdateActionStatus", a.status.as_str());
    x.leaf("NodesUpdated", &a.nodes_updated);
    x.time("UpdateActionStatusModifiedDate", &a.status_modified);
    x.leaf("Engine", u.engine.as_str());
    x.close("UpdateAction");
}

pub fn describe_updates(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let (page, marker) = ctl.describe_service_updates(
        v.string("ServiceUpdateName").as_deref(),
        &members(v, "ServiceUpdateStatus"),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker.as_deref());
    x.open("ServiceUpdates");
    for u in &page {
        update(&mut x, u);
    }
    x.close("ServiceUpdates");
    Ok(x.finish())
}

pub fn describe_actions(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let lower = |name: &str| -> Vec<String> {
        members(v, name)
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect()
    };
    let mut statuses = members(v, "ServiceUpdateStatus");
    let filter = UpdateActionFilter {
        service_update_name: v.string("ServiceUpdateName"),
        replication_group_ids: lower("ReplicationGroupIds"),
        cache_cluster_ids: lower("CacheClusterIds"),
        engine: v.string("Engine").as_deref().and_then(Engine::parse),
        statuses: members(v, "UpdateActionStatus"),
    };
    let (mut page, mut marker) =
        ctl.describe_update_actions(&filter, v.int("MaxRecords"), v.string("Marker").as_deref())?;
    // Every update Larder offers is `available`.
    statuses.retain(|s| s == "available");
    if !members(v, "ServiceUpdateStatus").is_empty() && statuses.is_empty() {
        page.clear();
        marker = None;
    }
    let mut x = Xml::default();
    x.opt("Marker", marker.as_deref());
    x.open("UpdateActions");
    for a in &page {
        action(&mut x, a);
    }
    x.close("UpdateActions");
    Ok(x.finish())
}

fn outcome(o: &BatchOutcome, name: &str) -> String {
    let mut x = Xml::default();
    x.open("ProcessedUpdateActions");
    for (t, status) in &o.processed {
        x.open("ProcessedUpdateAction");
        target_ids(&mut x, t);
        x.leaf("ServiceUpdateName", name);
        x.leaf("UpdateActionStatus", status.as_str());
        x.close("ProcessedUpdateAction");
    }
    x.close("ProcessedUpdateActions");
    x.open("UnprocessedUpdateActions");
    for (t, fault) in &o.unprocessed {
        x.open("UnprocessedUpdateAction");
        target_ids(&mut x, t);
        x.leaf("ServiceUpdateName", name);
        x.leaf("ErrorType", crate::faults::wire(fault).0);
        x.leaf("ErrorMessage", fault.to_string());
        x.close("UnprocessedUpdateAction");
    }
    x.close("UnprocessedUpdateActions");
    x.finish()
}

pub fn batch_apply(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let name = v.required("ServiceUpdateName");
    let o = ctl.batch_apply_update_action(
        &name,
        &members(v, "ReplicationGroupIds"),
        &members(v, "CacheClusterIds"),
    )?;
    Ok(outcome(&o, &name))
}

pub fn batch_stop(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let name = v.required("ServiceUpdateName");
    let o = ctl.batch_stop_update_action(
        &name,
        &members(v, "ReplicationGroupIds"),
        &members(v, "CacheClusterIds"),
    )?;
    Ok(outcome(&o, &name))
}
