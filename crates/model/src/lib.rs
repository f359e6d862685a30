//! Larder's domain types, in ElastiCache's vocabulary. No I/O lives here.

pub mod arn;
pub mod cluster;
pub mod engine;
pub mod event;
pub mod fault;
pub mod host;
pub mod ids;
pub mod in_place_upgrade;
pub mod maintenance_window;
pub mod node_type;
pub mod parameter_apply;
pub mod parameter_group;
pub mod parameters;
pub mod replication_group;
pub mod requests;
pub mod s3_object;
pub mod service_update;
pub mod snapshot;
pub mod snapshot_window;
pub mod subnet_group;

pub use arn::{Arn, Tag};
pub use cluster::{
    CacheCluster, CacheNode, ClusterStatus, NodeStatus, PendingModifiedValues, RestoreFrom,
};
pub use engine::Engine;
pub use event::{Event, SourceType};
pub use fault::Fault;
pub use host::{Host, LOCAL_HOST};
pub use in_place_upgrade::{InPlaceStep, InPlaceUpgrade};
pub use maintenance_window::MaintenanceWindow;
pub use node_type::NodeType;
pub use parameter_apply::ParameterApply;
pub use parameter_group::{CacheParameterGroup, ParameterView};
pub use parameters::{ChangeType, DataType, ParameterDef, ParameterSource};
pub use replication_group::{
    EngineUpgrade, Failover, FailoverStep, Migration, ReplicationGroup, ReplicationGroupStatus,
    UpgradeStep,
};
pub use service_update::{ServiceUpdate, UpdateActionStatus, UpdateRecord, UpdateState};
pub use snapshot::{
    NodeSnapshot, Snapshot, SnapshotExport, SnapshotFile, SnapshotSource, SnapshotStatus,
};
pub use snapshot_window::SnapshotWindow;
pub use subnet_group::{CacheSubnetGroup, Subnet};
