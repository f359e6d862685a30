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
    customer_endpoint(v).map(drop)
}

/// The one source endpoint a migration takes, from
/// `CustomerNodeEndpointList.member.N.Address` / `.Port` (the port defaults to 6379).
fn customer_endpoint(v: &Validated) -> Result<(String, u16), Fault> {
    let params = v.params();
    let mut endpoints = Vec::new();
    for i in 1.. {
        let base = format!("CustomerNodeEndpointList.member.{i}");
        let address = params.string(&format!("{base}.Address"));
        let port = params.int(&format!("{base}.Port"))?;
        if address.is_none() && port.is_none() {
            break;
        }
        endpoints.push((address.unwrap_or_default(), port.unwrap_or(6379)));
    }
    match endpoints.as_slice() {
        [(address, port)] => {
            if address.is_empty() || !(1..=65535).contains(port) {
                return Err(Fault::InvalidParameterValue(
                    "CustomerNodeEndpointList needs an Address and a Port.".into(),
                ));
            }
            Ok((address.clone(), *port as u16))
        }
        [] => Err(Fault::missing("CustomerNodeEndpointList")),
        _ => Err(Fault::InvalidParameterValue(
            "CustomerNodeEndpointList takes exactly one endpoint.".into(),
        )),
    }
}

pub fn start_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    // Already accepted by the operation's rule, so this cannot fail here.
    let (address, port) = customer_endpoint(v)?;
    let g = ctl.start_migration(&v.required_id("ReplicationGroupId"), (&address, port))?;
    one(ctl, &g)
}

pub fn test_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    // Already accepted by the operation's rule, so this cannot fail here.
    let (address, port) = customer_endpoint(v)?;
    let g = ctl.test_migration(&v.required_id("ReplicationGroupId"), (&address, port))?;
    one(ctl, &g)
}

pub fn complete_migration(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.complete_migration(&v.required_id("ReplicationGroupId"), v.flag("Force"))?;
    one(ctl, &g)
}
