//! Node workflows driven against the fake agent with injected start failures: the
//! attempts, their events and backoff, the terminal failed states, a daemon crash
//! between two attempts, and deleting what failed.

use std::time::Duration;

use larder_agent::fake::{FakeProcess, REFUSED_REASON};
use larder_model::{ClusterStatus, Engine, Fault, NodeStatus, ReplicationGroupStatus};

use super::test_harness::{Harness, GROUP, QUICK_RETRY};
use crate::RetryPolicy;

/// Every start refused.
const ALWAYS: u32 = u32::MAX;

/// The events about `id` that report a failed attempt, and those that give up.
fn attempt_events(h: &Harness, id: &str) -> (Vec<String>, Vec<String>) {
    let events = h.events(id);
    let failed = events
        .iter()
        .filter(|m| m.starts_with("Failed to ") && m.contains("(attempt "))
        .cloned()
        .collect();
    let gave_up = events
        .iter()
        .filter(|m| m.starts_with("Failed to ") && m.contains(" attempts: "))
        .cloned()
        .collect();
    (failed, gave_up)
}

fn is_status(h: &Harness, id: &str, status: ClusterStatus) -> bool {
    h.cluster(id).is_some_and(|c| c.status == status)
}

#[tokio::test]
async fn a_node_that_never_starts_ends_create_failed_with_an_event_per_attempt() {
    let h = Harness::new(QUICK_RETRY);
    h.fake.refuse_starts("doomed-0001", ALWAYS);
    h.create_cluster("doomed", Engine::Redis, 1);
    h.tick_until("create-failed", |h| {
        is_status(h, "doomed", ClusterStatus::CreateFailed)
    })
    .await;

    let c = h.cluster("doomed").expect("cluster");
    assert_eq!(c.nodes[0].status, NodeStatus::CreateFailed);
    assert_eq!(c.nodes[0].attempts, QUICK_RETRY.max_attempts);
    assert_eq!(h.fake.starts("doomed-0001"), 4, "one start per attempt");
    let (failed, gave_up) = attempt_events(&h, "doomed");
    assert_eq!(failed.len(), 3, "{failed:?}");
    for (i, m) in failed.iter().enumerate() {
        assert!(m.contains(&format!("(attempt {} of 4)", i + 1)), "{m}");
        assert!(
            m.contains(REFUSED_REASON),
            "the reason is in the event: {m}"
        );
    }
    assert_eq!(gave_up.len(), 1, "{gave_up:?}");
    assert!(gave_up[0].contains("after 4 attempts"), "{}", gave_up[0]);
    assert!(gave_up[0].contains("create-failed"), "{}", gave_up[0]);

    // Terminal: more ticks try nothing more.
    for _ in 0..5 {
        h.tick().await;
    }
    assert_eq!(h.fake.starts("doomed-0001"), 4);
    assert_eq!(h.events("doomed").len(), 4);
}

#[tokio::test]
async fn a_node_that_fails_twice_then_starts_ends_available() {
    let h = Harness::new(QUICK_RETRY);
    h.fake.refuse_starts("late-0001", 2);
    h.create_cluster("late", Engine::Redis, 1);
    h.tick_until("available", |h| {
        is_status(h, "late", ClusterStatus::Available)
    })
    .await;

    let c = h.cluster("late").expect("cluster");
    assert_eq!(c.nodes[0].status, NodeStatus::Available);
    assert_eq!((c.nodes[0].attempts, c.nodes[0].retry_at), (0, None));
    assert_eq!(h.fake.starts("late-0001"), 3);
    let (failed, gave_up) = attempt_events(&h, "late");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(gave_up.is_empty(), "{gave_up:?}");
    assert!(h
        .events("late")
        .iter()
        .any(|m| m == "Cache cluster created"));
}

#[tokio::test]
async fn a_crash_between_attempts_resumes_the_count() {
    let mut h = Harness::new(QUICK_RETRY);
    h.fake.refuse_starts("crashy-0001", ALWAYS);
    h.create_cluster("crashy", Engine::Redis, 1);
    h.tick().await;
    h.tick().await;
    assert_eq!(h.cluster("crashy").expect("cluster").nodes[0].attempts, 2);

    h.restart();
    h.tick_until("create-failed", |h| {
        is_status(h, "crashy", ClusterStatus::CreateFailed)
    })
    .await;
    // Two attempts before the crash and two after: four in all, not 2 + 4.
    assert_eq!(h.fake.starts("crashy-0001"), 4);
    assert_eq!(h.cluster("crashy").expect("cluster").nodes[0].attempts, 4);
    let (failed, gave_up) = attempt_events(&h, "crashy");
    assert_eq!(
        (failed.len(), gave_up.len()),
        (3, 1),
        "{failed:?} {gave_up:?}"
    );
}

#[tokio::test]
async fn the_backoff_is_waited_out_even_across_a_restart() {
    let slow = RetryPolicy {
        max_attempts: 4,
        first_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
    };
    let mut h = Harness::new(slow);
    h.fake.refuse_starts("patient-0001", ALWAYS);
    h.create_cluster("patient", Engine::Redis, 1);
    for _ in 0..3 {
        h.tick().await;
    }
    assert_eq!(
        h.fake.starts("patient-0001"),
        1,
        "retried before the backoff"
    );
    let c = h.cluster("patient").expect("cluster");
    assert!(c.nodes[0].retry_at.is_some());
    let first = &h.events("patient")[0];
    assert!(first.ends_with("retrying in 60m"), "{first}");

    h.restart();
    h.tick().await;
    assert_eq!(
        h.fake.starts("patient-0001"),
        1,
        "a restart forgot the backoff"
    );
    assert!(is_status(&h, "patient", ClusterStatus::Creating));
}

