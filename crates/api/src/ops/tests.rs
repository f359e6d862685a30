//! The operation tables and their checks: one test per rule kind.

use super::*;

fn check(action: &str, body: &str) -> Result<(), Fault> {
    validate(find(action).unwrap(), &Params::parse(body.as_bytes())).map(drop)
}

/// The request's error, which must be InvalidParameterValue naming `name`.
fn assert_invalid_value(got: Result<(), Fault>, name: &str) {
    match got {
        Err(Fault::InvalidParameterValue(m)) => assert!(m.contains(name), "{m}"),
        other => panic!("{name}: {other:?}"),
    }
}

fn assert_combination(got: Result<(), Fault>) {
    assert!(
        matches!(got, Err(Fault::InvalidParameterCombination(_))),
        "{got:?}"
    );
}

const MC: &str = "CacheClusterId=a&Engine=memcached&CacheNodeType=cache.t4g.micro";
const RG: &str = "ReplicationGroupId=g&ReplicationGroupDescription=d&CacheNodeType=cache.t4g.micro";

#[test]
fn required_parameters_come_first() {
    assert_eq!(
        check("CreateCacheCluster", "Engine=redis&NumCacheNodes=x"),
        Err(Fault::missing("CacheClusterId"))
    );
    assert_eq!(
        check(
            "CreateCacheCluster",
            "CacheClusterId=a&CacheNodeType=cache.t4g.micro"
        ),
        Err(Fault::missing("Engine"))
    );
    assert_eq!(check("CreateCacheCluster", MC), Ok(()));
}

#[test]
fn int_and_bool_and_time_must_parse() {
    assert_invalid_value(
        check("CreateCacheCluster", &format!("{MC}&NumCacheNodes=x")),
        "NumCacheNodes",
    );
    assert_invalid_value(
        check(
            "CreateCacheCluster",
            &format!("{MC}&AutoMinorVersionUpgrade=yes"),
        ),
        "AutoMinorVersionUpgrade",
    );
    assert_invalid_value(check("DescribeEvents", "StartTime=yesterday"), "StartTime");
}

#[test]
fn ranges_refuse_both_ends() {
    for (action, base, name, bad, good) in [
        (
            "DescribeCacheClusters",
            "",
            "MaxRecords",
            ["19", "101"],
            ["20", "100"],
        ),
        (
            "CreateCacheCluster",
            MC,
            "Port",
            ["0", "65536"],
            ["1", "65535"],
        ),
        (
            "CreateCacheCluster",
            MC,
            "NumCacheNodes",
            ["0", "-1"],
            ["1", "40"],
        ),
        (
            "CreateReplicationGroup",
            RG,
            "NumCacheClusters",
            ["0", "7"],
            ["1", "6"],
        ),
        (
            "CreateReplicationGroup",
            RG,
            "ReplicasPerNodeGroup",
            ["-1", "6"],
            ["0", "5"],
        ),
        (
            "DescribeEvents",
            "",
            "Duration",
            ["-1", "20161"],
            ["0", "20160"],
        ),
    ] {
        for b in bad {
            assert_invalid_value(check(action, &format!("{base}&{name}={b}")), name);
        }
        for g in good {
            assert_eq!(
                check(action, &format!("{base}&{name}={g}")),
                Ok(()),
                "{name}={g}"
            );
        }
    }
}

#[test]
fn enumerations_accept_only_their_names() {
    assert_invalid_value(
        check("CreateCacheCluster", &format!("{MC}&AZMode=sideways")),
        "AZMode",
    );
    assert_eq!(
        check("CreateCacheCluster", &format!("{MC}&AZMode=cross-az")),
        Ok(())
    );
    let mongo = MC.replace("memcached", "mongodb");
    assert_invalid_value(check("CreateCacheCluster", &mongo), "Engine");
    assert_invalid_value(
        check("CreateReplicationGroup", &format!("{RG}&Engine=memcached")),
        "Engine",
    );
    assert_invalid_value(check("DescribeEvents", "SourceType=cluster"), "SourceType");
    let v_ok = find("DescribeEvents").unwrap();
    let params = Params::parse(b"SourceType=CACHE-CLUSTER");
    let v = validate(v_ok, &params).unwrap();
    assert_eq!(v.choice("SourceType"), Some("cache-cluster"));
}

