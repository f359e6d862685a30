//! StartMigration, TestMigration, CompleteMigration.

use larder_controller::Controller;
use larder_model::Fault;

use super::replication_groups::one;
use super::{p, req, Kind::*, Param, Rule, Validated};

pub const START_MIGRATION: &[Param] = &[
    req("ReplicationGroupId", Str),
    req("CustomerNodeEndpointList", List),
    p("ServerlessCacheName", Unsupported),
    p("AutoCutover", Unsupported),
    p("ClearTargetCacheData", Unsupported),
];
pub const TEST_MIGRATION: &[Param] = &[
    req("ReplicationGroupId", Str),
    req("CustomerNodeEndpointList", List),
];
pub const COMPLETE_MIGRATION: &[Param] = &[
    req("ReplicationGroupId", Str),
    p("ServerlessCacheName", Unsupported),
    p("Force", Bool),
];

pub const START_MIGRATION_RULES: &[Rule] = &[endpoints_parse];
pub const TEST_MIGRATION_RULES: &[Rule] = &[endpoints_parse];
pub const COMPLETE_MIGRATION_RULES: &[Rule] = &[];

fn endpoints_parse(v: &Validated) -> Result<(), Fault> {
    customer_endpoints(v).map(drop)
}

/// `CustomerNodeEndpointList.member.N.Address` / `.Port`.
fn customer_endpoints(v: &Validated) -> Result<Vec<(String, Option<i64>)>, Fault> {
    let params = v.params();
    let mut out = Vec::new();
    for i in 1.. {
        let base = format!("CustomerNodeEndpointList.member.{i}");
        let address = params.string(&format!("{base}.Address"));
        let port = params.int(&format!("{base}.Port"))?;
        if address.is_none() && port.is_none() {
            break;
        }
        out.push((address.unwrap_or_default(), port));
    }
    Ok(out)
}

pub fn start_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.start_migration(
        &v.required_id("ReplicationGroupId"),
        &customer_endpoints(v).unwrap_or_default(),
    )?;
    Ok(one(ctl, &g))
}

pub fn test_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.test_migration(
        &v.required_id("ReplicationGroupId"),
        &customer_endpoints(v).unwrap_or_default(),
    )?;
    Ok(one(ctl, &g))
}

pub fn complete_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.complete_migration(&v.required_id("ReplicationGroupId"), v.flag("Force"))?;
    Ok(one(ctl, &g))
}
