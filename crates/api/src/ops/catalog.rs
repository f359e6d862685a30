//! DescribeCacheEngineVersions and ListAllowedNodeTypeModifications.

use larder_controller::Controller;
use larder_model::Fault;

use super::{p, Kind::*, Param};
use crate::params::Params;
use crate::xml::Xml;

pub const ENGINE_VERSIONS: &[Param] = &[
    p("Engine", Str),
    p("EngineVersion", Str),
    p("CacheParameterGroupFamily", Str),
    p("MaxRecords", Int),
    p("Marker", Str),
    p("DefaultOnly", Bool),
];

pub const NODE_TYPE_MODIFICATIONS: &[Param] =
    &[p("CacheClusterId", Str), p("ReplicationGroupId", Str)];

pub fn engine_versions(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let found = ctl.describe_cache_engine_versions(
        params.string("Engine").as_deref(),
        params.string("EngineVersion").as_deref(),
        params.string("CacheParameterGroupFamily").as_deref(),
    );
    let (page, marker) = larder_controller::service::paginate(
        found,
        params.int("MaxRecords")?,
        params.string("Marker").as_deref(),
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

pub fn node_type_modifications(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let (up, down) = ctl.list_allowed_node_type_modifications(
        params.string("CacheClusterId").as_deref(),
        params.string("ReplicationGroupId").as_deref(),
    )?;
    let mut x = Xml::default();
    x.list("ScaleUpModifications", "member", &up);
    x.list("ScaleDownModifications", "member", &down);
    Ok(x.finish())
}
