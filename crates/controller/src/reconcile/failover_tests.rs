//! The failover workflow driven against the fake agent: planned switchover, dead
//! and hung primaries, the choice of replica, and a daemon crash at every agent
//! request of each. Each run checks that no two live nodes were primaries at any
//! moment and that the group ends with one primary and every other member
//! replicating from it.

use larder_agent::fake::{FakeProcess, FakeRole};
use larder_agent::AgentRequest;

use super::test_harness::{Harness, GROUP};
/// The only node group of a group without cluster mode.
const NODE_GROUP_ID: &str = "0001";

/// Bytes written to the primary before a failover; a planned one must keep them.
const WRITTEN: i64 = 1000;

/// How a failover gets started.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// TestFailover.
    Planned,
    /// The primary's process is gone; the health check notices.
    Dead,
    /// The primary runs but answers nothing; the health check notices.
    Hung,
}

/// Starts a failover of `h`'s group as `how` says; returns the old primary's id.
async fn start(h: &Harness, how: Start) -> String {
    let g = h.group();
    let old = g.primary.clone();
    assert!(h.fake.write(&h.key(&old), WRITTEN));
    let c = h.controller();
    match how {
        Start::Planned => {
            c.test_failover(GROUP, NODE_GROUP_ID)
                .expect("test failover");
        }
        Start::Dead | Start::Hung => {
            let process = match how {
                Start::Dead => FakeProcess::Dead,
                _ => FakeProcess::Hung,
            };
            h.fake.set(&h.key(&old), |n| n.process = process);
            let (_, dead) = c.probe_primary(&g).await.expect("a failed probe");
            assert_eq!(dead, matches!(how, Start::Dead));
            c.start_automatic_failover(GROUP, &old, "test");
        }
    }
    assert!(h.group().failover.is_some());
    old
}

/// The group has one primary other than `old`, which every other member follows
/// (the old one too, restarted as a replica when it was killed).
fn assert_one_primary(h: &Harness, old: &str) -> String {
    let g = h.group();
    assert!(g.failover.is_none());
    assert_ne!(g.primary, old, "the primary did not change");
    let primary = h.node(&g.primary);
    assert_eq!(primary.role, FakeRole::Primary);
    assert_eq!(primary.process, FakeProcess::Running);
    for m in g.members.iter().filter(|m| **m != g.primary) {
        let n = h.node(m);
        assert_eq!(n.role, FakeRole::ReplicaOf(primary.at()), "{m}");
        assert_eq!(n.process, FakeProcess::Running, "{m}");
    }
    assert_eq!(h.fake.max_primaries(), 1, "two primaries at once");
    g.primary
}

/// A failover of a settled 3-member group, with the daemon killed after `budget`
/// agent requests (none with `None`) and restarted. True when it ran uncut.
async fn run(how: Start, budget: Option<usize>) -> bool {
    let mut h = Harness::with_group(3).await;
    let old = start(&h, how).await;
    if let Some(n) = budget {
        h.fake.crash_after(n);
    }
    let uncut = h.drive_failover().await;
    if uncut {
        // The failover needed fewer requests than the budget: no crash from here on.
        h.fake.recover();
    } else {
        h.restart();
        assert!(h.drive_failover().await);
    }
    h.settle().await;
    let new = assert_one_primary(&h, &old);
    if matches!(how, Start::Planned) {
        assert!(h.node(&new).offset >= WRITTEN, "acknowledged writes lost");
    }
    uncut
}

/// `run` with a crash at every request of the failover, until one run needs fewer.
async fn crash_at_every_request(how: Start) {
    let mut budget = 0;
    while !run(how, Some(budget)).await {
        budget += 1;
    }
    assert!(
        budget > 2,
        "{how:?}: the failover made only {budget} requests"
    );
}

#[tokio::test]
async fn planned_switchover_moves_the_primary_without_losing_writes() {
    assert!(run(Start::Planned, None).await);
}

#[tokio::test]
async fn a_dead_primary_is_replaced_and_rejoins_as_a_replica() {
    assert!(run(Start::Dead, None).await);
}

#[tokio::test]
async fn a_hung_primary_is_fenced_before_anything_is_promoted_and_never_asked() {
    let h = Harness::with_group(3).await;
    let old = start(&h, Start::Hung).await;
    let old_key = h.key(&old);
    let before = h.fake.requests().len();
    assert!(h.drive_failover().await);
    let asked: Vec<AgentRequest> = h.fake.requests()[before..].to_vec();
    let fence = asked
        .iter()
        .position(|r| matches!(r, AgentRequest::Fence { key } if *key == old_key))
        .expect("the hung primary was fenced");
    let promote = asked
        .iter()
        .position(|r| {
            matches!(
                r,
                AgentRequest::Replication {
                    change: larder_agent::ReplicationChange::Promote,
                    ..
                }
            )
        })
        .expect("a replica was promoted");
    assert!(fence < promote, "promoted before the fence: {asked:?}");
    // An unplanned failover never waits on the old primary's answers.
    assert!(!asked.iter().any(|r| matches!(r,
        AgentRequest::ReplicationInfo { node } if node.key == old_key)));
    h.settle().await;
    assert_one_primary(&h, &old);
}

#[tokio::test]
async fn the_replica_with_the_highest_offset_is_promoted() {
    let h = Harness::with_group(3).await;
    let g = h.group();
    let replicas: Vec<String> = g.replicas().cloned().collect();
    let (behind, ahead) = (&replicas[0], &replicas[1]);
    // The later member in the list is the better one, so "the first replica" fails.
    h.fake.set(&h.key(behind), |n| {
        n.link = false;
        n.offset = 120;
    });
    h.fake.set(&h.key(ahead), |n| {
        n.link = false;
        n.offset = 150;
    });
    let old = start(&h, Start::Dead).await;
    assert!(h.drive_failover().await);
    assert_eq!(&h.group().primary, ahead);
    for r in &replicas {
        h.fake.set(&h.key(r), |n| n.link = true);
    }
    h.settle().await;
    assert_one_primary(&h, &old);
}