#[tokio::test]
async fn a_creating_cluster_cannot_be_deleted_but_a_failed_one_can() {
    let h = Harness::new(QUICK_RETRY);
    h.fake.refuse_starts("half-0002", ALWAYS);
    h.create_cluster("half", Engine::Memcached, 2);
    // As on ElastiCache: no cancel of a create.
    let early = h.controller().delete_cache_cluster("half");
    assert!(
        matches!(early, Err(Fault::InvalidCacheClusterState(_))),
        "{early:?}"
    );
    h.tick_until("create-failed", |h| {
        is_status(h, "half", ClusterStatus::CreateFailed)
    })
    .await;
    // The node that did start still runs until the delete.
    let first = h.fake.node("half-0001").expect("node 0001");
    assert_eq!(first.process, FakeProcess::Running);
    let c = h.cluster("half").expect("cluster");
    assert_eq!(c.nodes[0].status, NodeStatus::Available);
    assert_eq!(c.nodes[1].status, NodeStatus::CreateFailed);

    h.controller().delete_cache_cluster("half").expect("delete");
    h.tick_until("deleted", |h| h.cluster("half").is_none())
        .await;
    assert!(h.fake.node("half-0001").is_none(), "node 0001 left behind");
    assert!(h.fake.node("half-0002").is_none(), "node 0002 left behind");
    assert!(h
        .events("half")
        .iter()
        .any(|m| m == "Cache cluster deleted"));
}

#[tokio::test]
async fn a_reboot_that_cannot_start_ends_incompatible_parameters() {
    let h = Harness::new(QUICK_RETRY);
    h.create_cluster("stiff", Engine::Redis, 1);
    h.tick_until("available", |h| {
        is_status(h, "stiff", ClusterStatus::Available)
    })
    .await;
    h.fake.refuse_starts("stiff-0001", ALWAYS);
    h.controller()
        .reboot_cache_cluster("stiff", &["0001".to_string()])
        .expect("reboot");
    h.tick_until("incompatible-parameters", |h| {
        is_status(h, "stiff", ClusterStatus::IncompatibleParameters)
    })
    .await;
    let c = h.cluster("stiff").expect("cluster");
    assert_eq!(c.nodes[0].status, NodeStatus::IncompatibleParameters);
    let (failed, gave_up) = attempt_events(&h, "stiff");
    assert_eq!(
        (failed.len(), gave_up.len()),
        (3, 1),
        "{failed:?} {gave_up:?}"
    );
    assert!(failed[0].starts_with("Failed to restart cache node 0001"));

    h.controller()
        .delete_cache_cluster("stiff")
        .expect("delete");
    h.tick_until("deleted", |h| h.cluster("stiff").is_none())
        .await;
}

#[tokio::test]
async fn a_recovery_keeps_trying_and_forgets_its_failures_once_up() {
    // Recovery is never given up; six failures outlast the four attempts of a create.
    let h = Harness::new(QUICK_RETRY);
    h.create_cluster("phoenix", Engine::Redis, 1);
    h.tick_until("available", |h| {
        is_status(h, "phoenix", ClusterStatus::Available)
    })
    .await;
    h.fake
        .set("phoenix-0001", |n| n.process = FakeProcess::Dead);
    h.fake.refuse_starts("phoenix-0001", 6);
    h.tick_until("recovered", |h| {
        h.fake
            .node("phoenix-0001")
            .is_some_and(|n| n.process == FakeProcess::Running)
    })
    .await;
    let c = h.cluster("phoenix").expect("cluster");
    assert_eq!(c.status, ClusterStatus::Available);
    assert_eq!((c.nodes[0].attempts, c.nodes[0].retry_at), (0, None));
    let (failed, gave_up) = attempt_events(&h, "phoenix");
    assert_eq!(
        (failed.len(), gave_up.len()),
        (6, 0),
        "{failed:?} {gave_up:?}"
    );
    assert!(failed[5].starts_with("Failed to recover cache node 0001 (attempt 6)"));
}

#[tokio::test]
async fn a_group_whose_member_cannot_start_is_create_failed_and_deletable() {
    let h = Harness::new(QUICK_RETRY);
    h.fake.refuse_starts(&format!("{GROUP}-002-0001"), ALWAYS);
    h.create_group(2);
    h.tick_until("group create-failed", |h| {
        h.group().status == ReplicationGroupStatus::CreateFailed
    })
    .await;
    let member = format!("{GROUP}-002");
    assert!(is_status(&h, &member, ClusterStatus::CreateFailed));
    let group_events = h.events(GROUP);
    assert!(
        group_events
            .iter()
            .any(|m| m.contains("creation failed") && m.contains(&member)),
        "{group_events:?}"
    );

    h.controller()
        .delete_replication_group(GROUP, false)
        .expect("delete");
    h.tick_until("group deleted", |h| {
        let store = h.controller().store();
        store.get_replication_group(GROUP).expect("store").is_none()
            && store.list_clusters().expect("clusters").is_empty()
    })
    .await;
    assert!(h.fake.node(&format!("{GROUP}-001-0001")).is_none());
}
