//! CreateSnapshot, DescribeSnapshots, DeleteSnapshot, CopySnapshot: wire parameters
//! in, typed requests to the controller, the Snapshot shape out.

use larder_controller::service::SnapshotFilter;
use larder_controller::Controller;
use larder_model::requests::{CopySnapshot, CreateSnapshot};
use larder_model::snapshot::{cache_size, SNAPSHOT_NAME_MAX};
use larder_model::{Fault, Snapshot, SnapshotSource};

use super::{p, range, req, Kind::*, Param, Rule, Validated};
use crate::xml::Xml;

/// DescribeSnapshots pages hold 20 to 50 snapshots (not the usual 100).
const SNAPSHOT_RECORDS: super::Kind = range(20, 50, "must be between 20 and 50");

pub const CREATE: &[Param] = &[
    p("ReplicationGroupId", Str),
    p("CacheClusterId", Str),
    req("SnapshotName", Identifier(SNAPSHOT_NAME_MAX)),
    p("KmsKeyId", Unsupported),
    p("Tags", Tags),
];

pub const DESCRIBE: &[Param] = &[
    p("ReplicationGroupId", Str),
    p("CacheClusterId", Str),
    p("SnapshotName", Str),
    p(
        "SnapshotSource",
        Enum(&["system", "user"], "must be system or user"),
    ),
    p("Marker", Str),
    p("MaxRecords", SNAPSHOT_RECORDS),
    p("ShowNodeGroupConfig", Bool),
];

pub const DELETE: &[Param] = &[req("SnapshotName", Str)];

pub const COPY: &[Param] = &[
    req("SourceSnapshotName", Str),
    req("TargetSnapshotName", Identifier(SNAPSHOT_NAME_MAX)),
    p("TargetBucket", Str),
    p("KmsKeyId", Unsupported),
    p("Tags", Tags),
];

/// A snapshot is of one thing: a cluster or a group.
pub const CREATE_RULES: &[Rule] = &[one_source];
pub const DESCRIBE_RULES: &[Rule] = &[];
pub const DELETE_RULES: &[Rule] = &[];
/// A bucket must be one S3 would accept.
pub const COPY_RULES: &[Rule] = &[bucket_name];

/// TargetBucket, when given and not empty (an empty one asks for a plain copy).
fn target_bucket(v: &Validated) -> Option<String> {
    v.string("TargetBucket").filter(|b| !b.is_empty())
}

fn bucket_name(v: &Validated) -> Result<(), Fault> {
    match target_bucket(v) {
        Some(b) => larder_model::s3_object::check_bucket_name("TargetBucket", &b),
        None => Ok(()),
    }
}

fn one_source(v: &Validated) -> Result<(), Fault> {
    match (v.given("CacheClusterId"), v.given("ReplicationGroupId")) {
        (true, true) => Err(Fault::InvalidParameterCombination(
            "Only one of CacheClusterId and ReplicationGroupId may be given.".into(),
        )),
        (false, false) => Err(Fault::InvalidParameterCombination(
            "One of CacheClusterId and ReplicationGroupId must be given.".into(),
        )),
        _ => Ok(()),
    }
}

