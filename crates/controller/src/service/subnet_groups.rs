//! Cache subnet groups: the derived `default` group (every zone the hosts offer)
//! and custom groups, whose subnets stand for zones (see
//! `larder_model::subnet_group`). A cluster created with a group is placed only in
//! the group's zones, so the group is what steers placement.

use chrono::Utc;
use larder_model::subnet_group::{self, DEFAULT_SUBNET_GROUP};
use larder_model::{arn, CacheSubnetGroup, Event, Fault, SourceType, Subnet, Tag};

use super::paginate;
use super::parameter_groups::Page;
use crate::Controller;

/// The ARN resource type of subnet groups.
const ARN_TYPE: &str = "subnetgroup";

/// An event about a subnet group, now.
fn subnet_group_event(name: &str, message: impl Into<String>) -> Event {
    Event {
        source_identifier: name.to_string(),
        source_type: SourceType::CacheSubnetGroup,
        message: message.into(),
        date: Utc::now(),
    }
}

/// One event per subnet whose zone was derived from its id, so the mapping is
/// visible where users look (DescribeEvents) and not only in the docs.
fn derived_events(g: &CacheSubnetGroup, only: &[Subnet]) -> Vec<Event> {
    only.iter()
        .filter(|s| s.derived)
        .map(|s| {
            subnet_group_event(
                &g.name,
                format!(
                    "Subnet {} is not configured on this installation; its nodes go to availability zone {} (derived from the subnet id).",
                    s.id, s.zone
                ),
            )
        })
        .collect()
}

impl Controller {
    /// The `default` group: one subnet per zone some host offers now.
    pub fn default_subnet_group(&self) -> CacheSubnetGroup {
        CacheSubnetGroup::default_over(&self.offered_zones_now())
    }

    /// The VpcId every subnet group reports.
    pub fn vpc_id(&self) -> String {
        let s = self.settings();
        subnet_group::vpc_id(&s.region, &s.account_id)
    }

    /// A group by (lower-case) name, or `CacheSubnetGroupNotFoundFault`.
    pub fn subnet_group(&self, name: &str) -> Result<CacheSubnetGroup, Fault> {
        if name == DEFAULT_SUBNET_GROUP {
            return Ok(self.default_subnet_group());
        }
        self.store()
            .get_subnet_group(name)?
            .ok_or_else(|| Fault::CacheSubnetGroupNotFound(name.to_string()))
    }

