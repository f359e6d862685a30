//! Read-only operations: DescribeCacheClusters, DescribeEvents,
//! ListAllowedNodeTypeModifications and DescribeCacheEngineVersions.

use chrono::{DateTime, Duration, Utc};
use larder_model::{CacheCluster, Event, Fault, NodeType, SourceType};

use crate::{Controller, EngineVersion};

/// One page of clusters and the marker for the next page.
pub struct ClusterPage {
    /// Clusters on this page.
    pub clusters: Vec<CacheCluster>,
    /// Where the next page starts, if there is one.
    pub marker: Option<String>,
}

/// DescribeEvents filters, already parsed.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    /// Resource id.
    pub source_identifier: Option<String>,
    /// Resource kind name.
    pub source_type: Option<String>,
    /// Window start.
    pub start_time: Option<DateTime<Utc>>,
    /// Window end.
    pub end_time: Option<DateTime<Utc>>,
    /// Minutes back from now.
    pub duration: Option<i64>,
}

/// The page size for MaxRecords (default 100); the api's table checked it is 20..=100.
pub fn page_size(max_records: Option<i64>) -> usize {
    max_records.map_or(100, |n| n.max(1) as usize)
}

/// Cuts one page out of `items` starting at the opaque `marker` (an index we issued).
pub fn paginate<T>(
    mut items: Vec<T>,
    max_records: Option<i64>,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>), Fault> {
    let size = page_size(max_records);
    let start: usize = match marker {
        None => 0,
        Some(m) => m
            .parse()
            .map_err(|_| Fault::invalid("Marker", m, "is not a marker Larder issued"))?,
    };
    if start > items.len() {
        return Ok((Vec::new(), None));
    }
    let rest = items.split_off(start);
    let more = rest.len() > size;
    let page: Vec<T> = rest.into_iter().take(size).collect();
    Ok((page, more.then(|| (start + size).to_string())))
}

impl Controller {
    /// One cluster (or `CacheClusterNotFound`), or a page of all of them.
    pub fn describe_cache_clusters(
        &self,
        id: Option<&str>,
        max_records: Option<i64>,
        marker: Option<&str>,
        standalone_only: bool,
    ) -> Result<ClusterPage, Fault> {
        if let Some(id) = id {
            let id = id.to_ascii_lowercase();
            let c = self
                .store()
                .get_cluster(&id)?
                .ok_or(Fault::CacheClusterNotFound(id))?;
            return Ok(ClusterPage {
                clusters: vec![c],
                marker: None,
            });
        }
        // The marker is the last id returned, so deleting or adding clusters between
        // pages neither skips nor repeats any (the store lists in id order). Only the
        // page is copied out of the store, whatever the fleet's size.
        let size = page_size(max_records);
        let (rest, more) = self.store().clusters_page(marker, size, &|c| {
            !standalone_only || c.replication_group_id.is_none()
        })?;
        let marker = if more {
            rest.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(ClusterPage {
            clusters: rest,
            marker,
        })
    }

    /// Events matching the filter, oldest first, within the last 14 days.
    pub fn describe_events(&self, f: &EventFilter) -> Result<Vec<Event>, Fault> {
        // The api checked SourceType's spelling, Duration's range and that
        // SourceIdentifier comes with a SourceType.
        let source_type = f.source_type.as_deref().and_then(SourceType::parse);
        let now = Utc::now();
        let end = f.end_time.unwrap_or(now);
        let start = match (f.start_time, f.duration) {
            (Some(s), _) => s,
            (None, Some(d)) => end - Duration::minutes(d),
            (None, None) => now - Duration::minutes(60),
        };
        let oldest = now - Duration::days(14);
        Ok(self
            .store()
            .list_events()?
            .into_iter()
            .filter(|e| e.date >= start && e.date <= end && e.date >= oldest)
            .filter(|e| source_type.is_none_or(|t| e.source_type == t))
            .filter(|e| {
                f.source_identifier
                    .as_deref()
                    .is_none_or(|id| e.source_identifier == id.to_ascii_lowercase())
            })
            .collect())
    }

    /// (scale up, scale down) node types for a cluster.
    pub fn list_allowed_node_type_modifications(
        &self,
        cluster_id: Option<&str>,
        replication_group_id: Option<&str>,
    ) -> Result<(Vec<&'static str>, Vec<&'static str>), Fault> {
        let node_type = match (cluster_id, replication_group_id) {
            (Some(id), None) => {
                let id = id.to_ascii_lowercase();
                self.store()
                    .get_cluster(&id)?
                    .ok_or(Fault::CacheClusterNotFound(id))?
                    .cache_node_type
            }
            (None, Some(id)) => {
                let id = id.to_ascii_lowercase();
                self.store()
                    .get_replication_group(&id)?
                    .ok_or(Fault::ReplicationGroupNotFound(id))?
                    .cache_node_type
            }
            // The api's table lets exactly one of the two through.
            _ => return Err(Fault::Internal("no resource named".into())),
        };
        let t = NodeType::find(&node_type)
            .ok_or_else(|| Fault::Internal(format!("unknown stored node type {node_type}")))?;
        Ok(t.allowed_modifications())
    }

    /// Installed engine versions matching the filters.
    pub fn describe_cache_engine_versions(
        &self,
        engine: Option<&str>,
        version: Option<&str>,
        family: Option<&str>,
    ) -> Vec<EngineVersion> {
        self.engines()
            .versions
            .iter()
            .filter(|v| engine.is_none_or(|e| v.engine.as_str().eq_ignore_ascii_case(e)))
            .filter(|v| version.is_none_or(|r| v.matches(r)))
            .filter(|v| family.is_none_or(|f| v.family == f))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..45).collect();
        let (p1, m1) = paginate(items.clone(), Some(20), None).unwrap();
        let (p2, m2) = paginate(items.clone(), Some(20), m1.as_deref()).unwrap();
        let (p3, m3) = paginate(items.clone(), Some(20), m2.as_deref()).unwrap();
        assert_eq!((p1.len(), p2.len(), p3.len()), (20, 20, 5));
        assert!(m3.is_none());
        assert!(paginate(items, None, Some("x")).is_err());
    }
}
