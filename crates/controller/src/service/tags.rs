//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource.

use larder_model::{arn, Arn, Fault, Tag};

use crate::Controller;

impl Controller {
    /// Checks that an ARN names a resource that exists here and returns it normalised.
    fn taggable(&self, resource_name: &str) -> Result<String, Fault> {
        let parsed = Arn::parse(resource_name)?;
        let id = parsed.name.to_ascii_lowercase();
        let s = self.settings();
        let here = parsed.region == s.region && parsed.account_id == s.account_id;
        match parsed.resource_type.as_str() {
            "cluster" => {
                if !here || self.store().get_cluster(&id)?.is_none() {
                    return Err(Fault::CacheClusterNotFound(id));
                }
            }
            "replicationgroup" => {
                if !here || self.store().get_replication_group(&id)?.is_none() {
                    return Err(Fault::ReplicationGroupNotFound(id));
                }
            }
            "snapshot" => {
                if !here || self.store().get_snapshot(&id)?.is_none() {
                    return Err(Fault::SnapshotNotFound(id));
                }
            }
            "parametergroup" => {
                if !here {
                    return Err(Fault::CacheParameterGroupNotFound(id));
                }
                self.parameter_group(&id)?;
            }
            "subnetgroup" => {
                if !here || self.store().get_subnet_group(&id)?.is_none() {
                    return Err(Fault::CacheSubnetGroupNotFound(id));
                }
            }
            other => {
                return Err(Fault::InvalidParameterCombination(format!(
                    "Tagging {other} resources is not supported by Larder yet."
                )))
            }
        }
        Ok(s.arn(&parsed.resource_type, &id))
    }

    /// Adds or replaces tags; returns the resource's tags afterwards.
    pub fn add_tags_to_resource(
        &self,
        resource_name: &str,
        tags: Vec<Tag>,
    ) -> Result<Vec<Tag>, Fault> {
        let key = self.taggable(resource_name)?;
        self.store()
            .update_tags(&key, |t| arn::merge_tags(t, tags.clone()))
    }

    /// Removes tags by key; every key must be present.
    pub fn remove_tags_from_resource(
        &self,
        resource_name: &str,
        keys: &[String],
    ) -> Result<Vec<Tag>, Fault> {
        let key = self.taggable(resource_name)?;
        self.store().update_tags(&key, |t| {
            if let Some(missing) = keys.iter().find(|k| !t.iter().any(|x| &x.key == *k)) {
                return Err(Fault::TagNotFound(format!(
                    "Tag {missing} not found on {resource_name}."
                )));
            }
            t.retain(|x| !keys.contains(&x.key));
            Ok(())
        })
    }

    /// The resource's tags.
    pub fn list_tags_for_resource(&self, resource_name: &str) -> Result<Vec<Tag>, Fault> {
        let key = self.taggable(resource_name)?;
        self.store().tags(&key)
    }
}
