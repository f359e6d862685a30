//! The rules of the replication group operations: checks across parameters that need
//! only the request (counts that must agree, failover with one node, …).

use larder_model::replication_group::MAX_REPLICAS;
use larder_model::Fault;

use super::{Rule, Validated};

/// Checks of CreateReplicationGroup that look at more than one parameter.
pub const CREATE_RULES: &[Rule] = &[
    one_node_group,
    counts_agree,
    failover_needs_a_replica,
    multi_az_needs_failover,
    one_zone_per_member,
    node_type_or_primary,
    snapshot_or_primary,
    super::snapshot_arns::snapshot_arns,
];
pub const DESCRIBE_RULES: &[Rule] = &[];
/// Checks of ModifyReplicationGroup that need only the request.
pub const MODIFY_RULES: &[Rule] = &[multi_az_needs_failover_flag];
pub const DELETE_RULES: &[Rule] = &[];
pub const INCREASE_RULES: &[Rule] = &[replica_count_parses, increase_needs_a_count];
pub const DECREASE_RULES: &[Rule] = &[replica_count_parses, decrease_needs_a_target];
pub const TEST_FAILOVER_RULES: &[Rule] = &[];

fn one_node_group(v: &Validated) -> Result<(), Fault> {
    if v.int("NumNodeGroups").unwrap_or(1) > 1 {
        return Err(Fault::InvalidParameterCombination(
            "Cluster mode (more than one node group) is not supported by Larder yet.".into(),
        ));
    }
    Ok(())
}

fn counts_agree(v: &Validated) -> Result<(), Fault> {
    match (v.int("NumCacheClusters"), v.int("ReplicasPerNodeGroup")) {
        (Some(n), Some(r)) if n != r + 1 => Err(Fault::InvalidParameterCombination(
            "NumCacheClusters must equal ReplicasPerNodeGroup + 1 when both are given.".into(),
        )),
        _ => Ok(()),
    }
}

/// Members including the primary, once `counts_agree` holds.
pub(super) fn total(v: &Validated) -> i64 {
    match (v.int("NumCacheClusters"), v.int("ReplicasPerNodeGroup")) {
        (Some(n), _) => n,
        (None, Some(r)) => r + 1,
        (None, None) => 1,
    }
}

fn failover_needs_a_replica(v: &Validated) -> Result<(), Fault> {
    if v.flag("AutomaticFailoverEnabled") && total(v) < 2 {
        return Err(Fault::InvalidParameterCombination(
            "Automatic failover needs at least one replica (NumCacheClusters of 2 or more).".into(),
        ));
    }
    Ok(())
}

fn multi_az_needs_failover(v: &Validated) -> Result<(), Fault> {
    if v.flag("MultiAZEnabled") && !v.flag("AutomaticFailoverEnabled") {
        return Err(Fault::InvalidParameterCombination(
            "Multi-AZ needs automatic failover (AutomaticFailoverEnabled=true).".into(),
        ));
    }
    Ok(())
}

fn one_zone_per_member(v: &Validated) -> Result<(), Fault> {
    let zones = v.list("PreferredCacheClusterAZs", "AvailabilityZone");
    if !zones.is_empty() && zones.len() as i64 != total(v) {
        return Err(Fault::InvalidParameterValue(
            "The number of PreferredCacheClusterAZs must equal the number of cache clusters."
                .into(),
        ));
    }
    Ok(())
}

fn node_type_or_primary(v: &Validated) -> Result<(), Fault> {
    if !v.given("CacheNodeType") && !v.given("PrimaryClusterId") {
        return Err(Fault::missing("CacheNodeType"));
    }
    Ok(())
}

/// A group grows from its primary's data or starts from a snapshot's, not both.
fn snapshot_or_primary(v: &Validated) -> Result<(), Fault> {
    for param in ["SnapshotName", "SnapshotArns"] {
        if v.given(param) && v.given("PrimaryClusterId") {
            return Err(Fault::InvalidParameterCombination(format!(
                "{param} cannot be combined with PrimaryClusterId."
            )));
        }
    }
    Ok(())
}

fn multi_az_needs_failover_flag(v: &Validated) -> Result<(), Fault> {
    if v.bool("MultiAZEnabled") == Some(true) && v.bool("AutomaticFailoverEnabled") == Some(false) {
        return Err(Fault::InvalidParameterCombination(
            "Multi-AZ needs automatic failover.".into(),
        ));
    }
    Ok(())
}

/// The two spellings of node group 0001's count inside ReplicaConfiguration.
const SHARD_COUNT: [&str; 2] = [
    "ReplicaConfiguration.ConfigureShard.1.NewReplicaCount",
    "ReplicaConfiguration.member.1.NewReplicaCount",
];

fn replica_count_parses(v: &Validated) -> Result<(), Fault> {
    for name in SHARD_COUNT {
        v.params().int(name)?;
    }
    Ok(())
}

/// NewReplicaCount, directly or through ReplicaConfiguration for node group 0001.
pub(super) fn replica_count(v: &Validated) -> Option<i64> {
    v.int("NewReplicaCount")
        .or_else(|| SHARD_COUNT.iter().find_map(|name| v.int(name)))
}

fn increase_needs_a_count(v: &Validated) -> Result<(), Fault> {
    match replica_count(v) {
        None => Err(Fault::missing("NewReplicaCount")),
        Some(n) if n > i64::from(MAX_REPLICAS) => Err(Fault::InvalidParameterValue(format!(
            "A node group has at most {MAX_REPLICAS} replicas."
        ))),
        Some(_) => Ok(()),
    }
}

fn decrease_needs_a_target(v: &Validated) -> Result<(), Fault> {
    if replica_count(v).is_none() && !v.given("ReplicasToRemove") {
        return Err(Fault::InvalidParameterValue(
            "Either NewReplicaCount or ReplicasToRemove must be given.".into(),
        ));
    }
    Ok(())
}
