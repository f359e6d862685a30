//! The operation table: every supported Action with its parameters described as data,
//! checked in one place before the handler runs.

mod cache_clusters;
mod catalog;
mod events;
mod group_rules;
mod migration;
mod parameter_groups;
mod render;
mod replication_groups;
mod service_updates;
mod snapshot_arns;
mod snapshots;
mod subnet_groups;
mod tags;
mod unknown;

mod kinds;
mod validated;

use larder_controller::Controller;
use larder_model::Fault;

use crate::params::Params;
use kinds::{p, range, req};
pub use kinds::{Inert, Kind, Param};
pub use validated::{validate, Rule, Validated};

/// Runs one action and returns the XML of its `<Result>` element.
pub type Handler = fn(&Controller, &Validated) -> Result<String, Fault>;

/// An Action Larder serves.
pub struct Operation {
    /// The Action name.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
    /// Checks across parameters, run after every parameter passed its kind.
    pub rules: &'static [Rule],
    /// What carries it out.
    pub handler: Handler,
}

/// The engines a cache cluster can run.
pub const ENGINES: &[&str] = &["redis", "valkey", "memcached"];

/// Shared ranges, with the reason each answers.
const PORT: Kind = range(1, 65535, "must be 1-65535");
const MAX_RECORDS: Kind = range(20, 100, "must be between 20 and 100");
/// Days of automatic snapshots kept, as on the service (0 turns them off).
const RETENTION: Kind = range(0, 35, "must be 0-35 days (0 turns automatic snapshots off)");

