//! The decisions of the automatic backup scheduler, as pure functions of the
//! records and the time, so they can be tested without a loop or an agent.

use chrono::{DateTime, NaiveDate, Utc};
use larder_model::snapshot::automated_snapshot_name;
use larder_model::{Snapshot, SnapshotStatus, SnapshotWindow};

/// The automatic snapshot a cache is due for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    /// The day it is for: the date its window occurrence began.
    pub day: NaiveDate,
    /// Its name, which follows from the day alone.
    pub name: String,
}

/// The snapshot due for `source_id` at `now`: backups on, the window open, and no
/// automatic snapshot started yet for this occurrence's day. One a day at most,
/// whatever the clock does in between.
pub(crate) fn due(
    source_id: &str,
    retention: u32,
    window: Option<&str>,
    last_day: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Option<Due> {
    if retention == 0 {
        return None;
    }
    let start = SnapshotWindow::parse(window?).ok()?.occurrence(now)?;
    let day = start.date_naive();
    if last_day.is_some_and(|d| d >= day) {
        return None;
    }
    Some(Due {
        day,
        name: automated_snapshot_name(source_id, start),
    })
}

/// Which of one cache's automatic snapshots go (`automated` holds only those): the
/// available ones beyond the newest `limit`, and failed ones older than the newest
/// available one (they hold no data). A snapshot still `creating` counts for
/// nothing, so the oldest is deleted only once its successor is complete. Retention
/// 0 turns the schedule off but deletes nothing: the user deletes them.
pub(crate) fn beyond_retention(automated: &[&Snapshot], limit: u32) -> Vec<String> {
    if limit == 0 {
        return Vec::new();
    }
    let mut available: Vec<&Snapshot> = automated
        .iter()
        .copied()
        .filter(|s| s.status == SnapshotStatus::Available)
        .collect();
    available.sort_by(|a, b| (b.create_time, &b.name).cmp(&(a.create_time, &a.name)));
    let newest = available.first().map(|s| s.create_time);
    let failed = automated.iter().filter(|s| {
        s.status == SnapshotStatus::Failed && newest.is_some_and(|t| s.create_time < t)
    });
    available
        .iter()
        .skip(limit as usize)
        .copied()
        .chain(failed.copied())
        .map(|s| s.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, h, m, 0).unwrap()
    }

    #[test]
    fn due_once_per_day_inside_the_window() {
        let w = Some("05:00-06:00");
        assert_eq!(
            due("c", 2, w, None, at(3, 4, 59)),
            None,
            "before the window"
        );
        let d = due("c", 2, w, None, at(3, 5, 20)).expect("in the window");
        assert_eq!(d.name, "automatic.c-2026-12-03-05-00");
        assert_eq!(d.day, at(3, 0, 0).date_naive());
        assert_eq!(
            due("c", 2, w, Some(d.day), at(3, 5, 40)),
            None,
            "taken today"
        );
        assert_eq!(due("c", 2, w, None, at(3, 6, 0)), None, "after the window");
        assert_eq!(due("c", 0, w, None, at(3, 5, 20)), None, "backups off");
        let next = due("c", 2, w, Some(d.day), at(4, 5, 1)).expect("the next day");
        assert_eq!(next.name, "automatic.c-2026-12-04-05-00");
        assert_eq!(
            due("c", 2, w, Some(next.day), at(3, 5, 30)),
            None,
            "a clock set back does not take a day again"
        );
    }

    #[test]
    fn a_window_past_midnight_is_for_the_day_it_starts() {
        let w = Some("23:30-00:30");
        let d = due("g", 1, w, None, at(4, 0, 10)).expect("due");
        assert_eq!(d.name, "automatic.g-2026-12-03-23-30");
        assert_eq!(due("g", 1, w, Some(d.day), at(3, 23, 50)), None);
    }

    fn snap(name: &str, day: u32, status: SnapshotStatus) -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "name": name, "status": "available", "source": "automated",
            "cache_cluster_id": "c", "replication_group_id": null,
            "replication_group_description": null, "engine": "redis",
            "engine_version": "7.0", "cache_node_type": "cache.t3.micro",
            "num_cache_nodes": 1, "preferred_availability_zone": "a",
            "cache_cluster_create_time": "2026-11-01T00:00:00Z",
            "preferred_maintenance_window": "sun:05:00-sun:06:00", "port": 6379,
            "cache_parameter_group_name": "default.redis7",
            "cache_subnet_group_name": null, "auto_minor_version_upgrade": true,
            "snapshot_retention_limit": 2, "snapshot_window": "05:00-06:00",
            "num_node_groups": null, "automatic_failover": null,
            "node_snapshots": [], "create_time": "2026-11-01T00:00:00Z"
        }))
        .expect("snapshot");
        s.status = status;
        s.create_time = at(day, 5, 0);
        s
    }

    #[test]
    fn the_oldest_beyond_the_limit_go_once_their_successor_is_complete() {
        use SnapshotStatus::*;
        let (d1, d2, d3) = (
            snap("d1", 1, Available),
            snap("d2", 2, Available),
            snap("d3", 3, Creating),
        );
        assert!(beyond_retention(&[&d1, &d2, &d3], 2).is_empty());
        let d3 = snap("d3", 3, Available);
        assert_eq!(beyond_retention(&[&d3, &d1, &d2], 2), vec!["d1"]);
        assert_eq!(beyond_retention(&[&d3, &d1, &d2], 1), vec!["d2", "d1"]);
        assert!(beyond_retention(&[&d3, &d1, &d2], 0).is_empty(), "off");
        let f = snap("f", 2, Failed);
        assert_eq!(beyond_retention(&[&d3, &f], 2), vec!["f"]);
        assert!(beyond_retention(&[&f], 2).is_empty(), "no newer data yet");
    }
}
