//! The host rule driven against fake hosts (one fake agent per joined host over
//! shared fake nodes): a host whose agent is silent but whose nodes the other hosts
//! reach is partitioned and nothing fails over; one nobody reaches is lost, its
//! primary fails over to another host, and when it answers again its node rejoins
//! as a replica, never as a second primary. The lost-host failover is also cut by
//! a daemon crash at every agent request.

use larder_agent::fake::{FakeProcess, FakeRole};
use larder_agent::NodeAgent;

use super::test_harness::Harness;

/// Kills every node on `h`'s host of member `id` and cuts that host's agent off:
/// the host is gone (powered off).
fn power_off(h: &Harness, id: &str) {
    let host = h.host_of(id);
    for m in h.group().members {
        if h.host_of(&m).address() == host.address() {
            h.fake.set(&h.key(&m), |n| n.process = FakeProcess::Dead);
        }
    }
    host.cut_link(true);
}

/// Health rounds and reconcile ticks, `n` of each, as the loops would run them.
async fn run_loops(h: &Harness, n: usize) {
    for _ in 0..n {
        h.health_round().await;
        h.tick().await;
    }
}

/// The group ended with one primary, on another host than `old`'s, which every
/// other member that can be reached follows (nodes on the lost host are out of
/// anyone's reach until it answers again).
fn assert_failed_over_from(h: &Harness, old: &str, old_host: &str) -> String {
    let g = h.group();
    assert!(g.failover.is_none(), "{:?}", g.failover);
    assert_ne!(g.primary, old, "the primary did not change");
    assert_ne!(h.host_of(&g.primary).address(), old_host);
    let primary = h.node(&g.primary);
    assert_eq!(primary.role, FakeRole::Primary);
    for m in g.members.iter().filter(|m| **m != g.primary) {
        let n = h.node(m);
        if h.host_of(m).address() != old_host {
            assert_eq!(n.role, FakeRole::ReplicaOf(primary.at()), "{m}");
        }
    }
    g.primary
}

/// Runs the loops until `old` (back on its host) follows the group's primary.
async fn until_rejoined(h: &Harness, old: &str) {
    for _ in 0..50 {
        let g = h.group();
        let n = h.node(old);
        let p = h.node(&g.primary);
        if g.failover.is_none()
            && n.process == FakeProcess::Running
            && n.role == FakeRole::ReplicaOf(p.at())
        {
            return;
        }
        run_loops(h, 1).await;
    }
    panic!("{old} did not rejoin: {:?}", h.node(old));
}

#[tokio::test]
async fn members_are_spread_over_the_three_hosts() {
    let h = Harness::with_hosts(3).await;
    let mut hosts: Vec<String> = h
        .group()
        .members
        .iter()
        .map(|m| h.host_of(m).address().to_string())
        .collect();
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
}

#[tokio::test]
async fn a_host_cut_off_from_the_control_plane_only_fails_nothing_over() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    host.cut_link(true);
    run_loops(&h, 10).await;
    let g = h.group();
    assert!(g.failover.is_none(), "{:?}", g.failover);
    assert_eq!(g.primary, old);
    assert_eq!(h.node(&old).role, FakeRole::Primary);
    assert_eq!(h.fake.max_primaries(), 1);
    let said = h.events(&old);
    assert!(
        said.iter().any(|e| e.contains("no failover")),
        "events: {said:?}"
    );
    // It answers again: nothing was changed meanwhile, nothing needs undoing.
    host.cut_link(false);
    run_loops(&h, 3).await;
    assert_eq!(h.group().primary, old);
    assert_eq!(h.fake.max_primaries(), 1);
}

#[tokio::test]
async fn a_powered_off_host_fails_over_and_its_node_rejoins_as_a_replica() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    assert!(h.fake.write(&h.key(&old), 10));
    power_off(&h, &old);
    run_loops(&h, 10).await;
    let new = assert_failed_over_from(&h, &old, host.address());
    assert!(
        h.events(&old).iter().any(|e| e.contains("lost")),
        "events: {:?}",
        h.events(&old)
    );
    assert_eq!(h.fake.max_primaries(), 1, "two primaries at once");
    // The host comes back with its agent and no node process running.
    host.cut_link(false);
    until_rejoined(&h, &old).await;
    assert_eq!(h.group().primary, new);
    assert_eq!(h.fake.max_primaries(), 1, "two primaries at once");
}

