//! Automatic backups against the fake agent and a manual clock: one snapshot a day
//! in the window, retention, SnapshottingClusterId, removal with the cache, the
//! `snapshotting` status, and a control-plane crash at every agent request.

use chrono::{DateTime, TimeZone, Utc};
use larder_model::requests::{CreateSnapshot, ModifyReplicationGroup};
use larder_model::{ClusterStatus, Engine, Fault, Snapshot, SnapshotSource, SnapshotStatus};

use super::test_harness::{cluster_request, Harness, GROUP, QUICK_RETRY};
use crate::Clock;

const WINDOW: &str = "05:00-06:00";

fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, h, m, 0).unwrap()
}

/// A harness on a manual clock standing at `now`.
fn harness_at(now: DateTime<Utc>) -> (Harness, Clock) {
    let mut h = Harness::new(QUICK_RETRY);
    let clock = Clock::manual(now);
    h.use_clock(clock.clone());
    (h, clock)
}

/// One-node redis cluster `id` keeping `retention` automatic snapshots, available.
async fn backed_up_cluster(h: &Harness, id: &str, retention: u32) {
    let mut req = cluster_request(id, Engine::Redis, 1);
    req.snapshot_retention_limit = Some(retention);
    req.snapshot_window = Some(WINDOW.into());
    h.controller().create_cache_cluster(req).expect("create");
    h.tick_until("available", |h| {
        h.cluster(id)
            .is_some_and(|c| c.status == ClusterStatus::Available)
    })
    .await;
}

fn automated(h: &Harness) -> Vec<Snapshot> {
    let all = h.controller().store().list_snapshots().expect("store");
    all.into_iter()
        .filter(|s| s.source == SnapshotSource::Automated)
        .collect()
}

fn names(snapshots: &[Snapshot]) -> Vec<&str> {
    snapshots.iter().map(|s| s.name.as_str()).collect()
}

/// Ticks until the automated snapshots are exactly `want`, all available.
async fn automated_become(h: &Harness, want: &[&str]) {
    h.tick_until(&format!("automated {want:?}"), |h| {
        let got = automated(h);
        names(&got) == want && got.iter().all(|s| s.status == SnapshotStatus::Available)
    })
    .await;
}

fn manual(name: &str, cluster: Option<&str>, group: Option<&str>) -> CreateSnapshot {
    CreateSnapshot {
        snapshot_name: name.into(),
        cache_cluster_id: cluster.map(str::to_string),
        replication_group_id: group.map(str::to_string),
        tags: Vec::new(),
    }
}

#[tokio::test]
async fn one_snapshot_a_day_in_the_window_and_the_oldest_beyond_the_limit_goes() {
    let (h, clock) = harness_at(at(1, 4, 0));
    backed_up_cluster(&h, "c", 2).await;
    for _ in 0..3 {
        h.tick().await;
    }
    assert!(automated(&h).is_empty(), "nothing before the window");

    clock.set(at(1, 5, 10));
    automated_become(&h, &["automatic.c-2026-12-01-05-00"]).await;
    let first = &automated(&h)[0];
    assert_eq!(first.cache_cluster_id.as_deref(), Some("c"));
    assert_eq!(first.create_time, at(1, 5, 10), "the scheduler's clock");
    // The agents' file names take letters, digits and hyphens only.
    let asked: Vec<String> = h
        .fake
        .requests()
        .into_iter()
        .filter_map(|r| match r {
            larder_agent::AgentRequest::SaveSnapshot { snapshot, .. } => Some(snapshot),
            _ => None,
        })
        .collect();
    assert!(
        !asked.is_empty() && asked.iter().all(|n| n == "automatic--c-2026-12-01-05-00"),
        "{asked:?}"
    );
    clock.set(at(1, 5, 50));
    for _ in 0..3 {
        h.tick().await;
    }
    assert_eq!(automated(&h).len(), 1, "one a day");

    // A manual snapshot does not count against retention and is never pruned.
    clock.set(at(2, 3, 0));
    h.controller()
        .create_snapshot(manual("keep-me", Some("c"), None))
        .expect("manual");
    clock.set(at(2, 5, 1));
    automated_become(
        &h,
        &[
            "automatic.c-2026-12-01-05-00",
            "automatic.c-2026-12-02-05-00",
        ],
    )
    .await;
    clock.set(at(3, 5, 30));
    automated_become(
        &h,
        &[
            "automatic.c-2026-12-02-05-00",
            "automatic.c-2026-12-03-05-00",
        ],
    )
    .await;
    let kept = h
        .controller()
        .store()
        .get_snapshot("keep-me")
        .expect("store");
    assert_eq!(kept.map(|s| s.status), Some(SnapshotStatus::Available));

    // Deleting the cluster takes its automated snapshots; the manual one stays.
    h.controller()
        .delete_cache_cluster_with_snapshot("c", None)
        .expect("delete");
    h.tick_until("cluster and automated snapshots gone", |h| {
        h.cluster("c").is_none() && automated(h).is_empty()
    })
    .await;
    assert!(h
        .controller()
        .store()
        .get_snapshot("keep-me")
        .expect("store")
        .is_some());
}

