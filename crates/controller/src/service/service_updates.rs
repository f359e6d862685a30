//! DescribeServiceUpdates, DescribeUpdateActions, BatchApplyUpdateAction and
//! BatchStopUpdateAction. An update is a newer installed patch of an engine minor
//! version (`ServiceUpdate`); its actions are the clusters (outside groups) and
//! replication groups on an older patch of that minor version. Applying one starts
//! the ordinary engine upgrade at once: node by node for a group with replicas, in
//! place from the node's own data otherwise.

use chrono::Utc;
use larder_model::engine::version_order;
use larder_model::requests::{ModifyCacheCluster, ModifyReplicationGroup};
use larder_model::service_update::is_older_patch;
use larder_model::{
    CacheCluster, Engine, Fault, ReplicationGroup, ServiceUpdate, UpdateActionStatus, UpdateRecord,
    UpdateState,
};

use super::paginate;
use crate::Controller;

/// Which resource an update action is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateTarget {
    /// A replication group.
    ReplicationGroup(String),
    /// A cache cluster outside any group.
    CacheCluster(String),
}

/// One update action as DescribeUpdateActions shows it.
#[derive(Debug, Clone)]
pub struct UpdateAction {
    /// The update.
    pub update: ServiceUpdate,
    /// Its cluster or group.
    pub target: UpdateTarget,
    /// Where it stands.
    pub status: UpdateActionStatus,
    /// When the status last changed by request (or the update's release).
    pub status_modified: chrono::DateTime<Utc>,
    /// Nodes on the update's version, of all (`1/3`).
    pub nodes_updated: String,
}

/// Which update actions DescribeUpdateActions asks for.
#[derive(Debug, Default, Clone)]
pub struct UpdateActionFilter {
    pub service_update_name: Option<String>,
    pub replication_group_ids: Vec<String>,
    pub cache_cluster_ids: Vec<String>,
    pub engine: Option<Engine>,
    pub statuses: Vec<String>,
}

/// What a BatchApply/BatchStop did with each resource it named.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Carried out: the resource and its action's status now.
    pub processed: Vec<(UpdateTarget, UpdateActionStatus)>,
    /// Not carried out, and why.
    pub unprocessed: Vec<(UpdateTarget, Fault)>,
}

impl BatchOutcome {
    /// Files what was done with `target`.
    fn add(&mut self, target: UpdateTarget, done: Result<UpdateActionStatus, Fault>) {
        match done {
            Ok(s) => self.processed.push((target, s)),
            Err(e) => self.unprocessed.push((target, e)),
        }
    }
}

/// The status of `records`' latest word on `name` for a resource running `version`
/// (`upgrading` if its upgrade to the update's version runs), or `None` when the
/// update does not concern it.
fn action_status(
    update: &ServiceUpdate,
    engine: Engine,
    version: &str,
    upgrading: bool,
    records: &[UpdateRecord],
) -> Option<(UpdateActionStatus, Option<chrono::DateTime<Utc>>)> {
    let record = records.iter().rev().find(|r| r.name == update.name);
    let applied = record.is_some_and(|r| r.state == UpdateState::Applied);
    let when = record.map(|r| r.modified);
    if applied && upgrading {
        return Some((UpdateActionStatus::InProgress, when));
    }
    if applied && version == update.version {
        return Some((UpdateActionStatus::Complete, when));
    }
    if !update.applies_to(engine, version) {
        return None;
    }
    match record.map(|r| r.state) {
        Some(UpdateState::Stopped) => Some((UpdateActionStatus::Stopped, when)),
        _ => Some((UpdateActionStatus::NotApplied, when)),
    }
}

impl Controller {
    /// Every update the installed engines offer, oldest name first.
    pub fn service_updates(&self) -> Result<Vec<ServiceUpdate>, Fault> {
        let versions = &self.engines().versions;
        let mut offered: Vec<(Engine, String)> = versions
            .iter()
            .filter(|v| v.engine.is_redis_like())
            .filter(|v| {
                versions
                    .iter()
                    .any(|w| w.engine == v.engine && is_older_patch(&w.version, &v.version))
            })
            .map(|v| (v.engine, v.version.clone()))
            .collect();
        offered.sort_by(|a, b| {
            (a.0.as_str(), version_order(&a.1)).cmp(&(b.0.as_str(), version_order(&b.1)))
        });
        let names: Vec<String> = offered
            .iter()
            .map(|(e, v)| ServiceUpdate::name_for(*e, v))
            .collect();
        let dates = self.store().service_update_releases(&names, Utc::now())?;
        Ok(offered
            .into_iter()
            .zip(names)
            .zip(dates)
            .map(|(((engine, version), name), release_date)| ServiceUpdate {
                name,
                engine,
                version,
                release_date,
            })
            .collect())
    }

    /// One update (or ServiceUpdateNotFoundFault).
    pub fn service_update(&self, name: &str) -> Result<ServiceUpdate, Fault> {
        self.service_updates()?
            .into_iter()
            .find(|u| u.name == name)
            .ok_or_else(|| Fault::ServiceUpdateNotFound(name.to_string()))
    }

