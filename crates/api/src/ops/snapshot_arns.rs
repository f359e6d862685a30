//! SnapshotArns on CreateCacheCluster and CreateReplicationGroup: the checks both
//! share, in one place. Larder groups have one node group, and a cluster one redis
//! node, so exactly one object is named; it must not come with SnapshotName.

use larder_model::s3_object::S3Object;
use larder_model::Fault;

use super::Validated;

/// The objects named, in order.
fn arns(v: &Validated) -> Vec<String> {
    v.list("SnapshotArns", "SnapshotArn")
}

/// The rule: well-formed ARNs, one of them, and not with SnapshotName.
pub(super) fn snapshot_arns(v: &Validated) -> Result<(), Fault> {
    if !v.given("SnapshotArns") {
        return Ok(());
    }
    if v.given("SnapshotName") {
        return Err(Fault::InvalidParameterCombination(
            "SnapshotArns and SnapshotName cannot both be given.".into(),
        ));
    }
    let all = arns(v);
    for a in &all {
        S3Object::from_arn(a)?;
    }
    if all.len() != 1 {
        return Err(Fault::InvalidParameterValue(format!(
            "SnapshotArns names {} objects; Larder restores one node group, from exactly one RDB object.",
            all.len()
        )));
    }
    Ok(())
}

/// The object the primary starts from, once the rule has passed.
pub(super) fn snapshot_object(v: &Validated) -> Option<S3Object> {
    arns(v).first().and_then(|a| S3Object::from_arn(a).ok())
}
