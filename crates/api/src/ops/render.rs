//! XML for the shapes several operations return.

use larder_controller::service::Snapshotting;
use larder_controller::Controller;
use larder_model::{CacheCluster, Tag};

use crate::xml::Xml;

/// A `<CacheCluster>` element; nodes only when asked (ShowCacheNodeInfo).
/// `busy` says which clusters show `snapshotting`.
pub fn cache_cluster(
    x: &mut Xml,
    ctl: &Controller,
    c: &CacheCluster,
    show_nodes: bool,
    busy: &Snapshotting,
) {
    let s = ctl.settings();
    x.open("CacheCluster");
    x.leaf("CacheClusterId", &c.id);
    if let Some(port) = c.configuration_endpoint_port {
        x.open("ConfigurationEndpoint")
            .leaf("Address", &s.advertise_host)
            .leaf("Port", port)
            .close("ConfigurationEndpoint");
    }
    x.leaf(
        "ClientDownloadLandingPage",
        "https://console.aws.amazon.com/elasticache/home#client-download:",
    );
    x.leaf("CacheNodeType", &c.cache_node_type);
    x.leaf("Engine", c.engine.as_str());
    x.leaf("EngineVersion", &c.engine_version);
    x.leaf("CacheClusterStatus", busy.cluster_status(c));
    x.leaf("NumCacheNodes", c.num_cache_nodes());
    let mut zones: Vec<&str> = c
        .member_nodes()
        .map(|n| n.availability_zone.as_str())
        .collect();
    zones.dedup();
    let zone = if zones.len() > 1 {
        "Multiple"
    } else {
        c.preferred_availability_zone.as_str()
    };
    x.leaf("PreferredAvailabilityZone", zone);
    x.time("CacheClusterCreateTime", &c.create_time);
    x.leaf(
        "PreferredMaintenanceWindow",
        &c.preferred_maintenance_window,
    );
    x.open("PendingModifiedValues");
    x.opt("NumCacheNodes", c.pending.num_cache_nodes);
    if !c.pending.cache_node_ids_to_remove.is_empty() {
        x.list(
            "CacheNodeIdsToRemove",
            "CacheNodeId",
            &c.pending.cache_node_ids_to_remove,
        );
    }
    x.opt("CacheNodeType", c.pending.cache_node_type.as_deref());
    x.opt("EngineVersion", c.pending.engine_version.as_deref());
    x.close("PendingModifiedValues");
    // No NotificationConfiguration and no security group members: Larder has no
    // notifications or security groups yet, and the API refuses them rather than
    // report them as working.
    x.open("CacheSecurityGroups").close("CacheSecurityGroups");
    x.open("CacheParameterGroup")
        .leaf("CacheParameterGroupName", &c.cache_parameter_group_name)
        .leaf("ParameterApplyStatus", c.parameter_apply.status())
        .open("CacheNodeIdsToReboot");
    for id in &c.parameter_apply.pending_reboot {
        x.leaf("CacheNodeId", id);
    }
    x.close("CacheNodeIdsToReboot").close("CacheParameterGroup");
    x.opt("CacheSubnetGroupName", c.cache_subnet_group_name.as_deref());
    if show_nodes {
        x.open("CacheNodes");
        for n in &c.nodes {
            x.open("CacheNode")
                .leaf("CacheNodeId", &n.cache_node_id)
                .leaf("CacheNodeStatus", n.status.as_str())
                .time("CacheNodeCreateTime", &n.create_time)
                .open("Endpoint")
                .leaf("Address", ctl.node_endpoint_address(n))
                .leaf("Port", n.port)
                .close("Endpoint")
                .leaf("CustomerAvailabilityZone", &n.availability_zone)
                .close("CacheNode");
        }
        x.close("CacheNodes");
    }
    x.leaf("AutoMinorVersionUpgrade", c.auto_minor_version_upgrade);
    x.open("SecurityGroups").close("SecurityGroups");
    x.opt("ReplicationGroupId", c.replication_group_id.as_deref());
    if c.engine.is_redis_like() {
        x.leaf("SnapshotRetentionLimit", c.snapshot_retention_limit);
        x.opt("SnapshotWindow", c.snapshot_window.as_deref());
    }
    x.leaf("AuthTokenEnabled", false);
    x.leaf("TransitEncryptionEnabled", false);
    x.leaf("AtRestEncryptionEnabled", false);
    x.leaf("ARN", s.cluster_arn(&c.id));
    x.leaf("ReplicationGroupLogDeliveryEnabled", false);
    x.open("LogDeliveryConfigurations")
        .close("LogDeliveryConfigurations");
    x.leaf("NetworkType", "ipv4");
    x.leaf("IpDiscovery", "ipv4");
    x.close("CacheCluster");
}

/// A `<TagList>` element.
pub fn tag_list(tags: &[Tag]) -> String {
    let mut x = Xml::default();
    x.open("TagList");
    for t in tags {
        x.open("Tag")
            .leaf("Key", &t.key)
            .leaf("Value", &t.value)
            .close("Tag");
    }
    x.close("TagList");
    x.finish()
}