    /// The lower-case name of the subnet group a new cache names, checked to exist.
    pub(crate) fn resolve_subnet_group(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<String>, Fault> {
        match requested {
            Some(name) => {
                let name = name.to_ascii_lowercase();
                self.subnet_group(&name)?;
                Ok(Some(name))
            }
            None => Ok(None),
        }
    }

    /// The zones nodes of a cache in subnet group `name` may go to: `None` (any
    /// offered zone) for no group or `default`. A custom group that has vanished
    /// (it cannot be deleted while in use, so only by a bug) confines nothing.
    pub(crate) fn subnet_zones(&self, name: Option<&str>) -> Result<Option<Vec<String>>, Fault> {
        match name {
            None | Some(DEFAULT_SUBNET_GROUP) => Ok(None),
            Some(name) => Ok(self.store().get_subnet_group(name)?.map(|g| g.zones())),
        }
    }

    /// The subnet group a stored cluster was created in (none for an unknown id:
    /// the caller's own lookup answers NotFound).
    pub(crate) fn cluster_subnet_group(&self, id: &str) -> Result<Option<String>, Fault> {
        Ok(self
            .store()
            .get_cluster(id)?
            .and_then(|c| c.cache_subnet_group_name))
    }

    /// The subnets for `ids` on this installation, as stored with a group.
    fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, Fault> {
        subnet_group::subnets_for(ids, &self.settings().subnets, &self.offered_zones_now())
    }

    /// Creates a custom group.
    pub fn create_cache_subnet_group(
        &self,
        name: &str,
        description: &str,
        subnet_ids: &[String],
        tags: Vec<Tag>,
    ) -> Result<CacheSubnetGroup, Fault> {
        let mut merged = Vec::new();
        arn::merge_tags(&mut merged, tags)?;
        let g = CacheSubnetGroup {
            name: name.to_string(),
            description: description.to_string(),
            subnets: self.subnets(subnet_ids)?,
        };
        let key = self.settings().arn(ARN_TYPE, name);
        self.store().transaction(|tx| {
            tx.create_subnet_group(&g)?;
            if !merged.is_empty() {
                tx.put_tags(&key, &merged)?;
            }
            for e in derived_events(&g, &g.subnets) {
                tx.event(e);
            }
            tx.event(subnet_group_event(name, "Cache subnet group created"));
            Ok(())
        })?;
        Ok(g)
    }

    /// One group (`CacheSubnetGroupNotFoundFault` if unknown), or a page of all of
    /// them, `default` included, by name.
    pub fn describe_cache_subnet_groups(
        &self,
        name: Option<&str>,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<CacheSubnetGroup>, Fault> {
        let all = match name {
            Some(name) => vec![self.subnet_group(name)?],
            None => {
                let mut all = vec![self.default_subnet_group()];
                all.extend(self.store().list_subnet_groups()?);
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all
            }
        };
        let (items, marker) = paginate(all, max_records, marker)?;
        Ok(Page { items, marker })
    }

    /// Changes a custom group's description and/or subnets. Subnets may be replaced
    /// while clusters use the group only if every node keeps a zone of the group
    /// (`SubnetInUse` otherwise); nothing changes on any error.
    pub fn modify_cache_subnet_group(
        &self,
        name: &str,
        description: Option<&str>,
        subnet_ids: Option<&[String]>,
    ) -> Result<CacheSubnetGroup, Fault> {
        refuse_default(name, "modified")?;
        let subnets = subnet_ids.map(|ids| self.subnets(ids)).transpose()?;
        self.store().transaction(|tx| {
            let mut g = tx
                .subnet_group(name)?
                .ok_or_else(|| Fault::CacheSubnetGroupNotFound(name.to_string()))?;
            if let Some(d) = description {
                g.description = d.to_string();
            }
            if let Some(subnets) = &subnets {
                let before: Vec<String> = g.subnets.iter().map(|s| s.id.clone()).collect();
                g.subnets = subnets.clone();
                let zones = g.zones();
                for c in tx.clusters()? {
                    if c.cache_subnet_group_name.as_deref() != Some(name) {
                        continue;
                    }
                    if let Some(n) = c
                        .nodes
                        .iter()
                        .find(|n| !zones.contains(&n.availability_zone))
                    {
                        return Err(Fault::SubnetInUse(format!(
                            "Node {} of cache cluster {} is in availability zone {}, which the new subnets of {name} leave out.",
                            n.cache_node_id, c.id, n.availability_zone
                        )));
                    }
                }
                let added: Vec<Subnet> = subnets
                    .iter()
                    .filter(|s| !before.contains(&s.id))
                    .cloned()
                    .collect();
                for e in derived_events(&g, &added) {
                    tx.event(e);
                }
            }
            tx.put_subnet_group(&g)?;
            tx.event(subnet_group_event(name, "Cache subnet group modified"));
            Ok(g)
        })
    }

    /// Deletes a custom group no cluster uses, with its tags.
    pub fn delete_cache_subnet_group(&self, name: &str) -> Result<(), Fault> {
        refuse_default(name, "deleted")?;
        let key = self.settings().arn(ARN_TYPE, name);
        self.store().transaction(|tx| {
            if tx.subnet_group(name)?.is_none() {
                return Err(Fault::CacheSubnetGroupNotFound(name.to_string()));
            }
            if let Some(c) = tx
                .clusters()?
                .into_iter()
                .find(|c| c.cache_subnet_group_name.as_deref() == Some(name))
            {
                return Err(Fault::CacheSubnetGroupInUse(format!(
                    "Cache subnet group {name} is in use by cache cluster {}.",
                    c.id
                )));
            }
            tx.delete_subnet_group(name)?;
            tx.delete_tags(&key)
        })
    }
}

/// The `default` group is the service's own: it cannot be changed or deleted.
fn refuse_default(name: &str, what: &str) -> Result<(), Fault> {
    if name == DEFAULT_SUBNET_GROUP {
        return Err(Fault::InvalidParameterValue(format!(
            "The default cache subnet group cannot be {what}."
        )));
    }
    Ok(())
}