/// The Snapshot shape, in the service model's member order.
pub(crate) fn snapshot(x: &mut Xml, ctl: &Controller, s: &Snapshot, node_groups: bool) {
    x.open("Snapshot");
    x.leaf("SnapshotName", &s.name);
    x.opt("ReplicationGroupId", s.replication_group_id.as_deref());
    x.opt(
        "ReplicationGroupDescription",
        s.replication_group_description.as_deref(),
    );
    x.opt("CacheClusterId", s.cache_cluster_id.as_deref());
    x.leaf("SnapshotStatus", s.status.as_str());
    x.leaf("SnapshotSource", s.source.as_str());
    x.leaf("CacheNodeType", &s.cache_node_type);
    x.leaf("Engine", s.engine.as_str());
    x.leaf("EngineVersion", &s.engine_version);
    x.leaf("NumCacheNodes", s.num_cache_nodes);
    x.leaf("PreferredAvailabilityZone", &s.preferred_availability_zone);
    x.time("CacheClusterCreateTime", &s.cache_cluster_create_time);
    x.leaf(
        "PreferredMaintenanceWindow",
        &s.preferred_maintenance_window,
    );
    x.opt("Port", s.port);
    x.leaf("CacheParameterGroupName", &s.cache_parameter_group_name);
    x.opt("CacheSubnetGroupName", s.cache_subnet_group_name.as_deref());
    x.leaf("AutoMinorVersionUpgrade", s.auto_minor_version_upgrade);
    x.leaf("SnapshotRetentionLimit", s.snapshot_retention_limit);
    x.opt("SnapshotWindow", s.snapshot_window.as_deref());
    x.opt("NumNodeGroups", s.num_node_groups);
    x.opt(
        "AutomaticFailover",
        s.automatic_failover
            .map(|on| if on { "enabled" } else { "disabled" }),
    );
    x.open("NodeSnapshots");
    for n in &s.node_snapshots {
        x.open("NodeSnapshot");
        x.leaf("CacheClusterId", &n.cache_cluster_id);
        x.opt("NodeGroupId", n.node_group_id.as_deref());
        x.leaf("CacheNodeId", &n.cache_node_id);
        if node_groups {
            if let Some(id) = &n.node_group_id {
                x.open("NodeGroupConfiguration");
                x.leaf("NodeGroupId", id);
                x.leaf("ReplicaCount", s.num_cache_nodes.saturating_sub(1));
                x.leaf("PrimaryAvailabilityZone", &s.preferred_availability_zone);
                x.close("NodeGroupConfiguration");
            }
        }
        x.opt("CacheSize", n.file.as_ref().map(|f| cache_size(f.size)));
        x.time("CacheNodeCreateTime", &n.cache_node_create_time);
        if let Some(t) = &n.snapshot_create_time {
            x.time("SnapshotCreateTime", t);
        }
        x.close("NodeSnapshot");
    }
    x.close("NodeSnapshots");
    x.leaf("ARN", ctl.settings().arn("snapshot", &s.name));
    x.leaf("DataTiering", "disabled");
    x.close("Snapshot");
}

fn one(ctl: &Controller, s: &Snapshot) -> String {
    let mut x = Xml::default();
    snapshot(&mut x, ctl, s, false);
    x.finish()
}

pub fn create(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = CreateSnapshot {
        snapshot_name: v.required_id("SnapshotName"),
        cache_cluster_id: v.id("CacheClusterId"),
        replication_group_id: v.id("ReplicationGroupId"),
        tags: v.tags("Tags"),
    };
    let s = ctl.create_snapshot(r)?;
    Ok(one(ctl, &s))
}

pub fn describe(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let filter = SnapshotFilter {
        snapshot_name: v.id("SnapshotName"),
        cache_cluster_id: v.id("CacheClusterId"),
        replication_group_id: v.id("ReplicationGroupId"),
        source: v.choice("SnapshotSource").map(|s| match s {
            "system" => SnapshotSource::Automated,
            _ => SnapshotSource::Manual,
        }),
    };
    let page =
        ctl.describe_snapshots(&filter, v.int("MaxRecords"), v.string("Marker").as_deref())?;
    let node_groups = v.flag("ShowNodeGroupConfig");
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("Snapshots");
    for s in &page.snapshots {
        snapshot(&mut x, ctl, s, node_groups);
    }
    x.close("Snapshots");
    Ok(x.finish())
}

pub fn delete(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let s = ctl.delete_snapshot(&v.required_id("SnapshotName"))?;
    Ok(one(ctl, &s))
}

pub fn copy(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = CopySnapshot {
        source_snapshot_name: v.required_id("SourceSnapshotName"),
        target_snapshot_name: v.required_id("TargetSnapshotName"),
        target_bucket: target_bucket(v),
        tags: v.tags("Tags"),
    };
    let s = ctl.copy_snapshot(r)?;
    Ok(one(ctl, &s))
}
