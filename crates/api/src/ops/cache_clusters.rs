//! CreateCacheCluster, DescribeCacheClusters, ModifyCacheCluster, DeleteCacheCluster,
//! RebootCacheCluster: wire parameters in, typed requests to the controller, XML out.

use larder_controller::Controller;
use larder_model::requests::{CreateCacheCluster, ModifyCacheCluster};
use larder_model::{CacheCluster, Fault};

use super::render;
use super::{p, req, Inert::*, Kind::*, Param, SUBNET_GROUPS};
use crate::params::Params;
use crate::xml::Xml;

pub const CREATE: &[Param] = &[
    req("CacheClusterId", Str),
    p("ReplicationGroupId", Str),
    p("AZMode", Str),
    p("PreferredAvailabilityZone", Str),
    p("PreferredAvailabilityZones", List),
    p("NumCacheNodes", Int),
    p("CacheNodeType", Str),
    p("Engine", Str),
    p("EngineVersion", Str),
    p("CacheParameterGroupName", Str),
    p(
        "CacheSubnetGroupName",
        Existing(SUBNET_GROUPS, Fault::CacheSubnetGroupNotFound),
    ),
    p("CacheSecurityGroupNames", Unsupported),
    p("SecurityGroupIds", Unsupported),
    p("Tags", List),
    p("SnapshotArns", Unsupported),
    p("SnapshotName", Unsupported),
    p("PreferredMaintenanceWindow", Str),
    p("Port", Int),
    p("NotificationTopicArn", Unsupported),
    p("AutoMinorVersionUpgrade", Bool),
    p("SnapshotRetentionLimit", Inert(Zero)),
    p("SnapshotWindow", Unsupported),
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
    p("MaxRecords", Int),
    p("Marker", Str),
    p("ShowCacheNodeInfo", Bool),
    p("ShowCacheClustersNotInReplicationGroups", Bool),
];

pub const MODIFY: &[Param] = &[
    req("CacheClusterId", Str),
    p("NumCacheNodes", Int),
    p("CacheNodeIdsToRemove", List),
    p("AZMode", Str),
    p("NewAvailabilityZones", List),
    p("CacheSecurityGroupNames", Unsupported),
    p("SecurityGroupIds", Unsupported),
    p("PreferredMaintenanceWindow", Str),
    p("NotificationTopicArn", Unsupported),
    p("CacheParameterGroupName", Str),
    p("NotificationTopicStatus", Unsupported),
    p("ApplyImmediately", Bool),
    p("Engine", Str),
    p("EngineVersion", Str),
    p("AutoMinorVersionUpgrade", Bool),
    p("SnapshotRetentionLimit", Inert(Zero)),
    p("SnapshotWindow", Unsupported),
    p("CacheNodeType", Str),
    p("AuthToken", Unsupported),
    p("AuthTokenUpdateStrategy", Unsupported),
    p("LogDeliveryConfigurations", Unsupported),
    p("IpDiscovery", Inert(Only("ipv4"))),
    p("ScaleConfig", Unsupported),
];

pub const DELETE: &[Param] = &[
    req("CacheClusterId", Str),
    p("FinalSnapshotIdentifier", Str),
];

pub const REBOOT: &[Param] = &[
    req("CacheClusterId", Str),
    req("CacheNodeIdsToReboot", List),
];

fn one_cluster(ctl: &Controller, c: &CacheCluster) -> String {
    let mut x = Xml::default();
    render::cache_cluster(&mut x, ctl, c, false);
    x.finish()
}

pub fn create(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let r = CreateCacheCluster {
        cache_cluster_id: params.required("CacheClusterId")?,
        engine: params.string("Engine"),
        engine_version: params.string("EngineVersion"),
        cache_node_type: params.string("CacheNodeType"),
        num_cache_nodes: params.int("NumCacheNodes")?,
        replication_group_id: params.string("ReplicationGroupId"),
        az_mode: params.string("AZMode"),
        preferred_availability_zone: params.string("PreferredAvailabilityZone"),
        preferred_availability_zones: params
            .list("PreferredAvailabilityZones", "PreferredAvailabilityZone"),
        cache_parameter_group_name: params.string("CacheParameterGroupName"),
        cache_subnet_group_name: params.string("CacheSubnetGroupName"),
        tags: params.tags("Tags"),
        preferred_maintenance_window: params.string("PreferredMaintenanceWindow"),
        port: params.int("Port")?,
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: params.int("SnapshotRetentionLimit")?,
        unsupported: Vec::new(),
    };
    let c = ctl.create_cache_cluster(r)?;
    Ok(one_cluster(ctl, &c))
}

pub fn describe(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let show_nodes = params.bool("ShowCacheNodeInfo")?.unwrap_or(false);
    let page = ctl.describe_cache_clusters(
        params.string("CacheClusterId").as_deref(),
        params.int("MaxRecords")?,
        params.string("Marker").as_deref(),
        params
            .bool("ShowCacheClustersNotInReplicationGroups")?
            .unwrap_or(false),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("CacheClusters");
    for c in &page.clusters {
        render::cache_cluster(&mut x, ctl, c, show_nodes);
    }
    x.close("CacheClusters");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    if let Some(engine) = params.string("Engine") {
        return Err(Fault::InvalidParameterCombination(format!(
            "Changing the engine to {engine} is not supported by Larder yet."
        )));
    }
    let r = ModifyCacheCluster {
        cache_cluster_id: params.required("CacheClusterId")?,
        num_cache_nodes: params.int("NumCacheNodes")?,
        cache_node_ids_to_remove: params.list("CacheNodeIdsToRemove", "CacheNodeId"),
        cache_node_type: params.string("CacheNodeType"),
        apply_immediately: params.bool("ApplyImmediately")?.unwrap_or(false),
        preferred_maintenance_window: params.string("PreferredMaintenanceWindow"),
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: params.int("SnapshotRetentionLimit")?,
        az_mode: params.string("AZMode"),
        new_availability_zones: params.list("NewAvailabilityZones", "PreferredAvailabilityZone"),
        engine_version: params.string("EngineVersion"),
        cache_parameter_group_name: params.string("CacheParameterGroupName"),
        unsupported: Vec::new(),
    };
    let c = ctl.modify_cache_cluster(r)?;
    Ok(one_cluster(ctl, &c))
}

pub fn delete(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let c = ctl.delete_cache_cluster(
        &params.required("CacheClusterId")?,
        params.string("FinalSnapshotIdentifier").as_deref(),
    )?;
    Ok(one_cluster(ctl, &c))
}

pub fn reboot(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let ids = params.list("CacheNodeIdsToReboot", "CacheNodeId");
    let c = ctl.reboot_cache_cluster(&params.required("CacheClusterId")?, &ids)?;
    Ok(one_cluster(ctl, &c))
}