#[tokio::test]
async fn a_busy_source_is_snapshotted_later_in_the_same_window() {
    let (h, clock) = harness_at(at(1, 4, 0));
    backed_up_cluster(&h, "c", 1).await;
    let key = h.cluster("c").expect("c").node_key("0001");
    h.fake.slow_saves(&key, 3);
    h.controller()
        .create_snapshot(manual("by-hand", Some("c"), None))
        .expect("manual");
    clock.set(at(1, 5, 0));
    // The manual snapshot holds the source; the day is not marked meanwhile.
    h.tick().await;
    let c = h.cluster("c").expect("c");
    let busy = h.controller().snapshotting().expect("store");
    assert_eq!(busy.cluster_status(&c), "snapshotting");
    assert_eq!(
        c.status,
        ClusterStatus::Available,
        "the record stays available"
    );
    automated_become(&h, &["automatic.c-2026-12-01-05-00"]).await;
    let c = h.cluster("c").expect("c");
    let busy = h.controller().snapshotting().expect("store");
    assert_eq!(busy.cluster_status(&c), "available");
}

#[tokio::test]
async fn a_group_snapshots_its_snapshotting_cluster_and_loses_them_on_delete() {
    let (h, clock) = harness_at(at(1, 4, 0));
    h.create_group(3);
    h.settle().await;
    let turn_on = |member: Option<&str>| ModifyReplicationGroup {
        replication_group_id: GROUP.into(),
        snapshot_retention_limit: Some(1),
        // Clear of the group's default maintenance window, Sunday 05:00.
        snapshot_window: Some("07:00-08:00".into()),
        snapshotting_cluster_id: member.map(str::to_string),
        ..Default::default()
    };
    let refused = h.controller().modify_replication_group(turn_on(None));
    assert!(
        matches!(&refused, Err(Fault::InvalidParameterCombination(m)) if m.contains("SnapshottingClusterId")),
        "{refused:?}"
    );
    assert_eq!(h.group().snapshot_retention_limit, 0, "nothing changed");
    let member = h.group().members[2].clone();
    let g = h
        .controller()
        .modify_replication_group(turn_on(Some(&member)))
        .expect("modify");
    assert_eq!(
        h.controller().snapshotting_cluster(&g),
        Some(member.as_str())
    );
    let shown = h.cluster(&member).expect("member");
    assert_eq!(
        shown.snapshot_retention_limit, 1,
        "members show the group's"
    );

    clock.set(at(1, 7, 5));
    let name = format!("automatic.{GROUP}-2026-12-01-07-00");
    automated_become(&h, &[name.as_str()]).await;
    let s = &automated(&h)[0];
    assert_eq!(s.replication_group_id.as_deref(), Some(GROUP));
    assert_eq!(s.node_snapshots[0].cache_cluster_id, member);

    h.controller()
        .create_snapshot(manual("by-hand", None, Some(GROUP)))
        .expect("manual");
    h.tick_until("manual available", |h| {
        h.controller()
            .store()
            .get_snapshot("by-hand")
            .expect("store")
            .map(|s| s.status)
            == Some(SnapshotStatus::Available)
    })
    .await;
    h.controller()
        .delete_replication_group_with_snapshot(GROUP, false, Some("final"))
        .expect("delete");
    h.tick_until("group and automated snapshots gone", |h| {
        h.controller()
            .store()
            .get_replication_group(GROUP)
            .expect("store")
            .is_none()
            && automated(h).is_empty()
    })
    .await;
    for kept in ["by-hand", "final"] {
        let s = h.controller().store().get_snapshot(kept).expect("store");
        assert!(s.is_some(), "{kept} stays");
    }
}

/// A control plane killed at every agent request from the window's opening until
/// day 2's snapshot is complete and day 1's deleted (retention 1), then restarted:
/// each day gets exactly one snapshot and only day 1's is deleted.
#[tokio::test]
async fn a_crash_at_any_request_takes_each_day_once_and_deletes_only_the_oldest() {
    let day1 = "automatic.c-2026-12-01-05-00";
    let day2 = "automatic.c-2026-12-02-05-00";
    let run = |crash: Option<usize>| async move {
        let (mut h, clock) = harness_at(at(1, 4, 0));
        backed_up_cluster(&h, "c", 1).await;
        let before = h.fake.requests().len();
        clock.set(at(1, 5, 10));
        let mut crashed = false;
        if let Some(n) = crash {
            h.fake.crash_after(n);
        }
        let days = async {
            automated_become(&h, &[day1]).await;
            clock.set(at(2, 5, 10));
            automated_become(&h, &[day2]).await;
        };
        tokio::select! {
            _ = days => {}
            _ = h.fake.crashed() => crashed = true,
        }
        let used = h.fake.requests().len() - before;
        if crashed {
            let seen = automated(&h);
            assert!(seen.len() <= 2, "crash {crash:?}: {:?}", names(&seen));
            h.restart();
            // The daemon comes back on day 2 (a day-1 crash comes back still in
            // day 1's window first, so that day is not skipped).
            if automated(&h).is_empty() {
                automated_become(&h, &[day1]).await;
            }
            clock.set(at(2, 5, 20));
            automated_become(&h, &[day2]).await;
        }
        let c = h.cluster("c").expect("c");
        assert_eq!(c.automated_snapshot_day, Some(at(2, 0, 0).date_naive()));
        let started: Vec<String> = h
            .events("c")
            .into_iter()
            .filter(|m| m.starts_with("Automatic snapshot"))
            .collect();
        assert_eq!(started.len(), 2, "crash {crash:?}: {started:?}");
        used
    };
    let total = run(None).await;
    assert!(total >= 6, "two saves, copies, discards: {total}");
    for n in 0..total {
        run(Some(n)).await;
    }
}
