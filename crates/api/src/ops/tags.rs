//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource.

use larder_controller::Controller;
use larder_model::Fault;

use super::{render, req, Kind::*, Param};
use crate::params::Params;

pub const ADD: &[Param] = &[req("ResourceName", Str), req("Tags", List)];
pub const REMOVE: &[Param] = &[req("ResourceName", Str), req("TagKeys", List)];
pub const LIST: &[Param] = &[req("ResourceName", Str)];

pub fn add(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let tags = ctl.add_tags_to_resource(&params.required("ResourceName")?, params.tags("Tags"))?;
    Ok(render::tag_list(&tags))
}

pub fn remove(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let keys = params.list("TagKeys", "TagKey");
    let tags = ctl.remove_tags_from_resource(&params.required("ResourceName")?, &keys)?;
    Ok(render::tag_list(&tags))
}

pub fn list(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let tags = ctl.list_tags_for_resource(&params.required("ResourceName")?)?;
    Ok(render::tag_list(&tags))
}
