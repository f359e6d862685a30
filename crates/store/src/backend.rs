//! The storage backend trait: named tables of string keys to byte values, changed in
//! transactions. Small on purpose so a distributed backend (etcd) can implement it.

use thiserror::Error;

/// The tables Larder keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// CacheClusterId → cluster record (intent + progress).
    CacheClusters,
    /// ReplicationGroupId → replication group record.
    ReplicationGroups,
    /// Time-ordered key → event.
    Events,
    /// ARN → tag list.
    Tags,
    /// Small daemon-wide values (counters, schema version).
    Meta,
    /// Host id → the host's agent (zone, link, advertised address).
    Hosts,
    /// SnapshotName → snapshot record (settings, files, progress).
    Snapshots,
    /// CacheParameterGroupName → custom parameter group (defaults are not stored).
    CacheParameterGroups,
    /// CacheSubnetGroupName → custom subnet group (`default` is not stored).
    CacheSubnetGroups,
}

impl Table {
    /// Every table, for backends that create them up front.
    pub const ALL: [Table; 9] = [
        Table::CacheClusters,
        Table::ReplicationGroups,
        Table::Events,
        Table::Tags,
        Table::Meta,
        Table::Hosts,
        Table::Snapshots,
        Table::CacheParameterGroups,
        Table::CacheSubnetGroups,
    ];

    /// The table's stable name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Table::CacheClusters => "cache_clusters",
            Table::ReplicationGroups => "replication_groups",
            Table::Events => "events",
            Table::Tags => "tags",
            Table::Meta => "meta",
            Table::Hosts => "hosts",
            Table::Snapshots => "snapshots",
            Table::CacheParameterGroups => "cache_parameter_groups",
            Table::CacheSubnetGroups => "cache_subnet_groups",
        }
    }
}

/// A storage failure. These are bugs or disk trouble, never user errors.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
    /// A record could not be encoded or decoded.
    #[error("store record {key}: {source}")]
    Codec {
        /// The record's key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// Reads and writes inside one transaction.
pub trait Txn {
    /// Reads one value.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes one value.
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes one value; absent keys are fine.
    fn delete(&mut self, table: Table, key: &str) -> Result<(), StoreError>;
    /// All entries of a table in key order.
    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// A transactional key-value store.
pub trait Backend: Send + Sync {
    /// Runs `f` in a serialisable read-write transaction. When `f` returns `Ok(true)`
    /// every write commits together; `Ok(false)` or an error drops them all.
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `f` against a consistent snapshot.
    fn read(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>)
        -> Result<(), StoreError>;
}
