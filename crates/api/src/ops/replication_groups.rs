//! Replication group operations: wire parameters in, typed requests to the
//! controller, XML out.

use larder_controller::service::Snapshotting;
use larder_controller::Controller;
use larder_model::requests::{CreateReplicationGroup, ModifyReplicationGroup};
use larder_model::{Engine, Fault, ReplicationGroup};

use super::{p, range, req, Inert::*, Kind::*, Param, Validated};
use super::{MAX_RECORDS, PORT, RETENTION};
use crate::xml::Xml;

/// The engines a replication group can run.
const GROUP_ENGINES: &[&str] = &["redis", "valkey"];

pub const CREATE: &[Param] = &[
    req(
        "ReplicationGroupId",
        Identifier(larder_model::ids::REPLICATION_GROUP_ID_MAX),
    ),
    req("ReplicationGroupDescription", Str),
    p("GlobalReplicationGroupId", Unsupported),
    p("PrimaryClusterId", Str),
    p("AutomaticFailoverEnabled", Bool),
    p("MultiAZEnabled", Bool),
    p(
        "NumCacheClusters",
        range(1, 6, "must be 1-6 (a primary and at most 5 replicas)"),
    ),
    p("PreferredCacheClusterAZs", List),
    p("NumNodeGroups", Int),
    p(
        "ReplicasPerNodeGroup",
        range(0, 5, "must be 0-5 (a node group has at most 5 replicas)"),
    ),
    p("NodeGroupConfiguration", Unsupported),
    p("CacheNodeType", NodeType),
    p(
        "Engine",
        Enum(GROUP_ENGINES, "replication groups need redis or valkey"),
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
    p("TransitEncryptionEnabled", Inert(False)),
    p("AtRestEncryptionEnabled", Inert(False)),
    p("KmsKeyId", Unsupported),
    p("UserGroupIds", Unsupported),
    p("LogDeliveryConfigurations", Unsupported),
    p("DataTieringEnabled", Inert(False)),
    p("NetworkType", Inert(Only("ipv4"))),
    p("IpDiscovery", Inert(Only("ipv4"))),
    p("TransitEncryptionMode", Unsupported),
    p("ClusterMode", Inert(Only("disabled"))),
    p("ServerlessCacheSnapshotName", Unsupported),
];

pub const DESCRIBE: &[Param] = &[
    p("ReplicationGroupId", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const MODIFY: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("ReplicationGroupDescription", Str),
    p("PrimaryClusterId", Str),
    p("SnapshottingClusterId", Str),
    p("AutomaticFailoverEnabled", Bool),
    p("MultiAZEnabled", Bool),
    p("NodeGroupId", Str),
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
    p("UserGroupIdsToAdd", Unsupported),
    p("UserGroupIdsToRemove", Unsupported),
    p("RemoveUserGroups", Bool),
    p("LogDeliveryConfigurations", Unsupported),
    p("IpDiscovery", Inert(Only("ipv4"))),
    p("TransitEncryptionEnabled", Inert(False)),
    p("TransitEncryptionMode", Unsupported),
    p("ClusterMode", Inert(Only("disabled"))),
];

pub const DELETE: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("RetainPrimaryCluster", Bool),
    p(
        "FinalSnapshotIdentifier",
        Identifier(larder_model::snapshot::SNAPSHOT_NAME_MAX),
    ),
];
pub const INCREASE: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("NewReplicaCount", Int),
    p("ReplicaConfiguration", List),
    req("ApplyImmediately", Bool),
];
pub const DECREASE: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("NewReplicaCount", Int),
    p("ReplicaConfiguration", List),
    p("ReplicasToRemove", List),
    req("ApplyImmediately", Bool),
];
pub const TEST_FAILOVER: &[Param] = &[req("ReplicationGroupId", Str), req("NodeGroupId", Str)];

use super::group_rules::{replica_count, total};
pub use super::group_rules::{
    CREATE_RULES, DECREASE_RULES, DELETE_RULES, DESCRIBE_RULES, INCREASE_RULES, MODIFY_RULES,
    TEST_FAILOVER_RULES,
};