#[test]
fn identifiers_follow_the_service_rules() {
    let create = |id: &str| {
        check(
            "CreateCacheCluster",
            &format!("CacheClusterId={id}&Engine=redis&CacheNodeType=cache.t4g.micro"),
        )
    };
    for bad in ["1abc", "ab_c", "a--b", "abc-", &"a".repeat(51)] {
        assert_invalid_value(create(bad), "CacheClusterId");
    }
    assert_eq!(create(&"a".repeat(50)), Ok(()));
    let group = |id: &str| {
        check(
            "CreateReplicationGroup",
            &format!("ReplicationGroupId={id}&ReplicationGroupDescription=d&CacheNodeType=cache.t4g.micro"),
        )
    };
    assert_invalid_value(group(&"g".repeat(41)), "ReplicationGroupId");
    assert_eq!(group(&"g".repeat(40)), Ok(()));
}

#[test]
fn windows_and_node_types_are_checked() {
    for bad in ["sun:05:00", "sun:05:00-sun:05:30", "xyz:05:00-xyz:06:00"] {
        assert_invalid_value(
            check(
                "ModifyCacheCluster",
                &format!("CacheClusterId=a&PreferredMaintenanceWindow={bad}"),
            ),
            "PreferredMaintenanceWindow",
        );
    }
    assert_eq!(
        check(
            "ModifyCacheCluster",
            "CacheClusterId=a&PreferredMaintenanceWindow=sun:05:00-sun:06:00"
        ),
        Ok(())
    );
    assert!(matches!(
        check("ModifyReplicationGroup", "ReplicationGroupId=g&CacheNodeType=cache.z9.huge"),
        Err(Fault::InvalidParameterValue(m)) if m.contains("cache.z9.huge")
    ));
}

#[test]
fn combinations_are_rules_of_the_operation() {
    let r = MC.replace("memcached", "redis");
    assert_invalid_value(
        check("CreateCacheCluster", &format!("{r}&NumCacheNodes=2")),
        "NumCacheNodes",
    );
    assert!(matches!(
        check("CreateCacheCluster", &format!("{MC}&NumCacheNodes=41")),
        Err(Fault::NodeQuotaForClusterExceeded(_))
    ));
    assert_combination(check("CreateCacheCluster", &format!("{r}&AZMode=cross-az")));
    assert_combination(check(
        "CreateCacheCluster",
        &format!("{MC}&ReplicationGroupId=g"),
    ));
    assert_combination(check(
        "CreateReplicationGroup",
        &format!("{RG}&AutomaticFailoverEnabled=true&NumCacheClusters=1"),
    ));
    assert_eq!(
        check(
            "CreateReplicationGroup",
            &format!("{RG}&AutomaticFailoverEnabled=true&NumCacheClusters=2")
        ),
        Ok(())
    );
    assert_combination(check(
        "CreateReplicationGroup",
        &format!("{RG}&MultiAZEnabled=true"),
    ));
    assert_combination(check(
        "CreateReplicationGroup",
        &format!("{RG}&NumCacheClusters=3&ReplicasPerNodeGroup=1"),
    ));
    assert_combination(check(
        "CreateReplicationGroup",
        &format!("{RG}&NumNodeGroups=2"),
    ));
    assert_combination(check(
        "ModifyCacheCluster",
        "CacheClusterId=a&CacheNodeIdsToRemove.CacheNodeId.1=0002",
    ));
    assert_combination(check("ModifyCacheCluster", "CacheClusterId=a&Engine=redis"));
    assert_combination(check("ListAllowedNodeTypeModifications", ""));
    assert_eq!(
        check(
            "RebootCacheCluster",
            "CacheClusterId=a&CacheNodeIdsToReboot.CacheNodeId.x=1"
        ),
        Err(Fault::missing("CacheNodeIdsToReboot"))
    );
    assert_combination(check("DescribeEvents", "SourceIdentifier=a"));
    assert_eq!(
        check(
            "CreateReplicationGroup",
            "ReplicationGroupId=g&ReplicationGroupDescription=d"
        ),
        Err(Fault::missing("CacheNodeType"))
    );
    assert_eq!(
        check(
            "IncreaseReplicaCount",
            "ReplicationGroupId=g&ApplyImmediately=true"
        ),
        Err(Fault::missing("NewReplicaCount"))
    );
    assert_invalid_value(
        check(
            "IncreaseReplicaCount",
            "ReplicationGroupId=g&ApplyImmediately=true&ReplicaConfiguration.ConfigureShard.1.NewReplicaCount=x",
        ),
        "NewReplicaCount",
    );
    assert!(matches!(
        check(
            "IncreaseReplicaCount",
            "ReplicationGroupId=g&ApplyImmediately=true&NewReplicaCount=6"
        ),
        Err(Fault::InvalidParameterValue(_))
    ));
}

