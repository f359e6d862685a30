//! StartMigration, TestMigration, CompleteMigration: bring a self-managed Redis into a
//! replication group by replicating from it, then cut over.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use larder_model::{Fault, Migration, ReplicationGroup, ReplicationGroupStatus};

use super::{group_event, require_group_available};
use crate::Controller;

/// Checks that a source Redis answers PING, the way TestMigration reports it.
fn ping_source(address: &str, port: u16) -> Result<(), Fault> {
    let unreachable =
        |why: String| Fault::InvalidParameterValue(format!("Cannot reach {address}:{port}: {why}"));
    let addr = (address, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| unreachable(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| unreachable(e.to_string()))?;
    s.write_all(b"PING\r\n")
        .map_err(|e| unreachable(e.to_string()))?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| unreachable(e.to_string()))?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    if reply.starts_with("+PONG") {
        Ok(())
    } else {
        Err(unreachable(format!("it answered {}", reply.trim())))
    }
}

impl Controller {
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
        ping_source(address, port)?;
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
        ping_source(address, port)?;
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
