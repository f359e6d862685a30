//! Multi-record transactions: a replication group and its member clusters change
//! together or not at all.

use larder_model::{CacheCluster, Event, Fault, ReplicationGroup, Tag};
use serde::de::DeserializeOwned;

use crate::backend::{StoreError, Table, Txn};
use crate::records::{decode, encode, Store};

/// Typed reads and writes inside one transaction.
pub struct Tx<'a> {
    txn: &'a mut dyn Txn,
    events: Vec<Event>,
    /// Whether anything was written; a clean transaction is dropped, not committed,
    /// so the reconcile loop's no-op checks cost no disk flush.
    dirty: bool,
}

impl Tx<'_> {
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, Fault> {
        Ok(match self.txn.get(table, key)? {
            Some(v) => Some(decode(key, &v)?),
            None => None,
        })
    }

    pub(crate) fn all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, Fault> {
        let rows = self.txn.scan(table)?;
        Ok(rows
            .iter()
            .map(|(k, v)| decode(k, v))
            .collect::<Result<_, StoreError>>()?)
    }

    /// One cluster.
    pub fn cluster(&self, id: &str) -> Result<Option<CacheCluster>, Fault> {
        self.get(Table::CacheClusters, id)
    }

    /// Every cluster.
    pub fn clusters(&self) -> Result<Vec<CacheCluster>, Fault> {
        self.all(Table::CacheClusters)
    }

    /// Writes a cluster.
    pub fn put_cluster(&mut self, c: &CacheCluster) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self
            .txn
            .put(Table::CacheClusters, &c.id, &encode(&c.id, c)?)?)
    }

    /// Removes a cluster record.
    pub fn delete_cluster(&mut self, id: &str) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.delete(Table::CacheClusters, id)?)
    }

    /// One replication group.
    pub fn replication_group(&self, id: &str) -> Result<Option<ReplicationGroup>, Fault> {
        self.get(Table::ReplicationGroups, id)
    }

    /// Every replication group.
    pub fn replication_groups(&self) -> Result<Vec<ReplicationGroup>, Fault> {
        self.all(Table::ReplicationGroups)
    }

    /// Writes a replication group.
    pub fn put_replication_group(&mut self, g: &ReplicationGroup) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self
            .txn
            .put(Table::ReplicationGroups, &g.id, &encode(&g.id, g)?)?)
    }

    /// Removes a replication group record.
    pub fn delete_replication_group(&mut self, id: &str) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.delete(Table::ReplicationGroups, id)?)
    }

    /// Replaces a resource's tags.
    pub fn put_tags(&mut self, arn: &str, tags: &[Tag]) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.put(Table::Tags, arn, &encode(arn, &tags)?)?)
    }

    /// Drops a resource's tags.
    pub fn delete_tags(&mut self, arn: &str) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.delete(Table::Tags, arn)?)
    }

    /// Writes an encoded record of a table no typed accessor covers.
    pub(crate) fn put_raw(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.put(table, key, value)?)
    }

    /// Removes a record of a table no typed accessor covers.
    pub(crate) fn delete_raw(&mut self, table: Table, key: &str) -> Result<(), Fault> {
        self.dirty = true;
        Ok(self.txn.delete(table, key)?)
    }

    /// Records an event with the transaction.
    pub fn event(&mut self, e: Event) {
        self.dirty = true;
        self.events.push(e);
    }

    /// A resource's tags (none when it has none).
    pub fn tags(&self, arn: &str) -> Result<Vec<Tag>, Fault> {
        Ok(self.get(Table::Tags, arn)?.unwrap_or_default())
    }
}

impl Store {
    /// Runs `f` in one read-write transaction; an error from `f` changes nothing.
    pub fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        let mut result: Option<Result<T, Fault>> = None;
        self.commit(&mut |txn| {
            let mut tx = Tx {
                txn,
                events: Vec::new(),
                dirty: false,
            };
            match f(&mut tx) {
                Ok(v) => {
                    let events = std::mem::take(&mut tx.events);
                    self.put_events(tx.txn, &events)?;
                    result = Some(Ok(v));
                    Ok(tx.dirty)
                }
                Err(e) => {
                    result = Some(Err(e));
                    Ok(false)
                }
            }
        })?;
        result.unwrap_or_else(|| Err(Fault::Internal("transaction did not run".into())))
    }

    /// One replication group.
    pub fn get_replication_group(&self, id: &str) -> Result<Option<ReplicationGroup>, Fault> {
        if let Some(all) = self.groups.current(self.generation()) {
            return Ok(all.get(id).map(|(_, g)| g.clone()));
        }
        self.read_one(Table::ReplicationGroups, id)
    }

    /// Every replication group, ordered by id (decoded once per commit).
    pub fn list_replication_groups(&self) -> Result<Vec<ReplicationGroup>, Fault> {
        Ok(self
            .groups
            .get(self.backend(), self.generation())?
            .values()
            .map(|(_, g)| g.clone())
            .collect())
    }
}
