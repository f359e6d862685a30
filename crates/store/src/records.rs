//! Typed access to the backend: cache clusters, events and tags as serde records.
//! Every change to a cluster and the events it causes commit in one transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use larder_model::{CacheCluster, Event, Fault, ReplicationGroup, Tag};
use serde::{de::DeserializeOwned, Serialize};

use crate::backend::{Backend, StoreError, Table, Txn};
use crate::memo::Memo;

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Fault {
        Fault::Internal(e.to_string())
    }
}

pub(crate) fn encode<T: Serialize>(key: &str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|source| StoreError::Codec {
        key: key.into(),
        source,
    })
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|source| StoreError::Codec {
        key: key.into(),
        source,
    })
}

/// The store Larder's layers share.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    event_seq: Arc<AtomicU64>,
    /// Moves on every commit; the memos are valid for one value of it.
    generation: Arc<AtomicU64>,
    clusters: Arc<Memo<CacheCluster>>,
    pub(crate) groups: Arc<Memo<ReplicationGroup>>,
}

/// What a closure passed to [`Store::update_cluster`] may do besides editing the record.
pub struct ClusterChange {
    /// Events to record with the change.
    pub events: Vec<Event>,
    /// Set to remove the record (and its tags) instead of writing it back.
    pub delete_with_tags_arn: Option<String>,
}

