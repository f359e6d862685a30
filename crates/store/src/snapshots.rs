//! Snapshot records. A snapshot changes in the same transaction as the events it
//! causes, and its creation checks the name inside the transaction.

use larder_model::{Fault, Snapshot};

use crate::backend::Table;
use crate::records::{encode, Store};
use crate::tx::Tx;

impl Tx<'_> {
    /// One snapshot.
    pub fn snapshot(&self, name: &str) -> Result<Option<Snapshot>, Fault> {
        self.get(Table::Snapshots, name)
    }

    /// Every snapshot, ordered by name.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>, Fault> {
        self.all(Table::Snapshots)
    }

    /// Writes a snapshot.
    pub fn put_snapshot(&mut self, s: &Snapshot) -> Result<(), Fault> {
        let value = encode(&s.name, s)?;
        self.put_raw(Table::Snapshots, &s.name, &value)
    }

    /// Inserts a new snapshot; `SnapshotAlreadyExists` if the name is taken.
    pub fn create_snapshot(&mut self, s: &Snapshot) -> Result<(), Fault> {
        if self.snapshot(&s.name)?.is_some() {
            return Err(Fault::SnapshotAlreadyExists(s.name.clone()));
        }
        self.put_snapshot(s)
    }

    /// Removes a snapshot record.
    pub fn delete_snapshot(&mut self, name: &str) -> Result<(), Fault> {
        self.delete_raw(Table::Snapshots, name)
    }
}

impl Store {
    /// One snapshot by name.
    pub fn get_snapshot(&self, name: &str) -> Result<Option<Snapshot>, Fault> {
        self.read_one(Table::Snapshots, name)
    }

    /// Every snapshot, ordered by name.
    pub fn list_snapshots(&self) -> Result<Vec<Snapshot>, Fault> {
        self.read_all(Table::Snapshots)
    }

    /// Reads a snapshot, lets `f` change it, and writes it back with the events `f`
    /// returns, in one transaction; nothing is committed when nothing changed.
    pub fn update_snapshot<T>(
        &self,
        name: &str,
        mut f: impl FnMut(&mut Snapshot, &mut Vec<larder_model::Event>) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        self.transaction(|tx| {
            let before = tx
                .snapshot(name)?
                .ok_or_else(|| Fault::SnapshotNotFound(name.to_string()))?;
            let mut s = before.clone();
            let mut events = Vec::new();
            let v = f(&mut s, &mut events)?;
            if s != before {
                tx.put_snapshot(&s)?;
            }
            events.into_iter().for_each(|e| tx.event(e));
            Ok(v)
        })
    }
}
