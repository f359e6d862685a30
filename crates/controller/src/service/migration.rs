//! StartMigration, TestMigration, CompleteMigration: bring a self-managed Redis into a
//! replication group by replicating from it, then cut over.

use std::time::Duration;

use larder_agent::{HostPort, SourceCheck};
use larder_model::{Fault, Migration, ReplicationGroup, ReplicationGroupStatus};

use super::{group_event, require_group_available};
use crate::Controller;

/// How long the source may take to accept the connection and to answer `PING`.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);

impl Controller {
    /// Checks through the agent that a source Redis answers PING, the way
    /// TestMigration reports it: the agent's host is the one that will replicate.
    fn ping_source(&self, address: &str, port: u16) -> Result<(), Fault> {
        let source = HostPort {
            host: address.to_string(),
            port,
        };
        // The primary replicates from the source, so ask from where it would run; a
        // group's members are all placed, so the control plane's host stands in.
        let agent = self.agent_on(None);
        let check = self.wait_for_agent(agent.probe_source(&source, SOURCE_TIMEOUT));
        let reason = match check {
            Ok(SourceCheck::Pong) => return Ok(()),
            Ok(SourceCheck::Unreachable { reason }) => reason,
            Err(e) => format!("the agent could not check it: {e}"),
        };
        Err(Fault::InvalidParameterValue(format!(
            "Cannot reach {address}:{port}: {reason}"
        )))
    }

    /// Checks that the group could migrate from the source.
    pub fn test_migration(
        &self,
        id: &str,
        (address, port): (&str, u16),
    ) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let g = self
            .store()
            .get_replication_group(&id)?
            .ok_or(Fault::ReplicationGroupNotFound(id))?;
        require_group_available(&g)?;
        self.ping_source(address, port)?;
        Ok(g)
    }

    /// Makes the group's primary a replica of the source.
    pub fn start_migration(
        &self,
        id: &str,
        (address, port): (&str, u16),
    ) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let existing = self
            .store()
            .get_replication_group(&id)?
            .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
        if existing.migration.is_some() {
            return Err(Fault::ReplicationGroupAlreadyUnderMigration(format!(
                "{id} is already migrating."
            )));
        }
        require_group_available(&existing)?;
        self.ping_source(address, port)?;
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            if g.migration.is_some() {
                return Err(Fault::ReplicationGroupAlreadyUnderMigration(format!(
                    "{id} is already migrating."
                )));
            }
            require_group_available(&g)?;
            g.migration = Some(Migration {
                address: address.to_string(),
                port,
                completing: false,
                force: false,
            });
            g.status = ReplicationGroupStatus::Migrating;
            tx.put_replication_group(&g)?;
            tx.event(group_event(
                &id,
                format!("Migration started from {address}:{port}"),
            ));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }

    /// Asks for the cut-over: the primary stops replicating from the source once it is
    /// in sync (or at once with `force`).
    pub fn complete_migration(&self, id: &str, force: bool) -> Result<ReplicationGroup, Fault> {
        let id = id.to_ascii_lowercase();
        let out = self.store().transaction(|tx| {
            let mut g = tx
                .replication_group(&id)?
                .ok_or_else(|| Fault::ReplicationGroupNotFound(id.clone()))?;
            let Some(m) = g.migration.as_mut() else {
                return Err(Fault::ReplicationGroupNotUnderMigration(format!(
                    "{id} is not migrating."
                )));
            };
            m.completing = true;
            m.force = force;
            tx.put_replication_group(&g)?;
            tx.event(group_event(&id, "Migration completion requested"));
            Ok(g)
        })?;
        self.wake();
        Ok(out)
    }
}