    /// DescribeServiceUpdates: every update Larder offers is `available` (nothing is
    /// cancelled or expires).
    pub fn describe_service_updates(
        &self,
        name: Option<&str>,
        statuses: &[String],
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<(Vec<ServiceUpdate>, Option<String>), Fault> {
        let mut all = match name {
            Some(n) => vec![self.service_update(n)?],
            None => self.service_updates()?,
        };
        if !statuses.is_empty() && !statuses.iter().any(|s| s == "available") {
            all.clear();
        }
        paginate(all, max_records, marker)
    }

    /// DescribeUpdateActions.
    pub fn describe_update_actions(
        &self,
        f: &UpdateActionFilter,
        max_records: Option<i64>,
        marker: Option<&str>,
    ) -> Result<(Vec<UpdateAction>, Option<String>), Fault> {
        let updates: Vec<ServiceUpdate> = match &f.service_update_name {
            Some(n) => self
                .service_updates()?
                .into_iter()
                .filter(|u| &u.name == n)
                .collect(),
            None => self.service_updates()?,
        };
        let named = |ids: &[String], id: &str| ids.is_empty() || ids.iter().any(|i| i == id);
        let only_groups = f.cache_cluster_ids.is_empty() && !f.replication_group_ids.is_empty();
        let only_clusters = f.replication_group_ids.is_empty() && !f.cache_cluster_ids.is_empty();
        let groups = self.store().list_replication_groups()?;
        let clusters = self.store().list_clusters()?;
        let mut out = Vec::new();
        for u in updates
            .iter()
            .filter(|u| f.engine.is_none_or(|e| e == u.engine))
        {
            if !only_clusters {
                for g in groups
                    .iter()
                    .filter(|g| named(&f.replication_group_ids, &g.id))
                {
                    if let Some(a) = self.group_action(u, g) {
                        out.push(a);
                    }
                }
            }
            if !only_groups {
                for c in clusters.iter().filter(|c| {
                    c.replication_group_id.is_none() && named(&f.cache_cluster_ids, &c.id)
                }) {
                    if let Some(a) = cluster_action(u, c) {
                        out.push(a);
                    }
                }
            }
        }
        out.retain(|a| f.statuses.is_empty() || f.statuses.iter().any(|s| s == a.status.as_str()));
        paginate(out, max_records, marker)
    }

    fn group_action(&self, u: &ServiceUpdate, g: &ReplicationGroup) -> Option<UpdateAction> {
        let upgrading = g.upgrade.as_ref().is_some_and(|x| x.target == u.version);
        let (status, when) = action_status(
            u,
            g.engine,
            &g.engine_version,
            upgrading,
            &g.service_updates,
        )?;
        let members: Vec<CacheCluster> = g
            .members
            .iter()
            .filter_map(|m| self.store().get_cluster(m).ok().flatten())
            .collect();
        let done = members
            .iter()
            .filter(|c| c.engine_version == u.version)
            .count();
        Some(UpdateAction {
            update: u.clone(),
            target: UpdateTarget::ReplicationGroup(g.id.clone()),
            status,
            status_modified: when.unwrap_or(u.release_date),
            nodes_updated: format!("{done}/{}", members.len()),
        })
    }

    /// BatchApplyUpdateAction: starts the upgrade of every named resource the update
    /// concerns, each on its own (one refused does not hold the others back).
    pub fn batch_apply_update_action(
        &self,
        name: &str,
        group_ids: &[String],
        cluster_ids: &[String],
    ) -> Result<BatchOutcome, Fault> {
        let u = self.service_update(name)?;
        let mut out = BatchOutcome::default();
        for id in group_ids.iter().map(|i| i.to_ascii_lowercase()) {
            let target = UpdateTarget::ReplicationGroup(id.clone());
            out.add(target, self.apply_to_group(&u, &id));
        }
        for id in cluster_ids.iter().map(|i| i.to_ascii_lowercase()) {
            let target = UpdateTarget::CacheCluster(id.clone());
            out.add(target, self.apply_to_cluster(&u, &id));
        }
        Ok(out)
    }

    fn apply_to_group(&self, u: &ServiceUpdate, id: &str) -> Result<UpdateActionStatus, Fault> {
        let g = self
            .store()
            .get_replication_group(id)?
            .ok_or_else(|| Fault::ReplicationGroupNotFound(id.to_string()))?;
        let a = self
            .group_action(u, &g)
            .ok_or_else(|| not_concerned(u, id, &g.engine_version))?;
        if a.status != UpdateActionStatus::NotApplied && a.status != UpdateActionStatus::Stopped {
            return Ok(a.status);
        }
        self.modify_replication_group(ModifyReplicationGroup {
            replication_group_id: id.to_string(),
            engine_version: Some(u.version.clone()),
            apply_immediately: true,
            ..Default::default()
        })?;
        self.store().transaction(|tx| {
            if let Some(mut g) = tx.replication_group(id)? {
                g.service_updates.push(record(u, UpdateState::Applied));
                tx.put_replication_group(&g)?;
            }
            Ok(())
        })?;
        Ok(UpdateActionStatus::InProgress)
    }

    fn apply_to_cluster(&self, u: &ServiceUpdate, id: &str) -> Result<UpdateActionStatus, Fault> {
        let c = self.standalone_cluster(id)?;
        let a = cluster_action(u, &c).ok_or_else(|| not_concerned(u, id, &c.engine_version))?;
        if a.status != UpdateActionStatus::NotApplied && a.status != UpdateActionStatus::Stopped {
            return Ok(a.status);
        }
        self.modify_cache_cluster(ModifyCacheCluster {
            cache_cluster_id: id.to_string(),
            engine_version: Some(u.version.clone()),
            apply_immediately: true,
            ..Default::default()
        })?;
        self.store().update_cluster(id, |c, _| {
            c.service_updates.push(record(u, UpdateState::Applied));
            Ok(())
        })?;
        Ok(UpdateActionStatus::InProgress)
    }

    /// BatchStopUpdateAction: an action not applied yet is marked stopped; one in
    /// progress cannot be stopped halfway (Larder finishes the node-by-node upgrade it
    /// started), and says so.
    pub fn batch_stop_update_action(
        &self,
        name: &str,
        group_ids: &[String],
        cluster_ids: &[String],
    ) -> Result<BatchOutcome, Fault> {
        let u = self.service_update(name)?;
        let mut out = BatchOutcome::default();
        for id in group_ids.iter().map(|i| i.to_ascii_lowercase()) {
            let target = UpdateTarget::ReplicationGroup(id.clone());
            let stopped = self.store().transaction(|tx| {
                let mut g = tx
                    .replication_group(&id)?
                    .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
                let a = self
                    .group_action(&u, &g)
                    .ok_or_else(|| not_concerned(&u, &id, &g.engine_version))?;
                stop(&u, &id, a.status, &mut g.service_updates)?;
                tx.put_replication_group(&g)?;
                Ok(())
            });
            out.add(target, stopped.map(|()| UpdateActionStatus::Stopped));
        }
        for id in cluster_ids.iter().map(|i| i.to_ascii_lowercase()) {
            let target = UpdateTarget::CacheCluster(id.clone());
            let stopped = self.standalone_cluster(&id).and_then(|_| {
                self.store().update_cluster(&id, |c, _| {
                    let a = cluster_action(&u, c)
                        .ok_or_else(|| not_concerned(&u, &id, &c.engine_version))?;
                    stop(&u, &id, a.status, &mut c.service_updates)
                })
            });
            out.add(target, stopped.map(|()| UpdateActionStatus::Stopped));
        }
        Ok(out)
    }

    /// A cache cluster outside any replication group (members are updated with
    /// their group, by its id).
    fn standalone_cluster(&self, id: &str) -> Result<CacheCluster, Fault> {
        let c = self
            .store()
            .get_cluster(id)?
            .ok_or_else(|| Fault::CacheClusterNotFound(id.to_string()))?;
        if let Some(g) = &c.replication_group_id {
            return Err(Fault::InvalidParameterValue(format!(
                "Cache cluster {id} is a member of replication group {g}; apply the update to the group."
            )));
        }
        Ok(c)
    }
}

fn cluster_action(u: &ServiceUpdate, c: &CacheCluster) -> Option<UpdateAction> {
    let upgrading = c.upgrade.as_ref().is_some_and(|x| x.target == u.version);
    let (status, when) = action_status(
        u,
        c.engine,
        &c.engine_version,
        upgrading,
        &c.service_updates,
    )?;
    let done = if c.engine_version == u.version {
        c.nodes.len()
    } else {
        0
    };
    Some(UpdateAction {
        update: u.clone(),
        target: UpdateTarget::CacheCluster(c.id.clone()),
        status,
        status_modified: when.unwrap_or(u.release_date),
        nodes_updated: format!("{done}/{}", c.nodes.len()),
    })
}

fn record(u: &ServiceUpdate, state: UpdateState) -> UpdateRecord {
    UpdateRecord {
        name: u.name.clone(),
        state,
        modified: Utc::now(),
    }
}

fn stop(
    u: &ServiceUpdate,
    id: &str,
    status: UpdateActionStatus,
    records: &mut Vec<UpdateRecord>,
) -> Result<(), Fault> {
    match status {
        UpdateActionStatus::NotApplied => {
            records.push(record(u, UpdateState::Stopped));
            Ok(())
        }
        UpdateActionStatus::Stopped => Ok(()),
        UpdateActionStatus::InProgress => Err(Fault::InvalidParameterValue(format!(
            "The update of {id} to {} is in progress; Larder finishes an engine upgrade it has started.",
            u.version
        ))),
        UpdateActionStatus::Complete => Err(Fault::InvalidParameterValue(format!(
            "{id} already runs {}.",
            u.version
        ))),
    }
}

fn not_concerned(u: &ServiceUpdate, id: &str, version: &str) -> Fault {
    Fault::InvalidParameterValue(format!(
        "Service update {} does not apply to {id}, which runs engine version {version}.",
        u.name
    ))
}