/// Every supported operation.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        name: "CreateCacheCluster",
        params: cache_clusters::CREATE,
        rules: cache_clusters::CREATE_RULES,
        handler: cache_clusters::create,
    },
    Operation {
        name: "DescribeCacheClusters",
        params: cache_clusters::DESCRIBE,
        rules: cache_clusters::DESCRIBE_RULES,
        handler: cache_clusters::describe,
    },
    Operation {
        name: "ModifyCacheCluster",
        params: cache_clusters::MODIFY,
        rules: cache_clusters::MODIFY_RULES,
        handler: cache_clusters::modify,
    },
    Operation {
        name: "DeleteCacheCluster",
        params: cache_clusters::DELETE,
        rules: cache_clusters::DELETE_RULES,
        handler: cache_clusters::delete,
    },
    Operation {
        name: "RebootCacheCluster",
        params: cache_clusters::REBOOT,
        rules: cache_clusters::REBOOT_RULES,
        handler: cache_clusters::reboot,
    },
    Operation {
        name: "DescribeCacheEngineVersions",
        params: catalog::ENGINE_VERSIONS,
        rules: catalog::ENGINE_VERSIONS_RULES,
        handler: catalog::engine_versions,
    },
    Operation {
        name: "ListAllowedNodeTypeModifications",
        params: catalog::NODE_TYPE_MODIFICATIONS,
        rules: catalog::NODE_TYPE_MODIFICATIONS_RULES,
        handler: catalog::node_type_modifications,
    },
    Operation {
        name: "DescribeEvents",
        params: events::DESCRIBE,
        rules: events::DESCRIBE_RULES,
        handler: events::describe,
    },
    Operation {
        name: "CreateReplicationGroup",
        params: replication_groups::CREATE,
        rules: replication_groups::CREATE_RULES,
        handler: replication_groups::create,
    },
    Operation {
        name: "DescribeReplicationGroups",
        params: replication_groups::DESCRIBE,
        rules: replication_groups::DESCRIBE_RULES,
        handler: replication_groups::describe,
    },
    Operation {
        name: "ModifyReplicationGroup",
        params: replication_groups::MODIFY,
        rules: replication_groups::MODIFY_RULES,
        handler: replication_groups::modify,
    },
    Operation {
        name: "DeleteReplicationGroup",
        params: replication_groups::DELETE,
        rules: replication_groups::DELETE_RULES,
        handler: replication_groups::delete,
    },
    Operation {
        name: "IncreaseReplicaCount",
        params: replication_groups::INCREASE,
        rules: replication_groups::INCREASE_RULES,
        handler: replication_groups::increase,
    },
    Operation {
        name: "DecreaseReplicaCount",
        params: replication_groups::DECREASE,
        rules: replication_groups::DECREASE_RULES,
        handler: replication_groups::decrease,
    },
    Operation {
        name: "TestFailover",
        params: replication_groups::TEST_FAILOVER,
        rules: replication_groups::TEST_FAILOVER_RULES,
        handler: replication_groups::test_failover,
    },
    Operation {
        name: "StartMigration",
        params: migration::START_MIGRATION,
        rules: migration::START_MIGRATION_RULES,
        handler: migration::start_migration,
    },
    Operation {
        name: "TestMigration",
        params: migration::TEST_MIGRATION,
        rules: migration::TEST_MIGRATION_RULES,
        handler: migration::test_migration,
    },
    Operation {
        name: "CompleteMigration",
        params: migration::COMPLETE_MIGRATION,
        rules: migration::COMPLETE_MIGRATION_RULES,
        handler: migration::complete_migration,
    },
    Operation {
        name: "CreateSnapshot",
        params: snapshots::CREATE,
        rules: snapshots::CREATE_RULES,
        handler: snapshots::create,
    },
    Operation {
        name: "DescribeSnapshots",
        params: snapshots::DESCRIBE,
        rules: snapshots::DESCRIBE_RULES,
        handler: snapshots::describe,
    },
    Operation {
        name: "DeleteSnapshot",
        params: snapshots::DELETE,
        rules: snapshots::DELETE_RULES,
        handler: snapshots::delete,
    },
    Operation {
        name: "CopySnapshot",
        params: snapshots::COPY,
        rules: snapshots::COPY_RULES,
        handler: snapshots::copy,
    },
    Operation {
        name: "CreateCacheParameterGroup",
        params: parameter_groups::CREATE,
        rules: parameter_groups::CREATE_RULES,
        handler: parameter_groups::create,
    },
    Operation {
        name: "DescribeCacheParameterGroups",
        params: parameter_groups::DESCRIBE_GROUPS,
        rules: parameter_groups::DESCRIBE_GROUPS_RULES,
        handler: parameter_groups::describe_groups,
    },
    Operation {
        name: "DescribeCacheParameters",
        params: parameter_groups::DESCRIBE_PARAMETERS,
        rules: parameter_groups::DESCRIBE_PARAMETERS_RULES,
        handler: parameter_groups::describe_parameters,
    },
    Operation {
        name: "DescribeEngineDefaultParameters",
        params: parameter_groups::ENGINE_DEFAULTS,
        rules: parameter_groups::ENGINE_DEFAULTS_RULES,
        handler: parameter_groups::engine_defaults,
    },
    Operation {
        name: "ModifyCacheParameterGroup",
        params: parameter_groups::MODIFY,
        rules: parameter_groups::MODIFY_RULES,
        handler: parameter_groups::modify,
    },
    Operation {
        name: "ResetCacheParameterGroup",
        params: parameter_groups::RESET,
        rules: parameter_groups::RESET_RULES,
        handler: parameter_groups::reset,
    },
    Operation {
        name: "DeleteCacheParameterGroup",
        params: parameter_groups::DELETE,
        rules: parameter_groups::DELETE_RULES,
        handler: parameter_groups::delete,
    },
    Operation {
        name: "DescribeServiceUpdates",
        params: service_updates::DESCRIBE_UPDATES,
        rules: service_updates::DESCRIBE_UPDATES_RULES,
        handler: service_updates::describe_updates,
    },
    Operation {
        name: "DescribeUpdateActions",
        params: service_updates::DESCRIBE_ACTIONS,
        rules: service_updates::DESCRIBE_ACTIONS_RULES,
        handler: service_updates::describe_actions,
    },
    Operation {
        name: "BatchApplyUpdateAction",
        params: service_updates::BATCH,
        rules: service_updates::BATCH_RULES,
        handler: service_updates::batch_apply,
    },
    Operation {
        name: "BatchStopUpdateAction",
        params: service_updates::BATCH,
        rules: service_updates::BATCH_RULES,
        handler: service_updates::batch_stop,
    },
    Operation {
        name: "CreateCacheSubnetGroup",
        params: subnet_groups::CREATE,
        rules: subnet_groups::CREATE_RULES,
        handler: subnet_groups::create,
    },
    Operation {
        name: "DescribeCacheSubnetGroups",
        params: subnet_groups::DESCRIBE,
        rules: subnet_groups::DESCRIBE_RULES,
        handler: subnet_groups::describe,
    },
    Operation {
        name: "ModifyCacheSubnetGroup",
        params: subnet_groups::MODIFY,
        rules: subnet_groups::MODIFY_RULES,
        handler: subnet_groups::modify,
    },
    Operation {
        name: "DeleteCacheSubnetGroup",
        params: subnet_groups::DELETE,
        rules: subnet_groups::DELETE_RULES,
        handler: subnet_groups::delete,
    },
    Operation {
        name: "AddTagsToResource",
        params: tags::ADD,
        rules: tags::ADD_RULES,
        handler: tags::add,
    },
    Operation {
        name: "RemoveTagsFromResource",
        params: tags::REMOVE,
        rules: tags::REMOVE_RULES,
        handler: tags::remove,
    },
    Operation {
        name: "ListTagsForResource",
        params: tags::LIST,
        rules: tags::LIST_RULES,
        handler: tags::list,
    },
];

/// Finds an operation by Action name.
pub fn find(action: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == action)
}

/// Validates and runs an action.
pub fn dispatch(controller: &Controller, action: &str, params: &Params) -> Result<String, Fault> {
    let op = find(action).ok_or_else(|| {
        Fault::InvalidAction(format!(
            "The action {action} is not valid for this web service."
        ))
    })?;
    let v = validate(op, params)?;
    (op.handler)(controller, &v)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
