//! The one place where Larder's faults become AWS error codes and HTTP statuses.
//! Codes and statuses follow the service model exactly, including its irregular names.

use larder_model::Fault;

/// (error code, HTTP status, `Sender` or `Receiver`).
pub fn wire(f: &Fault) -> (&'static str, u16, &'static str) {
    use Fault::*;
    match f {
        InvalidParameterValue(_) | CacheNodeNotFound(_) => ("InvalidParameterValue", 400, "Sender"),
        InvalidParameterCombination(_) => ("InvalidParameterCombination", 400, "Sender"),
        InvalidAction(_) => ("InvalidAction", 400, "Sender"),
        MissingAction(_) => ("MissingAction", 400, "Sender"),
        CacheClusterNotFound(_) => ("CacheClusterNotFound", 404, "Sender"),
        CacheClusterAlreadyExists(_) => ("CacheClusterAlreadyExists", 400, "Sender"),
        ReplicationGroupNotFound(_) => ("ReplicationGroupNotFoundFault", 404, "Sender"),
        ReplicationGroupAlreadyExists(_) => ("ReplicationGroupAlreadyExists", 400, "Sender"),
        InvalidReplicationGroupState(_) => ("InvalidReplicationGroupState", 400, "Sender"),
        NodeGroupNotFound(_) => ("NodeGroupNotFoundFault", 404, "Sender"),
        TestFailoverNotAvailable(_) => ("TestFailoverNotAvailableFault", 400, "Sender"),
        ReplicationGroupAlreadyUnderMigration(_) => {
            ("ReplicationGroupAlreadyUnderMigrationFault", 400, "Sender")
        }
        ReplicationGroupNotUnderMigration(_) => {
            ("ReplicationGroupNotUnderMigrationFault", 400, "Sender")
        }
        NoOperation(_) => ("NoOperationFault", 400, "Sender"),
        InvalidCacheClusterState(_) => ("InvalidCacheClusterState", 400, "Sender"),
        InsufficientCacheClusterCapacity(_) => ("InsufficientCacheClusterCapacity", 400, "Sender"),
        NodeQuotaForClusterExceeded(_) => ("NodeQuotaForClusterExceeded", 400, "Sender"),
        NodeQuotaForCustomerExceeded(_) => ("NodeQuotaForCustomerExceeded", 400, "Sender"),
        ClusterQuotaForCustomerExceeded(_) => ("ClusterQuotaForCustomerExceeded", 400, "Sender"),
        InvalidArn(_) => ("InvalidARN", 400, "Sender"),
        TagNotFound(_) => ("TagNotFound", 404, "Sender"),
        TagQuotaPerResourceExceeded(_) => ("TagQuotaPerResourceExceeded", 400, "Sender"),
        CacheParameterGroupNotFound(_) => ("CacheParameterGroupNotFound", 404, "Sender"),
        CacheParameterGroupAlreadyExists(_) => ("CacheParameterGroupAlreadyExists", 400, "Sender"),
        CacheParameterGroupQuotaExceeded(_) => ("CacheParameterGroupQuotaExceeded", 400, "Sender"),
        InvalidCacheParameterGroupState(_) => ("InvalidCacheParameterGroupState", 400, "Sender"),
        CacheSubnetGroupNotFound(_) => ("CacheSubnetGroupNotFoundFault", 400, "Sender"),
        CacheSubnetGroupAlreadyExists(_) => ("CacheSubnetGroupAlreadyExists", 400, "Sender"),
        CacheSubnetGroupQuotaExceeded(_) => ("CacheSubnetGroupQuotaExceeded", 400, "Sender"),
        CacheSubnetQuotaExceeded(_) => ("CacheSubnetQuotaExceededFault", 400, "Sender"),
        CacheSubnetGroupInUse(_) => ("CacheSubnetGroupInUse", 400, "Sender"),
        InvalidSubnet(_) => ("InvalidSubnet", 400, "Sender"),
        SubnetInUse(_) => ("SubnetInUse", 400, "Sender"),
        SnapshotAlreadyExists(_) => ("SnapshotAlreadyExistsFault", 400, "Sender"),
        SnapshotNotFound(_) => ("SnapshotNotFoundFault", 404, "Sender"),
        ServiceUpdateNotFound(_) => ("ServiceUpdateNotFoundFault", 404, "Sender"),
        InvalidSnapshotState(_) => ("InvalidSnapshotState", 400, "Sender"),
        SnapshotQuotaExceeded(_) => ("SnapshotQuotaExceededFault", 400, "Sender"),
        SnapshotFeatureNotSupported(_) => ("SnapshotFeatureNotSupportedFault", 400, "Sender"),
        SignatureDoesNotMatch(_) => ("SignatureDoesNotMatch", 403, "Sender"),
        InvalidClientTokenId(_) => ("InvalidClientTokenId", 403, "Sender"),
        MissingAuthenticationToken(_) => ("MissingAuthenticationToken", 403, "Sender"),
        MalformedQueryString(_) => ("MalformedQueryString", 400, "Sender"),
        IncompleteSignature(_) => ("IncompleteSignature", 400, "Sender"),
        RequestEntityTooLarge(_) => ("RequestEntityTooLarge", 413, "Sender"),
        Throttling(_) => ("Throttling", 400, "Sender"),
        Internal(_) => ("InternalFailure", 500, "Receiver"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irregular_codes_match_the_model() {
        assert_eq!(
            wire(&Fault::CacheClusterNotFound("x".into())),
            ("CacheClusterNotFound", 404, "Sender")
        );
        assert_eq!(wire(&Fault::InvalidArn("x".into())).0, "InvalidARN");
        assert_eq!(wire(&Fault::TagNotFound("x".into())).1, 404);
        assert_eq!(wire(&Fault::SignatureDoesNotMatch("x".into())).1, 403);
    }
}
