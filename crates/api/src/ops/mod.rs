//! The operation table: every supported Action with its parameters described as data,
//! checked in one place before the handler runs.

mod cache_clusters;
mod catalog;
mod events;
mod migration;
mod render;
mod replication_groups;
mod tags;
mod unknown;

use larder_controller::Controller;
use larder_model::Fault;

use crate::params::Params;

/// What a parameter holds, for the shared checks.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Free text.
    Str,
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// ISO 8601.
    Time,
    /// A flattened list or structure list; checked by the handler.
    List,
    /// Accepted by the service but not by Larder yet: refused clearly whenever given.
    Unsupported,
    /// Not implemented by Larder yet, so accepted only with the value that asks for
    /// nothing (`false`, `0`, `ipv4`, …); any other value is refused, never echoed.
    Inert(Inert),
    /// The name of something Larder has only a fixed set of (for now); any other name
    /// answers the resource's NotFound fault.
    Existing(&'static [&'static str], fn(String) -> Fault),
}

/// The one value of a not-yet-implemented parameter that Larder can honour: the one
/// that changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inert {
    /// A boolean that may only be `false`.
    False,
    /// An integer that may only be `0`.
    Zero,
    /// A string that may only be this (compared case-insensitively).
    Only(&'static str),
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Wire name.
    pub name: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Whether the service requires it.
    pub required: bool,
}

const fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
    }
}

/// Runs one action and returns the XML of its `<Result>` element.
pub type Handler = fn(&Controller, &Params) -> Result<String, Fault>;

/// An Action Larder serves.
pub struct Operation {
    /// The Action name.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
    /// What carries it out.
    pub handler: Handler,
}

use Kind::*;

/// The cache subnet groups that exist until subnet groups are implemented: `default`,
/// the host network every node runs in (the service's default subnet group).
pub const SUBNET_GROUPS: &[&str] = &["default"];

/// Every supported operation.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        name: "CreateCacheCluster",
        params: cache_clusters::CREATE,
        handler: cache_clusters::create,
    },
    Operation {
        name: "DescribeCacheClusters",
        params: cache_clusters::DESCRIBE,
        handler: cache_clusters::describe,
    },
    Operation {
        name: "ModifyCacheCluster",
        params: cache_clusters::MODIFY,
        handler: cache_clusters::modify,
    },
    Operation {
        name: "DeleteCacheCluster",
        params: cache_clusters::DELETE,
        handler: cache_clusters::delete,
    },
    Operation {
        name: "RebootCacheCluster",
        params: cache_clusters::REBOOT,
        handler: cache_clusters::reboot,
    },
    Operation {
        name: "DescribeCacheEngineVersions",
        params: catalog::ENGINE_VERSIONS,
        handler: catalog::engine_versions,
    },
    Operation {
        name: "ListAllowedNodeTypeModifications",
        params: catalog::NODE_TYPE_MODIFICATIONS,
        handler: catalog::node_type_modifications,
    },
    Operation {
        name: "DescribeEvents",
        params: events::DESCRIBE,
        handler: events::describe,
    },
    Operation {
        name: "CreateReplicationGroup",
        params: replication_groups::CREATE,
        handler: replication_groups::create,
    },
    Operation {
        name: "DescribeReplicationGroups",
        params: replication_groups::DESCRIBE,
        handler: replication_groups::describe,
    },
    Operation {
        name: "ModifyReplicationGroup",
        params: replication_groups::MODIFY,
        handler: replication_groups::modify,
    },
    Operation {
        name: "DeleteReplicationGroup",
        params: replication_groups::DELETE,
        handler: replication_groups::delete,
    },
    Operation {
        name: "IncreaseReplicaCount",
        params: replication_groups::INCREASE,
        handler: replication_groups::increase,
    },
    Operation {
        name: "DecreaseReplicaCount",
        params: replication_groups::DECREASE,
        handler: replication_groups::decrease,
    },
    Operation {
        name: "TestFailover",
        params: replication_groups::TEST_FAILOVER,
        handler: replication_groups::test_failover,
    },
    Operation {
        name: "StartMigration",
        params: migration::START_MIGRATION,
        handler: migration::start_migration,
    },
    Operation {
        name: "TestMigration",
        params: migration::TEST_MIGRATION,
        handler: migration::test_migration,
    },
    Operation {
        name: "CompleteMigration",
        params: migration::COMPLETE_MIGRATION,
        handler: migration::complete_migration,
    },
    Operation {
        name: "AddTagsToResource",
        params: tags::ADD,
        handler: tags::add,
    },
    Operation {
        name: "RemoveTagsFromResource",
        params: tags::REMOVE,
        handler: tags::remove,
    },
    Operation {
        name: "ListTagsForResource",
        params: tags::LIST,
        handler: tags::list,
    },
];

/// Finds an operation by Action name.
pub fn find(action: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == action)
}

