//! The engine upgrade of a replication group, one committed move at a time:
//! each replica restarted on the new binary (one at a time, waiting until every
//! replica streams again), then a planned switchover to an upgraded replica, then
//! the old primary restarted as a replica on the new binary. Restarts are the
//! ordinary node reboot step, so they retry and resume like any reboot; a replica
//! comes back empty and resyncs from the primary, so nothing it held is needed.

use chrono::Utc;
use larder_model::{
    ClusterStatus, EngineUpgrade, Event, Failover, NodeStatus, ReplicationGroup,
    ReplicationGroupStatus, UpgradeStep,
};

use crate::service::group_event;
use crate::Controller;

impl Controller {
    /// One move of `g`'s upgrade. True when something was committed.
    pub(crate) async fn upgrade_step(&self, g: &ReplicationGroup, u: &EngineUpgrade) -> bool {
        // Nothing moves while a member is still restarting (its own pass runs it).
        let members: Vec<_> = g
            .members
            .iter()
            .filter_map(|m| self.member_node(m))
            .collect();
        if members.len() != g.members.len()
            || members
                .iter()
                .any(|(c, _)| c.status != ClusterStatus::Available)
        {
            return false;
        }
        match &u.step {
            UpgradeStep::InPlace { started } => {
                let Some((c, _)) = members.first() else {
                    return false;
                };
                match (started, c.engine_version == u.target) {
                    (false, _) => self.start_member_in_place(g, u),
                    (true, true) => self.finish_upgrade(g, u),
                    // The member's upgrade ended without the new version (given up,
                    // with an event on the member): so does the group's.
                    (true, false) => self.abandon_upgrade(g, u),
                }
            }
            UpgradeStep::Replicas => {
                let next = members
                    .iter()
                    .find(|(c, _)| c.id != g.primary && c.engine_version != u.target);
                if let Some((c, _)) = next {
                    return self.restart_on_target(g, &c.id, u);
                }
                // Every replica runs the new version; switch only once all stream
                // from the primary again, so the switchover loses nothing.
                if !self.converge_replication(g, None).await {
                    return false;
                }
                self.start_upgrade_switchover(g)
            }
            UpgradeStep::OldPrimary { old_primary } => {
                if &g.primary == old_primary {
                    // The switchover did not move the primary (it was given up):
                    // never restart a primary, whose data would go; ask again.
                    return self.start_upgrade_switchover(g);
                }
                let old = members.iter().find(|(c, _)| &c.id == old_primary);
                match old {
                    Some((c, _)) if c.engine_version != u.target => {
                        self.restart_on_target(g, &c.id, u)
                    }
                    _ => self.finish_upgrade(g, u),
                }
            }
        }
    }

    /// Moves member `member` to the target version and reboots its node: the node
    /// starts again on the new binary from its spec.
    fn restart_on_target(&self, g: &ReplicationGroup, member: &str, u: &EngineUpgrade) -> bool {
        let (target, group, gid) = (u.target.clone(), u.parameter_group.clone(), g.id.clone());
        self.store()
            .update_cluster(member, |c, change| {
                if c.status != ClusterStatus::Available || c.engine_version == target {
                    return Ok(());
                }
                c.engine_version = target.clone();
                c.cache_parameter_group_name = group.clone();
                for n in c.nodes.iter_mut() {
                    n.status = NodeStatus::Rebooting;
                }
                c.status = ClusterStatus::RebootingNodes;
                change.events.push(Event {
                    source_identifier: gid.clone(),
                    source_type: larder_model::SourceType::ReplicationGroup,
                    message: format!(
                        "Upgrading cache cluster {} to engine version {target}",
                        c.id
                    ),
                    date: Utc::now(),
                });
                Ok(())
            })
            .is_ok()
    }

    /// Every replica is upgraded and streaming: a planned failover moves the primary
    /// to one of them, and the old primary is upgraded next.
    fn start_upgrade_switchover(&self, g: &ReplicationGroup) -> bool {
        let id = g.id.clone();
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                let (Some(u), None) = (cur.upgrade.as_mut(), cur.failover.as_ref()) else {
                    return Ok(false);
                };
                let old_primary = cur.primary.clone();
                let again = UpgradeStep::OldPrimary {
                    old_primary: old_primary.clone(),
                };
                if u.step != UpgradeStep::Replicas && u.step != again {
                    return Ok(false);
                }
                u.step = UpgradeStep::OldPrimary {
                    old_primary: old_primary.clone(),
                };
                cur.failover = Some(Failover::new(&old_primary, None, true, "engine upgrade"));
                tx.put_replication_group(&cur)?;
                tx.event(group_event(
                    &id,
                    format!("Replicas upgraded; switching the primary away from {old_primary}"),
                ));
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Starts the lone member's in-place upgrade and records that it was started, in
    /// one transaction.
    fn start_member_in_place(&self, g: &ReplicationGroup, u: &EngineUpgrade) -> bool {
        let (id, member) = (g.id.clone(), g.primary.clone());
        let plan = larder_model::InPlaceUpgrade::new(&u.target, &u.parameter_group);
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                let Some(mut c) = tx.cluster(&member)? else {
                    return Ok(false);
                };
                match cur.upgrade.as_mut() {
                    Some(x) if x.step == (UpgradeStep::InPlace { started: false }) => {
                        x.step = UpgradeStep::InPlace { started: true };
                    }
                    _ => return Ok(false),
                }
                if c.status != ClusterStatus::Available || c.upgrade.is_some() {
                    return Ok(false);
                }
                let mut events = Vec::new();
                crate::service::start_in_place(&mut c, plan.clone(), &mut events);
                events.into_iter().for_each(|e| tx.event(e));
                tx.put_cluster(&c)?;
                tx.put_replication_group(&cur)?;
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Ends the group's upgrade without the new version.
    fn abandon_upgrade(&self, g: &ReplicationGroup, u: &EngineUpgrade) -> bool {
        let id = g.id.clone();
        let target = u.target.clone();
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                if cur.upgrade.take().is_none() {
                    return Ok(false);
                }
                cur.status = ReplicationGroupStatus::Modifying;
                tx.put_replication_group(&cur)?;
                tx.event(group_event(
                    &id,
                    format!(
                        "Engine upgrade to {target} failed; the group keeps engine version {}",
                        cur.engine_version
                    ),
                ));
                Ok(true)
            })
            .unwrap_or(false)
    }

    /// Every member runs the target: the group records it and settles to available.
    fn finish_upgrade(&self, g: &ReplicationGroup, u: &EngineUpgrade) -> bool {
        let id = g.id.clone();
        let target = u.target.clone();
        self.store()
            .transaction(|tx| {
                let Some(mut cur) = tx.replication_group(&id)? else {
                    return Ok(false);
                };
                let Some(u) = cur.upgrade.take() else {
                    return Ok(false);
                };
                cur.engine_version = u.target.clone();
                cur.cache_parameter_group_name = u.parameter_group.clone();
                cur.status = ReplicationGroupStatus::Modifying;
                tx.put_replication_group(&cur)?;
                tx.event(group_event(&id, format!("Engine upgraded to {target}")));
                Ok(true)
            })
            .unwrap_or(false)
    }
}