#[test]
fn not_yet_implemented_settings_pass_only_their_do_nothing_value() {
    let base = "ReplicationGroupId=g&ReplicationGroupDescription=d&CacheNodeType=cache.t4g.micro";
    for ok in [
        "SnapshotRetentionLimit=0",
        "TransitEncryptionEnabled=false",
        "NetworkType=IPV4",
        "ClusterMode=disabled",
        "CacheSubnetGroupName=default",
    ] {
        assert_eq!(
            check("CreateReplicationGroup", &format!("{base}&{ok}")),
            Ok(()),
            "{ok}"
        );
    }
    for (refused, name) in [
        ("TransitEncryptionEnabled=true", "TransitEncryptionEnabled"),
        ("NetworkType=dual_stack", "NetworkType"),
        ("ClusterMode=compatible", "ClusterMode"),
        (
            "SecurityGroupIds.SecurityGroupId.1=sg-1",
            "SecurityGroupIds",
        ),
        (
            "SnapshotName=x&SnapshotArns.SnapshotArn.1=arn:aws:s3:::bucket/key.rdb",
            "SnapshotArns",
        ),
    ] {
        match check("CreateReplicationGroup", &format!("{base}&{refused}")) {
            Err(Fault::InvalidParameterCombination(m)) => assert!(m.contains(name), "{m}"),
            other => panic!("{refused}: {other:?}"),
        }
    }
    assert!(matches!(
        check(
            "CreateReplicationGroup",
            &format!("{base}&SnapshotRetentionLimit=x")
        ),
        Err(Fault::InvalidParameterValue(_))
    ));
}

/// SnapshotRetentionLimit 0–35 and SnapshotWindow `hh24:mi-hh24:mi` of an hour or
/// more, on every create and modify; memcached refuses both at create.
#[test]
fn backup_settings_have_the_services_limits() {
    let group = "ReplicationGroupId=g&ReplicationGroupDescription=d&CacheNodeType=cache.t4g.micro";
    let redis = "CacheClusterId=c&CacheNodeType=cache.t4g.micro&Engine=redis";
    let memcached = "CacheClusterId=c&CacheNodeType=cache.t4g.micro&Engine=memcached";
    for (op, base) in [
        ("CreateReplicationGroup", group),
        ("ModifyReplicationGroup", "ReplicationGroupId=g"),
        ("CreateCacheCluster", redis),
        ("ModifyCacheCluster", "CacheClusterId=c"),
    ] {
        for ok in [
            "SnapshotRetentionLimit=0",
            "SnapshotRetentionLimit=35",
            "SnapshotWindow=05:00-06:00",
            "SnapshotWindow=23:30-00:30&SnapshotRetentionLimit=1",
        ] {
            assert_eq!(check(op, &format!("{base}&{ok}")), Ok(()), "{op} {ok}");
        }
        assert_invalid_value(
            check(op, &format!("{base}&SnapshotRetentionLimit=36")),
            "SnapshotRetentionLimit",
        );
        assert_invalid_value(
            check(op, &format!("{base}&SnapshotWindow=05:00-05:59")),
            "at least 60 minutes",
        );
        assert_invalid_value(
            check(op, &format!("{base}&SnapshotWindow=sun:05:00-sun:06:00")),
            "SnapshotWindow",
        );
    }
    assert_eq!(
        check(
            "CreateCacheCluster",
            &format!("{memcached}&SnapshotRetentionLimit=0")
        ),
        Ok(())
    );
    for refused in ["SnapshotRetentionLimit=1", "SnapshotWindow=05:00-06:00"] {
        let name = refused.split('=').next().unwrap_or_default();
        match check("CreateCacheCluster", &format!("{memcached}&{refused}")) {
            Err(Fault::InvalidParameterCombination(m)) => assert!(m.contains(name), "{m}"),
            other => panic!("memcached {refused}: {other:?}"),
        }
    }
}

