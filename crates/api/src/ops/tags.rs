//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource.

use larder_controller::Controller;
use larder_model::Fault;

use super::{render, req, Kind::*, Param, Rule, Validated};

pub const ADD: &[Param] = &[req("ResourceName", Str), req("Tags", Tags)];
pub const REMOVE: &[Param] = &[req("ResourceName", Str), req("TagKeys", List)];
pub const LIST: &[Param] = &[req("ResourceName", Str)];
pub const ADD_RULES: &[Rule] = &[];
pub const REMOVE_RULES: &[Rule] = &[];
pub const LIST_RULES: &[Rule] = &[];

pub fn add(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let tags = ctl.add_tags_to_resource(&v.required("ResourceName"), v.tags("Tags"))?;
    Ok(render::tag_list(&tags))
}

pub fn remove(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let keys = v.list("TagKeys", "TagKey");
    let tags = ctl.remove_tags_from_resource(&v.required("ResourceName"), &keys)?;
    Ok(render::tag_list(&tags))
}

pub fn list(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let tags = ctl.list_tags_for_resource(&v.required("ResourceName"))?;
    Ok(render::tag_list(&tags))
}