#[tokio::test]
async fn an_isolated_host_fails_over_and_its_old_primary_comes_back_a_replica() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    // Neither the control plane nor the other hosts reach it; its node still runs
    // and still thinks it is the primary.
    host.cut_link(true);
    host.cut_network(true);
    run_loops(&h, 10).await;
    let new = assert_failed_over_from(&h, &old, host.address());
    assert_eq!(
        h.node(&old).role,
        FakeRole::Primary,
        "untouched while cut off"
    );
    host.cut_network(false);
    host.cut_link(false);
    until_rejoined(&h, &old).await;
    assert_eq!(h.group().primary, new);
    let primaries = h
        .group()
        .members
        .iter()
        .filter(|m| h.node(m).role == FakeRole::Primary)
        .count();
    assert_eq!(primaries, 1);
}

/// A powered-off host's failover with the daemon killed after `budget` agent
/// requests, restarted, and run to the end. True when it ran uncut.
async fn lost_host_run(budget: usize) -> bool {
    let mut h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    power_off(&h, &old);
    // Judge the host lost and start the failover before the crash budget counts.
    h.health_round().await;
    assert!(h.group().failover.is_some(), "no failover started");
    h.fake.crash_after(budget);
    let uncut = h.drive_failover().await;
    if uncut {
        h.fake.recover();
    } else {
        h.restart();
        h.redialled().await;
        // The restarted daemon judges the host afresh before anything else.
        h.health_round().await;
        assert!(h.drive_failover().await);
    }
    run_loops(&h, 3).await;
    assert_failed_over_from(&h, &old, host.address());
    assert_eq!(h.fake.max_primaries(), 1, "budget {budget}: two primaries");
    host.cut_link(false);
    until_rejoined(&h, &old).await;
    uncut
}

#[tokio::test]
async fn a_lost_host_failover_survives_a_crash_at_every_request() {
    let mut budget = 0;
    while !lost_host_run(budget).await {
        budget += 1;
    }
    assert!(budget > 1, "the failover made only {budget} requests");
}

#[tokio::test]
async fn a_host_refusing_the_link_with_its_nodes_dead_is_lost_at_the_next_check() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    // Its agent process died with its nodes; the host is up and refuses the link
    // before any silence has grown. The control plane last saw the nodes running.
    host.refuse_link(true);
    for m in h.group().members {
        if h.host_of(&m).address() == host.address() {
            h.fake.set(&h.key(&m), |n| n.process = FakeProcess::Dead);
        }
    }
    assert_eq!(host.contact_age(), Some(std::time::Duration::ZERO));
    h.health_round().await;
    assert!(
        h.group().failover.is_some(),
        "no failover started by the first check"
    );
    run_loops(&h, 10).await;
    assert_failed_over_from(&h, &old, host.address());
    assert_eq!(h.fake.max_primaries(), 1, "two primaries at once");
    host.refuse_link(false);
    until_rejoined(&h, &old).await;
}

#[tokio::test]
async fn a_host_refusing_the_link_whose_nodes_answer_fails_nothing_over() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    let host = h.host_of(&old);
    // Only its agent process is gone: the nodes serve and the other hosts see them.
    host.refuse_link(true);
    run_loops(&h, 10).await;
    let g = h.group();
    assert!(g.failover.is_none(), "{:?}", g.failover);
    assert_eq!(g.primary, old);
    assert_eq!(h.fake.max_primaries(), 1);
    assert!(
        h.events(&old).iter().any(|e| e.contains("no failover")),
        "events: {:?}",
        h.events(&old)
    );
    host.refuse_link(false);
    run_loops(&h, 3).await;
    assert_eq!(h.group().primary, old);
}

#[tokio::test]
async fn a_lost_hosts_primary_fails_over_as_the_host_is_judged_not_a_probe_round_later() {
    let h = Harness::with_hosts(3).await;
    let old = h.group().primary;
    power_off(&h, &old);
    // The host checks alone: the probe round may be stuck on the lost host's calls.
    h.controller().check_hosts().await;
    let g = h.group();
    assert_eq!(
        g.failover.as_ref().map(|f| f.from.as_str()),
        Some(old.as_str()),
        "no failover started when the host was judged lost"
    );
    run_loops(&h, 10).await;
    assert_failed_over_from(&h, &old, h.host_of(&old).address());
    assert_eq!(h.fake.max_primaries(), 1);
}
