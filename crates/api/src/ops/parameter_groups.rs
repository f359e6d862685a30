//! CreateCacheParameterGroup, DescribeCacheParameterGroups, DescribeCacheParameters,
//! DescribeEngineDefaultParameters, ModifyCacheParameterGroup,
//! ResetCacheParameterGroup, DeleteCacheParameterGroup.

use larder_controller::Controller;
use larder_model::parameter_group::PARAMETER_GROUP_NAME_MAX;
use larder_model::{CacheParameterGroup, Fault, ParameterDef, ParameterSource};

use super::{p, req, Kind::*, Param, Rule, Validated, MAX_RECORDS};
use crate::xml::Xml;

/// Most parameters one ModifyCacheParameterGroup or ResetCacheParameterGroup may
/// name, as on the service.
const MAX_PARAMETERS_PER_CALL: usize = 20;

/// The list member that carries the parameters.
const NAME_VALUES: (&str, &str) = ("ParameterNameValues", "ParameterNameValue");

pub const CREATE: &[Param] = &[
    req(
        "CacheParameterGroupName",
        Identifier(PARAMETER_GROUP_NAME_MAX),
    ),
    req("CacheParameterGroupFamily", Str),
    req("Description", Str),
    p("Tags", Tags),
];

pub const DESCRIBE_GROUPS: &[Param] = &[
    p("CacheParameterGroupName", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const DESCRIBE_PARAMETERS: &[Param] = &[
    req("CacheParameterGroupName", Str),
    p(
        "Source",
        Enum(
            &["user", "system", "engine-default"],
            "must be user, system or engine-default",
        ),
    ),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const ENGINE_DEFAULTS: &[Param] = &[
    req("CacheParameterGroupFamily", Str),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];

pub const MODIFY: &[Param] = &[
    req("CacheParameterGroupName", Str),
    p("ParameterNameValues", List),
];

pub const RESET: &[Param] = &[
    req("CacheParameterGroupName", Str),
    p("ResetAllParameters", Bool),
    p("ParameterNameValues", List),
];

pub const DELETE: &[Param] = &[req("CacheParameterGroupName", Str)];

pub const CREATE_RULES: &[Rule] = &[short_description];
pub const DESCRIBE_GROUPS_RULES: &[Rule] = &[];
pub const DESCRIBE_PARAMETERS_RULES: &[Rule] = &[];
pub const ENGINE_DEFAULTS_RULES: &[Rule] = &[];
pub const MODIFY_RULES: &[Rule] = &[name_values];
pub const RESET_RULES: &[Rule] = &[all_or_named];
pub const DELETE_RULES: &[Rule] = &[];

/// Longest Description kept: every group is stored and listed, so its size is bounded.
const DESCRIPTION_MAX: usize = 255;

fn short_description(v: &Validated) -> Result<(), Fault> {
    let d = v.required("Description");
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(Fault::InvalidParameterValue(format!(
            "Description must be at most {DESCRIPTION_MAX} characters."
        )));
    }
    Ok(())
}

/// The names given in ParameterNameValues, in N order.
fn names(v: &Validated) -> Vec<(u32, String)> {
    v.list_field(NAME_VALUES.0, NAME_VALUES.1, "ParameterName")
}

/// (name, value) pairs; every entry must have both.
fn pairs(v: &Validated) -> Result<Vec<(String, String)>, Fault> {
    let values = v.list_field(NAME_VALUES.0, NAME_VALUES.1, "ParameterValue");
    names(v)
        .into_iter()
        .map(
            |(n, name)| match values.iter().find(|(m, _)| *m == n).map(|(_, v)| v.clone()) {
                Some(value) => Ok((name, value)),
                None => Err(Fault::InvalidParameterValue(format!(
                    "Parameter {name} has no ParameterValue."
                ))),
            },
        )
        .collect()
}

/// How many parameters one call names: 1 to 20.
fn within_limit(count: usize) -> Result<(), Fault> {
    if count > MAX_PARAMETERS_PER_CALL {
        return Err(Fault::InvalidParameterValue(format!(
            "At most {MAX_PARAMETERS_PER_CALL} parameters may be given in one request; {count} were."
        )));
    }
    Ok(())
}

fn name_values(v: &Validated) -> Result<(), Fault> {
    let pairs = pairs(v)?;
    if pairs.is_empty() {
        return Err(Fault::missing("ParameterNameValues"));
    }
    within_limit(pairs.len())
}

fn all_or_named(v: &Validated) -> Result<(), Fault> {
    let all = v.flag("ResetAllParameters");
    let named = names(v).len();
    match (all, named) {
        (true, 0) | (false, 1..) => within_limit(named),
        (true, _) => Err(Fault::InvalidParameterCombination(
            "Give either ResetAllParameters or ParameterNameValues, not both.".into(),
        )),
        (false, 0) => Err(Fault::InvalidParameterCombination(
            "Give ResetAllParameters=true or the ParameterNameValues to reset.".into(),
        )),
    }
}

/// The CacheParameterGroup shape.
fn group(x: &mut Xml, ctl: &Controller, g: &CacheParameterGroup) {
    x.open("CacheParameterGroup");
    x.leaf("CacheParameterGroupName", &g.name);
    x.leaf("CacheParameterGroupFamily", &g.family);
    x.leaf("Description", &g.description);
    x.leaf("IsGlobal", false);
    x.leaf("ARN", ctl.settings().arn("parametergroup", &g.name));
    x.close("CacheParameterGroup");
}

/// One Parameter.
fn parameter(x: &mut Xml, def: &ParameterDef, value: Option<&str>, source: ParameterSource) {
    x.open("Parameter");
    x.leaf("ParameterName", def.name);
    x.opt("ParameterValue", value);
    x.leaf("Description", def.description);
    x.leaf("Source", source.as_str());
    x.leaf("DataType", def.data_type.as_str());
    x.opt("AllowedValues", def.allowed.text());
    x.leaf("IsModifiable", def.modifiable);
    x.leaf("MinimumEngineVersion", def.min_version);
    x.leaf("ChangeType", def.change.as_str());
    x.close("Parameter");
}

fn group_name_result(name: &str) -> String {
    let mut x = Xml::default();
    x.leaf("CacheParameterGroupName", name);
    x.finish()
}

pub fn create(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let g = ctl.create_cache_parameter_group(
        &v.required_id("CacheParameterGroupName"),
        &v.required("CacheParameterGroupFamily"),
        &v.required("Description"),
        v.tags("Tags"),
    )?;
    let mut x = Xml::default();
    group(&mut x, ctl, &g);
    Ok(x.finish())
}

pub fn describe_groups(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let page = ctl.describe_cache_parameter_groups(
        v.id("CacheParameterGroupName").as_deref(),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("CacheParameterGroups");
    for g in &page.items {
        group(&mut x, ctl, g);
    }
    x.close("CacheParameterGroups");
    Ok(x.finish())
}

pub fn describe_parameters(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let page = ctl.describe_cache_parameters(
        &v.required_id("CacheParameterGroupName"),
        v.choice("Source").and_then(ParameterSource::parse),
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", page.marker.as_deref());
    x.open("Parameters");
    for p in &page.items {
        parameter(&mut x, p.def, p.value.as_deref(), p.source);
    }
    x.close("Parameters");
    x.open("CacheNodeTypeSpecificParameters");
    x.close("CacheNodeTypeSpecificParameters");
    Ok(x.finish())
}

pub fn engine_defaults(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let family = v.required("CacheParameterGroupFamily");
    let page = ctl.describe_engine_default_parameters(
        &family,
        v.int("MaxRecords"),
        v.string("Marker").as_deref(),
    )?;
    let mut x = Xml::default();
    x.open("EngineDefaults");
    x.leaf("CacheParameterGroupFamily", &family);
    x.opt("Marker", page.marker.as_deref());
    x.open("Parameters");
    for def in &page.items {
        parameter(&mut x, def, def.default, def.source);
    }
    x.close("Parameters");
    x.open("CacheNodeTypeSpecificParameters");
    x.close("CacheNodeTypeSpecificParameters");
    x.close("EngineDefaults");
    Ok(x.finish())
}

pub fn modify(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let name = v.required_id("CacheParameterGroupName");
    ctl.modify_cache_parameter_group(&name, &pairs(v)?)?;
    Ok(group_name_result(&name))
}

pub fn reset(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let name = v.required_id("CacheParameterGroupName");
    let named: Vec<String> = names(v).into_iter().map(|(_, n)| n).collect();
    ctl.reset_cache_parameter_group(&name, &named)?;
    Ok(group_name_result(&name))
}

pub fn delete(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    ctl.delete_cache_parameter_group(&v.required_id("CacheParameterGroupName"))?;
    Ok(String::new())
}
