//! StartMigration, TestMigration, CompleteMigration.

use larder_controller::Controller;
use larder_model::Fault;

use super::replication_groups::one;
use super::{p, req, Kind::*, Param};
use crate::params::Params;

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

/// `CustomerNodeEndpointList.member.N.Address` / `.Port`.
fn customer_endpoints(params: &Params) -> Result<Vec<(String, Option<i64>)>, Fault> {
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

pub fn start_migration(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let g = ctl.start_migration(
        &params.required("ReplicationGroupId")?,
        &customer_endpoints(params)?,
    )?;
    Ok(one(ctl, &g))
}

pub fn test_migration(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let g = ctl.test_migration(
        &params.required("ReplicationGroupId")?,
        &customer_endpoints(params)?,
    )?;
    Ok(one(ctl, &g))
}

pub fn complete_migration(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let g = ctl.complete_migration(
        &params.required("ReplicationGroupId")?,
        params.bool("Force")?.unwrap_or(false),
    )?;
    Ok(one(ctl, &g))
}
