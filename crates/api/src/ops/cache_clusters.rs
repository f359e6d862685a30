//! CreateCacheCluster, DescribeCacheClusters, ModifyCacheCluster, DeleteCacheCluster,
//! RebootCacheCluster: wire parameters in, typed requests to the controller, XML out.

use larder_controller::Controller;
use larder_model::requests::{CreateCacheCluster, ModifyCacheCluster};
use larder_model::{CacheCluster, Engine, Fault};

use super::render;
use super::{p, range, req, Inert::*, Kind::*, Param, Rule, Validated};
use super::{ENGINES, MAX_RECORDS, PORT, RETENTION};
use crate::xml::Xml;

/// Most nodes in one memcached cluster, as on ElastiCache.
pub const MAX_MEMCACHED_NODES: i64 = 40;

const AZ_MODES: &[&str] = &["single-az", "cross-az"];
const AZ_MODE: super::Kind = Enum(AZ_MODES, "must be single-az or cross-az");
const NUM_CACHE_NODES: super::Kind = range(1, i64::MAX, "must be at least 1");

pub const CREATE: &[Param] = &[
    req(
        "CacheClusterId",
        Identifier(larder_model::ids::CACHE_CLUSTER_ID_MAX),
    ),
    p("ReplicationGroupId", Str),
    p("AZMode", AZ_MODE),
    p("PreferredAvailabilityZone", Str),
    p("PreferredAvailabilityZones", List),
    p("NumCacheNodes", NUM_CACHE_NODES),
    req("CacheNodeType", NodeType),
    req(
        "Engine",
        Enum(ENGINES, "must be redis, valkey or memcached"),
    ),
    p("EngineVersion", Str),
    p("CacheParameterGroupName", Str),
    p("CacheSubnetGroupName", Str),
    p("CacheSecurityGroupNames", Unsupported),
    p("SecurityGroupIds", Unsupported),
    p("Tags", Tags),
    p("SnapshotArns", List),
    p("SnapshotName", Str),
    p("PreferredMaintenanceWindow", Window),
    p("Port", PORT),
    p("NotificationTopicArn", Unsupported),
    p("AutoMinorVersionUpgrade", Bool),
    p("SnapshotRetentionLimit", RETENTION),
    p("SnapshotWindow", DailyWindow),
    p("AuthToken", Unsupported),
    p("OutpostMode", Unsupported),
    p("PreferredOutpostArn", Unsupported),
    p("PreferredOutpostArns", Unsupported),
    p("LogDeliveryConfigurations", Unsupported),
    p("TransitEncryptionEnabled", Inert(False)),
    p("NetworkType", Inert(Only("ipv4"))),
    p("IpDiscovery", Inert(Only("ipv4"))),
];