#[tokio::test]
async fn a_planned_switchover_survives_a_crash_at_every_step() {
    crash_at_every_request(Start::Planned).await;
}

#[tokio::test]
async fn a_dead_primary_failover_survives_a_crash_at_every_step() {
    crash_at_every_request(Start::Dead).await;
}

#[tokio::test]
async fn a_hung_primary_failover_survives_a_crash_at_every_step() {
    crash_at_every_request(Start::Hung).await;
}

/// Where the endpoints reach member `id`'s node.
fn addr(h: &Harness, id: &str) -> String {
    format!("127.0.0.1:{}", h.node(id).port)
}

/// The primary endpoint is told "no primary" from the first failover step on, never
/// the old primary again, and the new primary once the failover commits.
async fn endpoints_follow(how: Start) {
    let h = Harness::with_group(3).await;
    let old = h.group().primary;
    let told = h
        .fake
        .group_endpoints(GROUP)
        .expect("endpoints were created");
    assert_eq!(told.targets.primary, Some(addr(&h, &old)));
    let generation = told.targets.generation;
    let before = h.fake.group_routes(GROUP).len();
    start(&h, how).await;
    // The first step of the failover already takes the old primary off the endpoint.
    h.controller().group_step(&h.group()).await;
    assert_eq!(h.fake.group_endpoints(GROUP).unwrap().targets.primary, None);
    assert!(h.drive_failover().await);
    let new = h.group().primary;
    let routes = h.fake.group_routes(GROUP)[before..].to_vec();
    let last = routes.last().expect("the endpoints were re-routed");
    assert_eq!(last.primary, Some(addr(&h, &new)), "{routes:?}");
    assert!(last.generation > generation, "{routes:?}");
    // "No primary" first, and never the old primary again after that.
    assert_eq!(routes[0].primary, None, "{routes:?}");
    assert!(
        routes.iter().all(|t| t.primary != Some(addr(&h, &old))),
        "{routes:?}"
    );
    h.settle().await;
    let settled = h.fake.group_endpoints(GROUP).unwrap().targets;
    assert_eq!(settled.primary, Some(addr(&h, &new)));
    assert!(!settled.replicas.contains(&addr(&h, &new)));
}

#[tokio::test]
async fn the_primary_endpoint_has_no_primary_during_a_switchover_and_then_the_new_one() {
    // The old primary runs throughout, so only the failover itself can take it off.
    endpoints_follow(Start::Planned).await;
}

#[tokio::test]
async fn the_primary_endpoint_leaves_a_hung_primary_for_the_promoted_replica() {
    endpoints_follow(Start::Hung).await;
}

#[tokio::test]
async fn the_primary_endpoint_leaves_a_dead_primary_for_the_promoted_replica() {
    endpoints_follow(Start::Dead).await;
}

#[tokio::test]
async fn a_deleted_group_retires_its_endpoints() {
    let h = Harness::with_group(2).await;
    assert!(h.fake.group_endpoints(GROUP).is_some());
    let c = h.controller();
    c.delete_replication_group(GROUP, false).expect("delete");
    for _ in 0..20 {
        for cluster in c.store().list_clusters().expect("clusters") {
            c.pass(cluster).await;
        }
        match c.store().get_replication_group(GROUP).expect("store") {
            Some(g) => {
                c.group_step(&g).await;
            }
            None => break,
        }
    }
    assert!(c.store().get_replication_group(GROUP).unwrap().is_none());
    assert_eq!(h.fake.group_endpoints(GROUP), None);
    let retired =
        h.fake.requests().iter().any(
            |r| matches!(r, AgentRequest::RetireGroupEndpoints { group_id } if group_id == GROUP),
        );
    assert!(retired);
}

#[tokio::test]
async fn unchanged_endpoint_routes_are_not_resent_on_every_pass() {
    let h = Harness::with_group(2).await;
    let c = h.controller();
    let sent = |h: &Harness| {
        h.fake
            .requests()
            .iter()
            .filter(|r| matches!(r, AgentRequest::GroupEndpoints(_)))
            .count()
    };
    let g = c.store().get_replication_group(GROUP).unwrap().unwrap();
    c.sync_group_endpoints(&g).await;
    let before = sent(&h);
    for _ in 0..10 {
        c.sync_group_endpoints(&g).await;
    }
    assert_eq!(sent(&h), before, "an unchanged route was sent again");
}

#[tokio::test]
async fn rebooting_the_primary_switches_it_away_first_and_loses_no_write() {
    let h = Harness::with_group(3).await;
    let old = h.group().primary;
    let old_key = h.key(&old);
    assert!(h.fake.write(&old_key, 25));
    let starts = h.fake.starts(&old_key);
    h.controller()
        .reboot_cache_cluster(&old, &["0001".to_string()])
        .expect("reboot");
    h.tick_until("rebooted as a replica", |h| {
        let g = h.group();
        g.status == larder_model::ReplicationGroupStatus::Available
            && g.reboot_after_switchover.is_none()
            && h.fake.starts(&old_key) == starts + 1
    })
    .await;
    let g = h.group();
    assert_ne!(g.primary, old, "the rebooted member is not the primary");
    assert!(
        h.node(&g.primary).offset >= 25,
        "the new primary has every write"
    );
    assert!(matches!(h.node(&old).role, FakeRole::ReplicaOf(_)));
    assert_eq!(h.fake.max_primaries(), 1, "never two primaries");
}