/// The shared checks: required parameters present, typed values well formed,
/// unsupported parameters refused.
pub fn validate(op: &Operation, params: &Params) -> Result<(), Fault> {
    for spec in op.params {
        let present = params.has(spec.name) && params.get(spec.name) != Some("");
        if spec.required && !present {
            return Err(Fault::missing(spec.name));
        }
        if !present {
            continue;
        }
        match spec.kind {
            Int => drop(params.int(spec.name)?),
            Bool => drop(params.bool(spec.name)?),
            Time => drop(params.timestamp(spec.name)?),
            Unsupported => return Err(not_supported(spec.name)),
            Inert(allowed) => check_inert(params, spec.name, allowed)?,
            Existing(names, not_found) => {
                let name = params.get(spec.name).unwrap_or_default();
                if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    return Err(not_found(name.to_string()));
                }
            }
            Str | List => {}
        }
    }
    unknown::log_once(op.name, params, op.params);
    Ok(())
}

fn not_supported(name: &str) -> Fault {
    Fault::InvalidParameterCombination(format!(
        "The parameter {name} is not supported by Larder yet."
    ))
}

/// Refuses a not-yet-implemented parameter unless it holds its do-nothing value.
fn check_inert(params: &Params, name: &str, allowed: Inert) -> Result<(), Fault> {
    let harmless = match allowed {
        Inert::False => params.bool(name)? == Some(false),
        Inert::Zero => params.int(name)? == Some(0),
        Inert::Only(v) => params
            .get(name)
            .is_some_and(|got| got.eq_ignore_ascii_case(v)),
    };
    if harmless {
        return Ok(());
    }
    let value = params.get(name).unwrap_or_default();
    Err(Fault::InvalidParameterCombination(format!(
        "{name}={value} is not supported by Larder yet{}.",
        match allowed {
            Inert::False => String::from("; only false"),
            Inert::Zero => String::from("; only 0"),
            Inert::Only(v) => format!("; only {v}"),
        }
    )))
}

/// Validates and runs an action.
pub fn dispatch(controller: &Controller, action: &str, params: &Params) -> Result<String, Fault> {
    let op = find(action).ok_or_else(|| {
        Fault::InvalidAction(format!(
            "The action {action} is not valid for this web service."
        ))
    })?;
    validate(op, params)?;
    (op.handler)(controller, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_each_kind() {
        let op = find("CreateCacheCluster").unwrap();
        let missing = validate(op, &Params::parse(b"Engine=redis"));
        assert_eq!(missing, Err(Fault::missing("CacheClusterId")));
        let bad_int = validate(op, &Params::parse(b"CacheClusterId=a&NumCacheNodes=x"));
        assert!(matches!(bad_int, Err(Fault::InvalidParameterValue(_))));
        let unsupported = validate(op, &Params::parse(b"CacheClusterId=a&SnapshotName=s"));
        assert!(matches!(
            unsupported,
            Err(Fault::InvalidParameterCombination(_))
        ));
        assert!(validate(op, &Params::parse(b"CacheClusterId=a&NumCacheNodes=2")).is_ok());
    }

    #[test]
    fn not_yet_implemented_settings_pass_only_their_do_nothing_value() {
        let op = find("CreateReplicationGroup").unwrap();
        let check = |body: &str| validate(op, &Params::parse(body.as_bytes()));
        let base = "ReplicationGroupId=g&ReplicationGroupDescription=d";
        for ok in [
            "SnapshotRetentionLimit=0",
            "TransitEncryptionEnabled=false",
            "NetworkType=IPV4",
            "ClusterMode=disabled",
            "CacheSubnetGroupName=default",
        ] {
            assert_eq!(check(&format!("{base}&{ok}")), Ok(()), "{ok}");
        }
        for (refused, name) in [
            ("SnapshotRetentionLimit=1", "SnapshotRetentionLimit"),
            ("TransitEncryptionEnabled=true", "TransitEncryptionEnabled"),
            ("NetworkType=dual_stack", "NetworkType"),
            ("ClusterMode=compatible", "ClusterMode"),
            ("SnapshotWindow=05:00-06:00", "SnapshotWindow"),
            (
                "SecurityGroupIds.SecurityGroupId.1=sg-1",
                "SecurityGroupIds",
            ),
        ] {
            match check(&format!("{base}&{refused}")) {
                Err(Fault::InvalidParameterCombination(m)) => assert!(m.contains(name), "{m}"),
                other => panic!("{refused}: {other:?}"),
            }
        }
        assert!(matches!(
            check(&format!("{base}&SnapshotRetentionLimit=x")),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert_eq!(
            check(&format!("{base}&CacheSubnetGroupName=mine")),
            Err(Fault::CacheSubnetGroupNotFound("mine".into()))
        );
    }

    #[test]
    fn every_operation_is_unique() {
        for (i, a) in OPERATIONS.iter().enumerate() {
            assert!(
                OPERATIONS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }
}
