//! Decoded records kept between commits. The reconcile loop lists every cluster
//! four times a second and the health loop every group ten times; decoding each
//! record from the backend every time made an idle fleet's cost grow with its size.
//! The memo of a table is valid for one commit generation: any committed write
//! moves the generation, and the next read rebuilds the memo, decoding only the
//! records whose stored bytes changed.
//!
//! Only this process writes the store, so the generation sees every change. A memo
//! is labelled with the generation read *before* its snapshot, so a label is never
//! newer than the data under it: a commit racing the rebuild only costs another one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use larder_model::Fault;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, Table};
use crate::records::decode;

/// One table's records as stored (the bytes) and decoded.
pub(crate) type Records<T> = BTreeMap<String, (Vec<u8>, T)>;

/// The memo of one table.
pub(crate) struct Memo<T> {
    table: Table,
    /// (generation, records) of the last rebuild.
    held: Mutex<Option<(u64, Arc<Records<T>>)>>,
}

impl<T: DeserializeOwned + Clone> Memo<T> {
    pub(crate) fn new(table: Table) -> Memo<T> {
        Memo {
            table,
            held: Mutex::new(None),
        }
    }

    /// The table's records as of `generation` or later.
    pub(crate) fn get(
        &self,
        backend: &dyn Backend,
        generation: &AtomicU64,
    ) -> Result<Arc<Records<T>>, Fault> {
        let now = generation.load(Ordering::Acquire);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, records)) = held.as_ref() {
            if *g == now {
                return Ok(records.clone());
            }
        }
        let old = held.take().map(|(_, r)| r);
        let mut fresh: Records<T> = BTreeMap::new();
        let table = self.table;
        backend.read(&mut |txn| {
            fresh.clear();
            for (key, bytes) in txn.scan(table)? {
                let reused = old
                    .as_ref()
                    .and_then(|o| o.get(&key))
                    .filter(|(b, _)| *b == bytes)
                    .map(|(_, v)| v.clone());
                let value = match reused {
                    Some(v) => v,
                    None => decode(&key, &bytes)?,
                };
                fresh.insert(key, (bytes, value));
            }
            Ok(())
        })?;
        let fresh = Arc::new(fresh);
        *held = Some((now, fresh.clone()));
        Ok(fresh)
    }

    /// Whether the memo is valid at `generation` (a single read can then use it
    /// instead of the backend).
    pub(crate) fn current(&self, generation: &AtomicU64) -> Option<Arc<Records<T>>> {
        let now = generation.load(Ordering::Acquire);
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|(g, _)| *g == now)
            .map(|(_, r)| r.clone())
    }
}
