//! Replication group operations: wire parameters in, typed requests to the
//! controller, XML out.

use larder_controller::Controller;
use larder_model::requests::{CreateReplicationGroup, ModifyReplicationGroup};
use larder_model::{Fault, ReplicationGroup};

use super::{p, req, Inert::*, Kind::*, Param, SUBNET_GROUPS};
use crate::params::Params;
use crate::xml::Xml;

pub const CREATE: &[Param] = &[
    req("ReplicationGroupId", Str),
    req("ReplicationGroupDescription", Str),
    p("GlobalReplicationGroupId", Unsupported),
    p("PrimaryClusterId", Str),
    p("AutomaticFailoverEnabled", Bool),
    p("MultiAZEnabled", Bool),
    p("NumCacheClusters", Int),
    p("PreferredCacheClusterAZs", List),
    p("NumNodeGroups", Int),
    p("ReplicasPerNodeGroup", Int),
    p("NodeGroupConfiguration", Unsupported),
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
    p("MaxRecords", Int),
    p("Marker", Str),
];

pub const MODIFY: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("ReplicationGroupDescription", Str),
    p("PrimaryClusterId", Str),
    p("SnapshottingClusterId", Unsupported),
    p("AutomaticFailoverEnabled", Bool),
    p("MultiAZEnabled", Bool),
    p("NodeGroupId", Str),
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
    p("FinalSnapshotIdentifier", Str),
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

/// A `<ReplicationGroup>` element.
fn render(x: &mut Xml, ctl: &Controller, g: &ReplicationGroup) {
    let s = ctl.settings();
    let host = s.advertise_host.as_str();
    x.open("ReplicationGroup");
    x.leaf("ReplicationGroupId", &g.id);
    x.leaf("Description", &g.description);
    x.leaf("Status", g.status.as_str());
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
            .leaf("Address", host)
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

pub(super) fn one(ctl: &Controller, g: &ReplicationGroup) -> String {
    let mut x = Xml::default();
    render(&mut x, ctl, g);
    x.finish()
}

pub fn create(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let r = CreateReplicationGroup {
        replication_group_id: params.required("ReplicationGroupId")?,
        description: params.required("ReplicationGroupDescription")?,
        primary_cluster_id: params.string("PrimaryClusterId"),
        automatic_failover: params.bool("AutomaticFailoverEnabled")?,
        multi_az: params.bool("MultiAZEnabled")?,
        num_cache_clusters: params.int("NumCacheClusters")?,
        replicas_per_node_group: params.int("ReplicasPerNodeGroup")?,
        num_node_groups: params.int("NumNodeGroups")?,
        preferred_cache_cluster_azs: params.list("PreferredCacheClusterAZs", "AvailabilityZone"),
        cache_node_type: params.string("CacheNodeType"),
        engine: params.string("Engine"),
        engine_version: params.string("EngineVersion"),
        cache_parameter_group_name: params.string("CacheParameterGroupName"),
        cache_subnet_group_name: params.string("CacheSubnetGroupName"),
        tags: params.tags("Tags"),
        preferred_maintenance_window: params.string("PreferredMaintenanceWindow"),
        port: params.int("Port")?,
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: params.int("SnapshotRetentionLimit")?,
    };
    let g = ctl.create_replication_group(r)?;
    Ok(one(ctl, &g))
}

pub fn describe(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let (groups, marker) = ctl.describe_replication_groups(
        params.string("ReplicationGroupId").as_deref(),
        params.int("MaxRecords")?,
        params.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker.as_deref());
    x.open("ReplicationGroups");
    for g in &groups {
        render(&mut x, ctl, g);
    }
    x.close("ReplicationGroups");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let r = ModifyReplicationGroup {
        replication_group_id: params.required("ReplicationGroupId")?,
        description: params.string("ReplicationGroupDescription"),
        primary_cluster_id: params.string("PrimaryClusterId"),
        automatic_failover: params.bool("AutomaticFailoverEnabled")?,
        multi_az: params.bool("MultiAZEnabled")?,
        node_group_id: params.string("NodeGroupId"),
        cache_node_type: params.string("CacheNodeType"),
        preferred_maintenance_window: params.string("PreferredMaintenanceWindow"),
        snapshot_retention_limit: params.int("SnapshotRetentionLimit")?,
        cache_parameter_group_name: params.string("CacheParameterGroupName"),
        engine_version: params.string("EngineVersion"),
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        apply_immediately: params.bool("ApplyImmediately")?.unwrap_or(false),
    };
    let g = ctl.modify_replication_group(r)?;
    Ok(one(ctl, &g))
}

pub fn delete(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let g = ctl.delete_replication_group(
        &params.required("ReplicationGroupId")?,
        params.bool("RetainPrimaryCluster")?.unwrap_or(false),
        params.string("FinalSnapshotIdentifier").as_deref(),
    )?;
    Ok(one(ctl, &g))
}

/// NewReplicaCount, directly or through ReplicaConfiguration for node group 0001.
fn replica_count(params: &Params) -> Result<Option<i64>, Fault> {
    if let Some(n) = params.int("NewReplicaCount")? {
        return Ok(Some(n));
    }
    let base = "ReplicaConfiguration.ConfigureShard.1.NewReplicaCount";
    let member = "ReplicaConfiguration.member.1.NewReplicaCount";
    match params.int(base)? {
        Some(n) => Ok(Some(n)),
        None => params.int(member),
    }
}

pub fn increase(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let zones = params.list(
        "ReplicaConfiguration.ConfigureShard.1.PreferredAvailabilityZones",
        "PreferredAvailabilityZone",
    );
    let g = ctl.increase_replica_count(
        &params.required("ReplicationGroupId")?,
        replica_count(params)?,
        &zones,
    )?;
    Ok(one(ctl, &g))
}

pub fn decrease(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let remove = params.list("ReplicasToRemove", "member");
    let g = ctl.decrease_replica_count(
        &params.required("ReplicationGroupId")?,
        replica_count(params)?,
        &remove,
    )?;
    Ok(one(ctl, &g))
}

pub fn test_failover(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let g = ctl.test_failover(
        &params.required("ReplicationGroupId")?,
        &params.required("NodeGroupId")?,
    )?;
    Ok(one(ctl, &g))
}