pub const DESCRIBE: &[Param] = &[
    p("CacheClusterId", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
    p("ShowCacheNodeInfo", Bool),
    p("ShowCacheClustersNotInReplicationGroups", Bool),
];

pub const MODIFY: &[Param] = &[
    req("CacheClusterId", Str),
    p("NumCacheNodes", NUM_CACHE_NODES),
    p("CacheNodeIdsToRemove", List),
    p("AZMode", AZ_MODE),
    p("NewAvailabilityZones", List),
    p("CacheSecurityGroupNames", Unsupported),
    p("SecurityGroupIds", Unsupported),
    p("PreferredMaintenanceWindow", Window),
    p("NotificationTopicArn", Unsupported),
    p("CacheParameterGroupName", Str),
    p("NotificationTopicStatus", Unsupported),
    p("ApplyImmediately", Bool),
    p("Engine", Str),
    p("EngineVersion", Str),
    p("AutoMinorVersionUpgrade", Bool),
    p("SnapshotRetentionLimit", RETENTION),
    p("SnapshotWindow", DailyWindow),
    p("CacheNodeType", NodeType),
    p("AuthToken", Unsupported),
    p("AuthTokenUpdateStrategy", Unsupported),
    p("LogDeliveryConfigurations", Unsupported),
    p("IpDiscovery", Inert(Only("ipv4"))),
    p("ScaleConfig", Unsupported),
];

pub const DELETE: &[Param] = &[
    req("CacheClusterId", Str),
    p(
        "FinalSnapshotIdentifier",
        Identifier(larder_model::snapshot::SNAPSHOT_NAME_MAX),
    ),
];

pub const REBOOT: &[Param] = &[
    req("CacheClusterId", Str),
    req("CacheNodeIdsToReboot", List),
];

/// Checks of CreateCacheCluster that look at more than one parameter.
pub const CREATE_RULES: &[Rule] = &[
    no_replication_group,
    redis_has_one_node,
    memcached_node_limit,
    cross_az_is_memcached,
    one_way_to_name_zones,
    one_zone_per_node,
    snapshot_is_redis,
    backups_are_redis,
];
pub const DESCRIBE_RULES: &[Rule] = &[];
/// Checks of ModifyCacheCluster that need only the request.
pub const MODIFY_RULES: &[Rule] = &[engine_is_fixed, memcached_node_limit, removal_needs_count];
pub const DELETE_RULES: &[Rule] = &[];
/// A reboot names at least one node.
pub const REBOOT_RULES: &[Rule] = &[reboot_names_nodes];

fn reboot_names_nodes(v: &Validated) -> Result<(), Fault> {
    if v.list("CacheNodeIdsToReboot", "CacheNodeId").is_empty() {
        return Err(Fault::missing("CacheNodeIdsToReboot"));
    }
    Ok(())
}

fn no_replication_group(v: &Validated) -> Result<(), Fault> {
    if v.given("ReplicationGroupId") {
        return Err(Fault::InvalidParameterCombination(
            "Adding a cache cluster to a replication group is not supported by Larder yet.".into(),
        ));
    }
    Ok(())
}

fn engine(v: &Validated) -> Engine {
    v.choice("Engine")
        .and_then(Engine::parse)
        .unwrap_or(Engine::Memcached)
}

fn redis_has_one_node(v: &Validated) -> Result<(), Fault> {
    let engine = engine(v);
    if engine.is_redis_like() && v.int("NumCacheNodes").unwrap_or(1) > 1 {
        return Err(Fault::InvalidParameterValue(format!(
            "Cannot create a {engine} cluster with a NumCacheNodes parameter greater than 1."
        )));
    }
    Ok(())
}

fn memcached_node_limit(v: &Validated) -> Result<(), Fault> {
    if v.int("NumCacheNodes").unwrap_or(1) > MAX_MEMCACHED_NODES {
        return Err(Fault::NodeQuotaForClusterExceeded(format!(
            "A memcached cluster can have at most {MAX_MEMCACHED_NODES} nodes."
        )));
    }
    Ok(())
}

fn cross_az_is_memcached(v: &Validated) -> Result<(), Fault> {
    if v.choice("AZMode") == Some("cross-az") && engine(v) != Engine::Memcached {
        return Err(Fault::InvalidParameterCombination(
            "AZMode cross-az is only supported for memcached clusters.".into(),
        ));
    }
    Ok(())
}

fn one_way_to_name_zones(v: &Validated) -> Result<(), Fault> {
    if v.given("PreferredAvailabilityZone") && v.given("PreferredAvailabilityZones") {
        return Err(Fault::InvalidParameterCombination(
            "Only one of PreferredAvailabilityZone and PreferredAvailabilityZones may be given."
                .into(),
        ));
    }
    Ok(())
}

fn one_zone_per_node(v: &Validated) -> Result<(), Fault> {
    let zones = v.list("PreferredAvailabilityZones", "PreferredAvailabilityZone");
    if !zones.is_empty() && zones.len() as i64 != v.int("NumCacheNodes").unwrap_or(1) {
        return Err(Fault::InvalidParameterValue(
            "The number of PreferredAvailabilityZones must equal NumCacheNodes.".into(),
        ));
    }
    Ok(())
}

/// Memcached keeps no data to restore, as on the service.
fn snapshot_is_redis(v: &Validated) -> Result<(), Fault> {
    for param in ["SnapshotName", "SnapshotArns"] {
        if v.given(param) && engine(v) == Engine::Memcached {
            return Err(Fault::InvalidParameterCombination(format!(
                "{param} is not supported for memcached clusters."
            )));
        }
    }
    super::snapshot_arns::snapshot_arns(v)
}

/// Memcached keeps no data, so it has no automatic backups to schedule: the service
/// takes these parameters only with a redis engine. Retention 0 asks for nothing.
fn backups_are_redis(v: &Validated) -> Result<(), Fault> {
    if engine(v) != Engine::Memcached {
        return Ok(());
    }
    let asked = [
        (
            "SnapshotRetentionLimit",
            v.int("SnapshotRetentionLimit").unwrap_or(0) != 0,
        ),
        ("SnapshotWindow", v.given("SnapshotWindow")),
    ];
    match asked.iter().find(|(_, given)| *given) {
        Some((param, _)) => Err(larder_model::snapshot_window::memcached_has_no_backups(
            param,
        )),
        None => Ok(()),
    }
}

fn engine_is_fixed(v: &Validated) -> Result<(), Fault> {
    match v.string("Engine") {
        Some(engine) => Err(Fault::InvalidParameterCombination(format!(
            "Changing the engine to {engine} is not supported by Larder yet."
        ))),
        None => Ok(()),
    }
}

fn removal_needs_count(v: &Validated) -> Result<(), Fault> {
    if v.given("CacheNodeIdsToRemove") && !v.given("NumCacheNodes") {
        return Err(Fault::InvalidParameterCombination(
            "CacheNodeIdsToRemove requires a smaller NumCacheNodes.".into(),
        ));
    }
    Ok(())
}

fn one_cluster(ctl: &Controller, c: &CacheCluster) -> Result<String, Fault> {
    let busy = ctl.snapshotting()?;
    let mut x = Xml::default();
    render::cache_cluster(&mut x, ctl, c, false, &busy);
    Ok(x.finish())
}

pub fn create(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = CreateCacheCluster {
        cache_cluster_id: v.required_id("CacheClusterId"),
        engine: v
            .choice("Engine")
            .and_then(Engine::parse)
            .unwrap_or(Engine::Memcached),
        engine_version: v.string("EngineVersion"),
        cache_node_type: v
            .node_type("CacheNodeType")
            .ok_or_else(|| Fault::missing("CacheNodeType"))?,
        num_cache_nodes: v.int("NumCacheNodes").unwrap_or(1) as u32,
        cross_az: v.choice("AZMode") == Some("cross-az"),
        preferred_availability_zones: match v.string("PreferredAvailabilityZone") {
            Some(z) => vec![z],
            None => v.list("PreferredAvailabilityZones", "PreferredAvailabilityZone"),
        },
        cache_parameter_group_name: v.string("CacheParameterGroupName"),
        cache_subnet_group_name: v.string("CacheSubnetGroupName"),
        tags: v.tags("Tags"),
        preferred_maintenance_window: v.string("PreferredMaintenanceWindow"),
        port: v.int("Port").map(|p| p as u16),
        auto_minor_version_upgrade: v.bool("AutoMinorVersionUpgrade"),
        snapshot_retention_limit: v.int("SnapshotRetentionLimit").map(|n| n as u32),
        snapshot_window: v.string("SnapshotWindow"),
        snapshot_name: v.id("SnapshotName"),
        snapshot_object: super::snapshot_arns::snapshot_object(v),
    };
    let c = ctl.create_cache_cluster(r)?;
    one_cluster(ctl, &c)
}

pub fn describe(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let show_nodes = v.flag("ShowCacheNodeInfo");
    let page = ctl.describe_cache_clusters(
        v.string("CacheClusterId").as_deref(),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
        v.flag("ShowCacheClustersNotInReplicationGroups"),
    )?;
    let busy = ctl.snapshotting()?;
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("CacheClusters");
    for c in &page.clusters {
        render::cache_cluster(&mut x, ctl, c, show_nodes, &busy);
    }
    x.close("CacheClusters");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = ModifyCacheCluster {
        cache_cluster_id: v.required_id("CacheClusterId"),
        num_cache_nodes: v
            .int("NumCacheNodes")
            .map(|n| n.min(i64::from(u32::MAX)) as u32),
        cache_node_ids_to_remove: v.list("CacheNodeIdsToRemove", "CacheNodeId"),
        cache_node_type: v.string("CacheNodeType"),
        apply_immediately: v.flag("ApplyImmediately"),
        preferred_maintenance_window: v.string("PreferredMaintenanceWindow"),
        auto_minor_version_upgrade: v.bool("AutoMinorVersionUpgrade"),
        snapshot_retention_limit: v.int("SnapshotRetentionLimit").map(|n| n as u32),
        snapshot_window: v.string("SnapshotWindow"),
        az_mode: v.choice("AZMode").map(str::to_string),
        new_availability_zones: v.list("NewAvailabilityZones", "PreferredAvailabilityZone"),
        engine_version: v.string("EngineVersion"),
        cache_parameter_group_name: v.string("CacheParameterGroupName"),
    };
    let c = ctl.modify_cache_cluster(r)?;
    one_cluster(ctl, &c)
}

pub fn delete(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let c = ctl.delete_cache_cluster_with_snapshot(
        &v.required_id("CacheClusterId"),
        v.id("FinalSnapshotIdentifier").as_deref(),
    )?;
    one_cluster(ctl, &c)
}

pub fn reboot(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let ids = v.list("CacheNodeIdsToReboot", "CacheNodeId");
    let c = ctl.reboot_cache_cluster(&v.required_id("CacheClusterId"), &ids)?;
    one_cluster(ctl, &c)
}
