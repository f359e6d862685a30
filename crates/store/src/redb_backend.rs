//! The embedded default backend: one redb file under the data directory. redb commits
//! are atomic and fsynced, so a crash at any point leaves the last committed state.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::backend::{Backend, StoreError, Table, Txn};

fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A redb database file.
pub struct RedbBackend {
    db: Database,
}

impl RedbBackend {
    /// Opens or creates the database at `path` and makes sure every table exists.
    pub fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let w = db.begin_write().map_err(err)?;
        for t in Table::ALL {
            w.open_table(def(t)).map_err(err)?;
        }
        w.commit().map_err(err)?;
        Ok(RedbBackend { db })
    }
}

struct WriteTxn<'a>(&'a WriteTransaction);
struct ReadTxn<'a>(&'a ReadTransaction);

impl Txn for WriteTxn<'_> {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.0.open_table(def(table)).map_err(err)?;
        let v = t.get(key).map_err(err)?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut t = self.0.open_table(def(table)).map_err(err)?;
        t.insert(key, value).map_err(err)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<(), StoreError> {
        let mut t = self.0.open_table(def(table)).map_err(err)?;
        t.remove(key).map_err(err)?;
        Ok(())
    }

    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.0.open_table(def(table)).map_err(err)?;
        collect(t.iter().map_err(err)?)
    }
}

impl Txn for ReadTxn<'_> {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.0.open_table(def(table)).map_err(err)?;
        let v = t.get(key).map_err(err)?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, _: Table, _: &str, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    fn delete(&mut self, _: Table, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.0.open_table(def(table)).map_err(err)?;
        collect(t.iter().map_err(err)?)
    }
}

fn collect(
    range: redb::Range<'_, &'static str, &'static [u8]>,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    range
        .map(|item| {
            let (k, v) = item.map_err(err)?;
            Ok((k.value().to_string(), v.value().to_vec()))
        })
        .collect()
}

impl Backend for RedbBackend {
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(err)?;
        let commit = f(&mut WriteTxn(&w))?;
        if commit {
            w.commit().map_err(err)?;
        } else {
            w.abort().map_err(err)?;
        }
        Ok(())
    }

    fn read(
        &self,
        f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let r = self.db.begin_read().map_err(err)?;
        f(&ReadTxn(&r))
    }
}