#[test]
fn tags_must_be_well_formed() {
    let add = |tags: &str| {
        check(
            "AddTagsToResource",
            &format!("ResourceName=arn:aws:elasticache:us-east-1:0:cluster:a&{tags}"),
        )
    };
    assert_eq!(add("Tags.Tag.1.Key=team&Tags.Tag.1.Value=cache"), Ok(()));
    assert_invalid_value(add("Tags.Tag.1.Key=aws:owner"), "aws:");
    assert_invalid_value(
        add(&format!("Tags.Tag.1.Key={}", "k".repeat(129))),
        "Tag key",
    );
    assert_eq!(add("Tags.Tag.1.Value=orphan"), Err(Fault::missing("Tags")));
    assert_invalid_value(
        check("CreateCacheCluster", &format!("{MC}&Tags.Tag.1.Key=aws:x")),
        "aws:",
    );
}

#[test]
fn snapshot_arns_name_one_object_and_not_with_a_snapshot_name() {
    let base = "CacheClusterId=r&Engine=redis&CacheNodeType=cache.t4g.micro";
    let arn = "SnapshotArns.SnapshotArn.1=arn:aws:s3:::seeds/seed-0001.rdb";
    assert_eq!(
        check("CreateCacheCluster", &format!("{base}&{arn}")),
        Ok(())
    );
    for (bad, want_value) in [
        ("SnapshotArns.SnapshotArn.1=seeds/seed.rdb", true),
        ("SnapshotArns.SnapshotArn.1=arn:aws:s3:::seeds", true),
        (
            "SnapshotArns.SnapshotArn.1=arn:aws:s3:::a1/x.rdb&SnapshotArns.SnapshotArn.2=arn:aws:s3:::a1/y.rdb",
            true,
        ),
        (&format!("{arn}&SnapshotName=snap") as &str, false),
    ] {
        match check("CreateCacheCluster", &format!("{base}&{bad}")) {
            Err(Fault::InvalidParameterValue(_)) if want_value => {}
            Err(Fault::InvalidParameterCombination(m)) if !want_value => {
                assert!(m.contains("SnapshotArns"), "{m}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let mc = format!("CacheClusterId=m&Engine=memcached&CacheNodeType=cache.t4g.micro&{arn}");
    assert!(matches!(
        check("CreateCacheCluster", &mc),
        Err(Fault::InvalidParameterCombination(_))
    ));
}

#[test]
fn copy_snapshot_checks_names_and_the_bucket() {
    let base = "SourceSnapshotName=src&TargetSnapshotName=copy";
    assert_eq!(check("CopySnapshot", base), Ok(()));
    assert_eq!(
        check("CopySnapshot", &format!("{base}&TargetBucket=my-bucket")),
        Ok(())
    );
    for bad in [
        "SourceSnapshotName=src",
        "TargetSnapshotName=copy",
        "SourceSnapshotName=src&TargetSnapshotName=bad--name",
        "SourceSnapshotName=src&TargetSnapshotName=copy&TargetBucket=Bad_Bucket",
    ] {
        assert!(
            matches!(
                check("CopySnapshot", bad),
                Err(Fault::InvalidParameterValue(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        check("CopySnapshot", &format!("{base}&KmsKeyId=k")),
        Err(Fault::InvalidParameterCombination(_))
    ));
}