/// A `<ReplicationGroup>` element.
fn render(x: &mut Xml, ctl: &Controller, g: &ReplicationGroup, busy: &Snapshotting) {
    let s = ctl.settings();
    let host = s.advertise_host.as_str();
    x.open("ReplicationGroup");
    x.leaf("ReplicationGroupId", &g.id);
    x.leaf("Description", &g.description);
    x.leaf("Status", busy.group_status(g));
    x.open("PendingModifiedValues");
    if let Some(to) = g.failover.as_ref().and_then(|f| f.to.as_ref()) {
        x.leaf("PrimaryClusterId", to);
    }
    x.close("PendingModifiedValues");
    x.list("MemberClusters", "ClusterId", &g.members);
    x.open("NodeGroups").open("NodeGroup");
    x.leaf("NodeGroupId", "0001");
    x.leaf("Status", g.status.as_str());
    x.open("PrimaryEndpoint")
        .leaf("Address", host)
        .leaf("Port", g.primary_endpoint_port)
        .close("PrimaryEndpoint");
    x.open("ReaderEndpoint")
        .leaf("Address", host)
        .leaf("Port", g.reader_endpoint_port)
        .close("ReaderEndpoint");
    x.open("NodeGroupMembers");
    for m in &g.members {
        let Ok(Some(c)) = ctl.store().get_cluster(m) else {
            continue;
        };
        let Some(n) = c.nodes.first() else { continue };
        x.open("NodeGroupMember")
            .leaf("CacheClusterId", &c.id)
            .leaf("CacheNodeId", &n.cache_node_id)
            .open("ReadEndpoint")
            .leaf("Address", ctl.node_endpoint_address(n))
            .leaf("Port", n.port)
            .close("ReadEndpoint")
            .leaf("PreferredAvailabilityZone", &n.availability_zone)
            .leaf(
                "CurrentRole",
                if *m == g.primary {
                    "primary"
                } else {
                    "replica"
                },
            )
            .close("NodeGroupMember");
    }
    x.close("NodeGroupMembers");
    x.close("NodeGroup").close("NodeGroups");
    x.leaf(
        "AutomaticFailover",
        if g.automatic_failover {
            "enabled"
        } else {
            "disabled"
        },
    );
    x.leaf("MultiAZ", if g.multi_az { "enabled" } else { "disabled" });
    x.leaf("SnapshotRetentionLimit", g.snapshot_retention_limit);
    x.opt("SnapshotWindow", g.snapshot_window.as_deref());
    x.opt("SnapshottingClusterId", ctl.snapshotting_cluster(g));
    x.leaf("ClusterEnabled", false);
    x.leaf("CacheNodeType", &g.cache_node_type);
    x.leaf("AuthTokenEnabled", false);
    x.leaf("TransitEncryptionEnabled", false);
    x.leaf("AtRestEncryptionEnabled", false);
    x.leaf("ARN", s.arn("replicationgroup", &g.id));
    x.open("LogDeliveryConfigurations")
        .close("LogDeliveryConfigurations");
    x.time("ReplicationGroupCreateTime", &g.create_time);
    x.leaf("DataTiering", "disabled");
    x.leaf("AutoMinorVersionUpgrade", g.auto_minor_version_upgrade);
    x.leaf("NetworkType", "ipv4");
    x.leaf("IpDiscovery", "ipv4");
    x.leaf("ClusterMode", "disabled");
    x.leaf("Engine", g.engine.as_str());
    x.close("ReplicationGroup");
}

pub(super) fn one(ctl: &Controller, g: &ReplicationGroup) -> Result<String, Fault> {
    let busy = ctl.snapshotting()?;
    let mut x = Xml::default();
    render(&mut x, ctl, g, &busy);
    Ok(x.finish())
}

pub fn create(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = CreateReplicationGroup {
        replication_group_id: v.required_id("ReplicationGroupId"),
        description: v.required("ReplicationGroupDescription"),
        primary_cluster_id: v.id("PrimaryClusterId"),
        automatic_failover: v.flag("AutomaticFailoverEnabled"),
        multi_az: v.flag("MultiAZEnabled"),
        num_cache_clusters: total(v) as u32,
        preferred_cache_cluster_azs: v.list("PreferredCacheClusterAZs", "AvailabilityZone"),
        cache_node_type: v.node_type("CacheNodeType"),
        engine: v
            .choice("Engine")
            .and_then(Engine::parse)
            .unwrap_or(Engine::Redis),
        engine_version: v.string("EngineVersion"),
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
    let g = ctl.create_replication_group(r)?;
    one(ctl, &g)
}

pub fn describe(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let (groups, marker) = ctl.describe_replication_groups(
        v.string("ReplicationGroupId").as_deref(),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let busy = ctl.snapshotting()?;
    let mut x = Xml::default();
    x.opt("Marker", marker.as_deref());
    x.open("ReplicationGroups");
    for g in &groups {
        render(&mut x, ctl, g, &busy);
    }
    x.close("ReplicationGroups");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let r = ModifyReplicationGroup {
        replication_group_id: v.required_id("ReplicationGroupId"),
        description: v.string("ReplicationGroupDescription"),
        primary_cluster_id: v.id("PrimaryClusterId"),
        automatic_failover: v.bool("AutomaticFailoverEnabled"),
        multi_az: v.bool("MultiAZEnabled"),
        node_group_id: v.string("NodeGroupId"),
        cache_node_type: v.string("CacheNodeType"),
        preferred_maintenance_window: v.string("PreferredMaintenanceWindow"),
        snapshot_retention_limit: v.int("SnapshotRetentionLimit").map(|n| n as u32),
        snapshot_window: v.string("SnapshotWindow"),
        snapshotting_cluster_id: v.id("SnapshottingClusterId"),
        cache_parameter_group_name: v.string("CacheParameterGroupName"),
        engine_version: v.string("EngineVersion"),
        auto_minor_version_upgrade: v.bool("AutoMinorVersionUpgrade"),
        apply_immediately: v.flag("ApplyImmediately"),
    };
    let g = ctl.modify_replication_group(r)?;
    one(ctl, &g)
}

pub fn delete(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.delete_replication_group_with_snapshot(
        &v.required_id("ReplicationGroupId"),
        v.flag("RetainPrimaryCluster"),
        v.id("FinalSnapshotIdentifier").as_deref(),
    )?;
    one(ctl, &g)
}

pub fn increase(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let zones = v.list(
        "ReplicaConfiguration.ConfigureShard.1.PreferredAvailabilityZones",
        "PreferredAvailabilityZone",
    );
    let target = replica_count(v).unwrap_or_default();
    let g = ctl.increase_replica_count(&v.required_id("ReplicationGroupId"), target, &zones)?;
    one(ctl, &g)
}

pub fn decrease(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let remove = v.list("ReplicasToRemove", "member");
    let g = ctl.decrease_replica_count(
        &v.required_id("ReplicationGroupId"),
        replica_count(v),
        &remove,
    )?;
    one(ctl, &g)
}

pub fn test_failover(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.test_failover(
        &v.required_id("ReplicationGroupId"),
        &v.required("NodeGroupId"),
    )?;
    one(ctl, &g)
}
