//! Persistent intent, progress, events and tags. A small backend trait hides the
//! engine (redb today) from the typed records the other crates use.

pub mod backend;
mod hosts;
mod memo;
mod parameter_groups;
pub mod records;
pub mod redb_backend;
mod service_updates;
mod snapshots;
mod subnet_groups;
pub mod tx;

pub use backend::{Backend, StoreError, Table, Txn};
pub use records::{ClusterChange, Store};
pub use redb_backend::RedbBackend;
pub use tx::Tx;

use std::path::Path;
use std::sync::Arc;

/// Opens the embedded store at `path` (a redb file).
pub fn open_embedded(path: &Path) -> Result<Store, StoreError> {
    Ok(Store::new(Arc::new(RedbBackend::open(path)?)))
}
