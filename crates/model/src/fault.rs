//! The one error type every layer returns to the API. Each variant is an ElastiCache
//! fault; the api crate maps variants to wire codes and HTTP statuses in one place.

use thiserror::Error;

/// A failure a user can see, named after the ElastiCache error it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Fault {
    /// A parameter is missing, malformed or out of range.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that are each valid but do not go together.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// The request names no Action at all.
    #[error("{0}")]
    MissingAction(String),
    /// The Action is not one Larder knows.
    #[error("{0}")]
    InvalidAction(String),
    /// No cache cluster with this id.
    #[error("CacheCluster not found: {0}")]
    CacheClusterNotFound(String),
    /// A cache cluster with this id exists already.
    #[error("Cache cluster {0} already exists.")]
    CacheClusterAlreadyExists(String),
    /// No replication group with this id.
    #[error("ReplicationGroup not found: {0}")]
    ReplicationGroupNotFound(String),
    /// A replication group with this id exists already.
    #[error("Replication group {0} already exists.")]
    ReplicationGroupAlreadyExists(String),
    /// The group is in a status that does not allow the operation.
    #[error("{0}")]
    InvalidReplicationGroupState(String),
    /// The node group id does not exist in the group.
    #[error("{0}")]
    NodeGroupNotFound(String),
    /// TestFailover cannot run now.
    #[error("{0}")]
    TestFailoverNotAvailable(String),
    /// StartMigration on a group that is already migrating.
    #[error("{0}")]
    ReplicationGroupAlreadyUnderMigration(String),
    /// CompleteMigration on a group that is not migrating.
    #[error("{0}")]
    ReplicationGroupNotUnderMigration(String),
    /// The request would change nothing.
    #[error("{0}")]
    NoOperation(String),
    /// The cluster is in a status that does not allow the operation.
    #[error("{0}")]
    InvalidCacheClusterState(String),
    /// A node id given in a request does not belong to the cluster.
    #[error("{0}")]
    CacheNodeNotFound(String),
    /// The host cannot place more nodes (for Larder: the node port range is full).
    #[error("{0}")]
    InsufficientCacheClusterCapacity(String),
    /// More nodes in one cluster than the service allows.
    #[error("{0}")]
    NodeQuotaForClusterExceeded(String),
    /// More nodes on this host than the configured limit.
    #[error("{0}")]
    NodeQuotaForCustomerExceeded(String),
    /// More clusters than the configured limit.
    #[error("{0}")]
    ClusterQuotaForCustomerExceeded(String),
    /// The ARN is malformed or names an unsupported resource type.
    #[error("{0}")]
    InvalidArn(String),
    /// RemoveTagsFromResource named a key the resource does not carry.
    #[error("{0}")]
    TagNotFound(String),
    /// More than 50 tags on one resource.
    #[error("{0}")]
    TagQuotaPerResourceExceeded(String),
    /// No cache parameter group with this name.
    #[error("CacheParameterGroup {0} not found.")]
    CacheParameterGroupNotFound(String),
    /// A cache parameter group with this name exists already.
    #[error("Parameter group {0} already exists.")]
    CacheParameterGroupAlreadyExists(String),
    /// More custom parameter groups than the service allows.
    #[error("{0}")]
    CacheParameterGroupQuotaExceeded(String),
    /// The parameter group cannot change now (a cluster uses it).
    #[error("{0}")]
    InvalidCacheParameterGroupState(String),
    /// No cache subnet group with this name.
    #[error("CacheSubnetGroup {0} not found.")]
    CacheSubnetGroupNotFound(String),
    /// A cache subnet group with this name exists already.
    #[error("Cache subnet group {0} already exists.")]
    CacheSubnetGroupAlreadyExists(String),
    /// More subnet groups than the service allows.
    #[error("{0}")]
    CacheSubnetGroupQuotaExceeded(String),
    /// More subnets in one group than the service allows.
    #[error("{0}")]
    CacheSubnetQuotaExceeded(String),
    /// The subnet group is used by a cluster and cannot be deleted.
    #[error("{0}")]
    CacheSubnetGroupInUse(String),
    /// A subnet id that is malformed or cannot be placed.
    #[error("{0}")]
    InvalidSubnet(String),
    /// A change would remove a subnet that nodes are placed in.
    #[error("{0}")]
    SubnetInUse(String),
    /// A snapshot with this name exists already.
    #[error("Snapshot {0} already exists.")]
    SnapshotAlreadyExists(String),
    /// No snapshot with this name.
    #[error("Snapshot {0} not found.")]
    SnapshotNotFound(String),
    /// No service update with this name.
    #[error("Service update {0} not found.")]
    ServiceUpdateNotFound(String),
    /// The snapshot is in a status that does not allow the operation.
    #[error("{0}")]
    InvalidSnapshotState(String),
    /// More snapshots than the configured limit.
    #[error("{0}")]
    SnapshotQuotaExceeded(String),
    /// The source cannot be snapshotted (memcached, as on the service).
    #[error("{0}")]
    SnapshotFeatureNotSupported(String),
    /// The request's signature does not match the one we compute.
    #[error("{0}")]
    SignatureDoesNotMatch(String),
    /// The access key id is not one we accept.
    #[error("{0}")]
    InvalidClientTokenId(String),
    /// The request carries no authentication at all.
    #[error("{0}")]
    MissingAuthenticationToken(String),
    /// The body or query string could not be read.
    #[error("{0}")]
    MalformedQueryString(String),
    /// The Authorization header or the headers it relies on are missing or malformed.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The request body is larger than the API accepts.
    #[error("{0}")]
    RequestEntityTooLarge(String),
    /// Too many requests at once; the client should retry later.
    #[error("{0}")]
    Throttling(String),
    /// Something went wrong inside Larder; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl Fault {
    /// The service's wording for a missing required parameter.
    pub fn missing(param: &str) -> Fault {
        Fault::InvalidParameterValue(format!(
            "The parameter {param} must be provided and must not be blank."
        ))
    }

    /// A malformed value for a named parameter.
    pub fn invalid(param: &str, value: &str, why: &str) -> Fault {
        Fault::InvalidParameterValue(format!("Invalid value '{value}' for {param}: {why}"))
    }
}
