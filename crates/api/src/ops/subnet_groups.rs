//! CreateCacheSubnetGroup, DescribeCacheSubnetGroups, ModifyCacheSubnetGroup,
//! DeleteCacheSubnetGroup.

use larder_controller::Controller;
use larder_model::subnet_group::SUBNET_GROUP_NAME_MAX;
use larder_model::{CacheSubnetGroup, Fault};

use super::{p, req, Kind::*, Param, Rule, Validated, MAX_RECORDS};
use crate::xml::Xml;

/// The list member that carries the subnet ids.
const SUBNET_IDS: (&str, &str) = ("SubnetIds", "SubnetIdentifier");

/// Longest CacheSubnetGroupDescription kept: every group is stored and listed.
const DESCRIPTION_MAX: usize = 255;

pub const CREATE: &[Param] = &[
    req("CacheSubnetGroupName", Identifier(SUBNET_GROUP_NAME_MAX)),
    req("CacheSubnetGroupDescription", Str),
    req("SubnetIds", List),
    p("Tags", Tags),
];

pub const DESCRIBE: &[Param] = &[
    p("CacheSubnetGroupName", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const MODIFY: &[Param] = &[
    req("CacheSubnetGroupName", Str),
    p("CacheSubnetGroupDescription", Str),
    p("SubnetIds", List),
];

pub const DELETE: &[Param] = &[req("CacheSubnetGroupName", Str)];

pub const CREATE_RULES: &[Rule] = &[short_description, some_subnets];
pub const DESCRIBE_RULES: &[Rule] = &[];
pub const MODIFY_RULES: &[Rule] = &[short_description, some_subnets];
pub const DELETE_RULES: &[Rule] = &[];

fn short_description(v: &Validated) -> Result<(), Fault> {
    let d = v.string("CacheSubnetGroupDescription").unwrap_or_default();
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(Fault::InvalidParameterValue(format!(
            "CacheSubnetGroupDescription must be at most {DESCRIPTION_MAX} characters."
        )));
    }
    Ok(())
}

/// SubnetIds, when given, must hold at least one id.
fn some_subnets(v: &Validated) -> Result<(), Fault> {
    if v.given(SUBNET_IDS.0) && subnet_ids(v).is_empty() {
        return Err(Fault::missing("SubnetIds.SubnetIdentifier.1"));
    }
    Ok(())
}

fn subnet_ids(v: &Validated) -> Vec<String> {
    v.list(SUBNET_IDS.0, SUBNET_IDS.1)
}

/// The CacheSubnetGroup shape.
fn group(x: &mut Xml, ctl: &Controller, g: &CacheSubnetGroup) {
    x.open("CacheSubnetGroup");
    x.leaf("CacheSubnetGroupName", &g.name);
    x.leaf("CacheSubnetGroupDescription", &g.description);
    x.leaf("VpcId", ctl.vpc_id());
    x.open("Subnets");
    for s in &g.subnets {
        x.open("Subnet");
        x.leaf("SubnetIdentifier", &s.id);
        x.open("SubnetAvailabilityZone");
        x.leaf("Name", &s.zone);
        x.close("SubnetAvailabilityZone");
        x.open("SupportedNetworkTypes");
        x.leaf("member", "ipv4");
        x.close("SupportedNetworkTypes");
        x.close("Subnet");
    }
    x.close("Subnets");
    x.leaf("ARN", ctl.settings().arn("subnetgroup", &g.name));
    x.open("SupportedNetworkTypes");
    x.leaf("member", "ipv4");
    x.close("SupportedNetworkTypes");
    x.close("CacheSubnetGroup");
}

fn one(ctl: &Controller, g: &CacheSubnetGroup) -> String {
    let mut x = Xml::default();
    group(&mut x, ctl, g);
    x.finish()
}

pub fn create(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.create_cache_subnet_group(
        &v.required_id("CacheSubnetGroupName"),
        &v.required("CacheSubnetGroupDescription"),
        &subnet_ids(v),
        v.tags("Tags"),
    )?;
    Ok(one(ctl, &g))
}

pub fn describe(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let name = v
        .string("CacheSubnetGroupName")
        .map(|n| n.to_ascii_lowercase());
    let page = ctl.describe_cache_subnet_groups(
        name.as_deref(),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("CacheSubnetGroups");
    for g in &page.items {
        group(&mut x, ctl, g);
    }
    x.close("CacheSubnetGroups");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let ids = subnet_ids(v);
    let g = ctl.modify_cache_subnet_group(
        &v.required("CacheSubnetGroupName").to_ascii_lowercase(),
        v.string("CacheSubnetGroupDescription").as_deref(),
        (!ids.is_empty()).then_some(ids.as_slice()),
    )?;
    Ok(one(ctl, &g))
}

pub fn delete(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    ctl.delete_cache_subnet_group(&v.required("CacheSubnetGroupName").to_ascii_lowercase())?;
    Ok(String::new())
}