impl Store {
    /// Wraps a backend.
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            event_seq: Arc::new(AtomicU64::new(0)),
            generation: Arc::new(AtomicU64::new(0)),
            clusters: Arc::new(Memo::new(Table::CacheClusters)),
            groups: Arc::new(Memo::new(Table::ReplicationGroups)),
        }
    }

    /// Runs `f` in a backend transaction that commits when it returns `Ok(true)`;
    /// every write to the store goes through here, so the memos see it.
    pub(crate) fn commit(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut wrote = false;
        let r = self.backend.transact(&mut |txn| {
            let commit = f(txn)?;
            wrote = commit;
            Ok(commit)
        });
        if wrote {
            // Also after a failed commit: a memo rebuilt for nothing costs little.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        r
    }

    pub(crate) fn generation(&self) -> &AtomicU64 {
        &self.generation
    }

    fn event_key(&self, e: &Event) -> String {
        let nanos = e.date.timestamp_nanos_opt().unwrap_or_default();
        let seq = self.event_seq.fetch_add(1, Ordering::Relaxed);
        format!("{nanos:020}-{seq:010}")
    }

    pub(crate) fn put_events(&self, txn: &mut dyn Txn, events: &[Event]) -> Result<(), StoreError> {
        for e in events {
            let key = self.event_key(e);
            txn.put(Table::Events, &key, &encode(&key, e)?)?;
        }
        Ok(())
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Every cluster as of the last commit, decoded once per commit.
    fn cluster_records(&self) -> Result<Arc<crate::memo::Records<CacheCluster>>, Fault> {
        self.clusters.get(self.backend(), &self.generation)
    }

    /// One record from a consistent snapshot.
    pub(crate) fn read_one<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, Fault> {
        let mut out = None;
        self.backend.read(&mut |txn| {
            out = match txn.get(table, key)? {
                Some(v) => Some(decode(key, &v)?),
                None => None,
            };
            Ok(())
        })?;
        Ok(out)
    }

    /// Every record of a table, in key order, from a consistent snapshot.
    pub(crate) fn read_all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, Fault> {
        let mut out = Vec::new();
        self.backend.read(&mut |txn| {
            out = txn
                .scan(table)?
                .iter()
                .map(|(k, v)| decode(k, v))
                .collect::<Result<_, _>>()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// One cluster by id.
    pub fn get_cluster(&self, id: &str) -> Result<Option<CacheCluster>, Fault> {
        if let Some(all) = self.clusters.current(&self.generation) {
            return Ok(all.get(id).map(|(_, c)| c.clone()));
        }
        self.read_one(Table::CacheClusters, id)
    }

    /// Every cluster, ordered by id.
    pub fn list_clusters(&self) -> Result<Vec<CacheCluster>, Fault> {
        Ok(self
            .cluster_records()?
            .values()
            .map(|(_, c)| c.clone())
            .collect())
    }

    /// Up to `limit` clusters with ids after `after` (all when `None`) that `keep`
    /// accepts, in id order, and whether more follow: one page costs the page, not a
    /// copy of every cluster.
    pub fn clusters_page(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: &dyn Fn(&CacheCluster) -> bool,
    ) -> Result<(Vec<CacheCluster>, bool), Fault> {
        use std::ops::Bound;
        let all = self.cluster_records()?;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let mut matching = all
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, (_, c))| c)
            .filter(|c| keep(c));
        let page: Vec<CacheCluster> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        Ok((page, more))
    }

    /// Inserts a new cluster with its tags and events; fails with
    /// `CacheClusterAlreadyExists` if the id is taken. `check` runs inside the same
    /// transaction against every existing cluster, for quotas that span clusters.
    pub fn create_cluster(
        &self,
        cluster: &CacheCluster,
        tags: Option<(&str, &[Tag])>,
        events: &[Event],
        check: &dyn Fn(&[CacheCluster]) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        self.transaction(|tx| {
            if tx.cluster(&cluster.id)?.is_some() {
                return Err(Fault::CacheClusterAlreadyExists(cluster.id.clone()));
            }
            check(&tx.clusters()?)?;
            tx.put_cluster(cluster)?;
            if let Some((arn, tags)) = tags {
                tx.put_tags(arn, tags)?;
            }
            events.iter().for_each(|e| tx.event(e.clone()));
            Ok(())
        })
    }

    /// Reads a cluster, lets `f` change it, and writes it back with the events `f`
    /// queued, all in one transaction. An error from `f` changes nothing, and nothing
    /// is committed when `f` changed nothing.
    pub fn update_cluster<T>(
        &self,
        id: &str,
        mut f: impl FnMut(&mut CacheCluster, &mut ClusterChange) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        self.transaction(|tx| {
            let before = tx
                .cluster(id)?
                .ok_or_else(|| Fault::CacheClusterNotFound(id.to_string()))?;
            let mut cluster = before.clone();
            let mut change = ClusterChange {
                events: Vec::new(),
                delete_with_tags_arn: None,
            };
            let v = f(&mut cluster, &mut change)?;
            if let Some(arn) = &change.delete_with_tags_arn {
                tx.delete_cluster(id)?;
                tx.delete_tags(arn)?;
            } else if cluster != before {
                tx.put_cluster(&cluster)?;
            }
            change.events.into_iter().for_each(|e| tx.event(e));
            Ok(v)
        })
    }

    /// [`Store::update_cluster`] for a change that is a pure function of the record
    /// (no side effects, no deletion): `f` is tried on the record as of the last
    /// commit first, and the write transaction is opened only when it changes the
    /// record or queues events. The reconcile loop's settle checks find nothing to
    /// do on almost every pass; they must not each take the store's write lock.
    pub fn update_cluster_pure<T>(
        &self,
        id: &str,
        f: impl Fn(&mut CacheCluster, &mut Vec<Event>) -> T,
    ) -> Result<T, Fault> {
        if let Some(all) = self.clusters.current(&self.generation) {
            let Some((_, before)) = all.get(id) else {
                return Err(Fault::CacheClusterNotFound(id.to_string()));
            };
            let mut trial = before.clone();
            let mut events = Vec::new();
            let v = f(&mut trial, &mut events);
            if trial == *before && events.is_empty() {
                return Ok(v);
            }
        }
        self.update_cluster(id, |c, change| Ok(f(c, &mut change.events)))
    }

    /// Records events that belong to no record change.
    pub fn append_events(&self, events: &[Event]) -> Result<(), Fault> {
        self.commit(&mut |txn| {
            self.put_events(txn, events)?;
            Ok(true)
        })?;
        Ok(())
    }

    /// Every stored event, oldest first.
    pub fn list_events(&self) -> Result<Vec<Event>, Fault> {
        self.read_all(Table::Events)
    }

    /// Drops events older than `cutoff` (ElastiCache keeps 14 days).
    pub fn prune_events(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<(), Fault> {
        let limit = format!("{:020}", cutoff.timestamp_nanos_opt().unwrap_or_default());
        self.commit(&mut |txn| {
            let old: Vec<String> = txn
                .scan(Table::Events)?
                .into_iter()
                .map(|(k, _)| k)
                .take_while(|k| k.as_str() < limit.as_str())
                .collect();
            for k in &old {
                txn.delete(Table::Events, k)?;
            }
            Ok(!old.is_empty())
        })?;
        Ok(())
    }

    /// The tags on a resource.
    pub fn tags(&self, arn: &str) -> Result<Vec<Tag>, Fault> {
        Ok(self.read_one(Table::Tags, arn)?.unwrap_or_default())
    }

    /// Changes the tags on a resource in one transaction; an error from `f` changes nothing.
    pub fn update_tags(
        &self,
        arn: &str,
        mut f: impl FnMut(&mut Vec<Tag>) -> Result<(), Fault>,
    ) -> Result<Vec<Tag>, Fault> {
        self.transaction(|tx| {
            let mut tags = tx.tags(arn)?;
            f(&mut tags)?;
            tx.put_tags(arn, &tags)?;
            Ok(tags)
        })
    }
}
