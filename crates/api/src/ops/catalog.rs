//! DescribeCacheEngineVersions and ListAllowedNodeTypeModifications.

use larder_controller::Controller;
use larder_model::Fault;

use super::{p, Kind::*, Param, Rule, Validated, MAX_RECORDS};
use crate::xml::Xml;

pub const ENGINE_VERSIONS: &[Param] = &[
    p("Engine", Str),
    p("EngineVersion", Str),
    p("CacheParameterGroupFamily", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
    p("DefaultOnly", Bool),
];

pub const ENGINE_VERSIONS_RULES: &[Rule] = &[];

pub const NODE_TYPE_MODIFICATIONS: &[Param] =
    &[p("CacheClusterId", Str), p("ReplicationGroupId", Str)];
/// The request names one resource, a cluster or a group.
pub const NODE_TYPE_MODIFICATIONS_RULES: &[Rule] = &[exactly_one_resource];

fn exactly_one_resource(v: &Validated) -> Result<(), Fault> {
    if v.given("CacheClusterId") == v.given("ReplicationGroupId") {
        return Err(Fault::InvalidParameterCombination(
            "Exactly one of CacheClusterId and ReplicationGroupId must be given.".into(),
        ));
    }
    Ok(())
}

pub fn engine_versions(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let found = ctl.describe_cache_engine_versions(
        v.string("Engine").as_deref(),
        v.string("EngineVersion").as_deref(),
        v.string("CacheParameterGroupFamily").as_deref(),
    );
    let (page, marker) = larder_controller::service::paginate(
        found,
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.open("CacheEngineVersions");
    for v in &page {
        x.open("CacheEngineVersion")
            .leaf("Engine", v.engine.as_str())
            .leaf("EngineVersion", &v.version)
            .leaf("CacheParameterGroupFamily", &v.family)
            .leaf("CacheEngineDescription", v.engine_description())
            .leaf(
                "CacheEngineVersionDescription",
                format!(
                    "{} {} (installed on this host)",
                    v.engine_description(),
                    v.version
                ),
            )
            .close("CacheEngineVersion");
    }
    x.close("CacheEngineVersions");
    Ok(x.finish())
}

pub fn node_type_modifications(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let (up, down) = ctl.list_allowed_node_type_modifications(
        v.string("CacheClusterId").as_deref(),
        v.string("ReplicationGroupId").as_deref(),
    )?;
    let mut x = Xml::default();
    x.list("ScaleUpModifications", "member", &up);
    x.list("ScaleDownModifications", "member", &down);
    Ok(x.finish())
}
