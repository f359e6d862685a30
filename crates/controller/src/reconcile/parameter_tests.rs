//! Changes to a parameter group in use, against the fake agent: dynamic values reach
//! every node of a group, static ones wait for a reboot, a crash at any request
//! resumes, a node that refuses a value marks the status and is named in an event,
//! and switching groups brings the nodes to the new group's values.

use larder_agent::fake::REFUSED_CONFIG;
use larder_agent::AgentRequest;
use larder_model::requests::ModifyReplicationGroup;
use larder_model::{CacheCluster, Fault};

use super::test_harness::{Harness, GROUP, QUICK_RETRY};

/// The custom group the tests' replication group uses.
const TUNED: &str = "tuned";

/// A settled 3-member group using [`TUNED`].
async fn group_using_tuned() -> Harness {
    let h = Harness::new(QUICK_RETRY);
    let c = h.controller();
    c.create_cache_parameter_group(TUNED, "redis7", "tests", Vec::new())
        .expect("group");
    h.create_group_using(3, Some(TUNED));
    h.settle().await;
    h
}

fn set(h: &Harness, name: &str, value: &str) -> Result<(), Fault> {
    let change = [(name.to_string(), value.to_string())];
    h.controller().modify_cache_parameter_group(TUNED, &change)
}

fn members(h: &Harness) -> Vec<CacheCluster> {
    let ids = h.group().members;
    ids.iter().map(|m| h.cluster(m).expect("member")).collect()
}

fn statuses(h: &Harness) -> Vec<&'static str> {
    members(h)
        .iter()
        .map(|c| c.parameter_apply.status())
        .collect()
}

/// What every member's node answers to `CONFIG GET name`.
fn node_config(h: &Harness, name: &str) -> Vec<Option<String>> {
    h.group()
        .members
        .iter()
        .map(|m| h.node(m).config.get(name).cloned())
        .collect()
}

/// `CONFIG SET name`s sent to member `id`'s node so far.
fn config_sets(h: &Harness, id: &str, name: &str) -> usize {
    let key = h.key(id);
    let sets = h.fake.requests().into_iter().filter(|r| {
        matches!(r, AgentRequest::ConfigSet { node, name: n, .. } if node.key == key && n == name)
    });
    sets.count()
}

#[tokio::test]
async fn a_dynamic_change_reaches_every_node_and_is_read_back() {
    let h = group_using_tuned().await;
    set(&h, "maxmemory-policy", "allkeys-lru").expect("modify");
    assert_eq!(
        statuses(&h),
        vec!["applying"; 3],
        "applying from the modify on"
    );
    h.tick_until("in sync", |h| statuses(h) == vec!["in-sync"; 3])
        .await;
    let lru = Some("allkeys-lru".to_string());
    assert_eq!(node_config(&h, "maxmemory-policy"), vec![lru; 3]);
    let reads = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| matches!(r, AgentRequest::ConfigGet { .. }))
        .count();
    assert_eq!(reads, 3, "one read-back per node");
}

#[tokio::test]
async fn a_static_change_waits_for_a_reboot_of_each_node() {
    let h = group_using_tuned().await;
    set(&h, "databases", "32").expect("modify");
    h.tick_until("pending reboot", |h| {
        statuses(h) == vec!["pending-reboot"; 3]
    })
    .await;
    assert_eq!(node_config(&h, "databases"), vec![None; 3], "not set live");
    let replica = h.group().replicas().next().expect("a replica").clone();
    let c = h.cluster(&replica).expect("replica");
    assert_eq!(c.parameter_apply.pending_reboot, vec!["0001".to_string()]);
    h.controller()
        .reboot_cache_cluster(&replica, &["0001".into()])
        .expect("reboot");
    h.tick_until("rebooted", |h| {
        h.cluster(&replica).unwrap().parameter_apply.status() == "in-sync"
    })
    .await;
    assert_eq!(h.node(&replica).config.get("databases").unwrap(), "32");
    let others = statuses(&h).into_iter().filter(|s| *s == "pending-reboot");
    assert_eq!(others.count(), 2, "the other nodes still wait");
}

#[tokio::test]
async fn a_crash_at_any_request_of_an_apply_resumes_from_the_next_node() {
    let mut between_nodes = 0;
    for budget in 0..14 {
        let mut h = group_using_tuned().await;
        set(&h, "timeout", "7").expect("modify");
        h.fake.crash_after(budget);
        tokio::select! {
            _ = async { for _ in 0..20 { h.tick().await } } => {}
            _ = h.fake.crashed() => {}
        }
        let reached = node_config(&h, "timeout").iter().flatten().count();
        if (1..3).contains(&reached) {
            between_nodes += 1;
        }
        h.restart();
        h.tick_until("in sync after the restart", |h| {
            statuses(h) == vec!["in-sync"; 3]
        })
        .await;
        let seven = Some("7".to_string());
        assert_eq!(
            node_config(&h, "timeout"),
            vec![seven; 3],
            "budget {budget}"
        );
        let sets: Vec<usize> = h
            .group()
            .members
            .iter()
            .map(|m| config_sets(&h, m, "timeout"))
            .collect();
        // Resumed, not started over: only a node cut off mid-way is set again.
        let total: usize = sets.iter().sum();
        assert!(
            sets.iter().all(|n| *n >= 1) && total <= 4,
            "budget {budget}: {sets:?}"
        );
    }
    assert!(between_nodes >= 3, "crashes between nodes: {between_nodes}");
}

#[tokio::test]
async fn a_node_that_refuses_a_value_marks_the_status_and_is_named_in_an_event() {
    let h = group_using_tuned().await;
    let replica = h.group().replicas().next().expect("a replica").clone();
    h.fake.refuse_config_sets(&h.key(&replica), u32::MAX);
    set(&h, "timeout", "9").expect("modify");
    h.tick_until("failed", |h| {
        h.cluster(&replica).unwrap().parameter_apply.status() == "apply-failed"
    })
    .await;
    let events = h.events(&replica);
    let named = events.iter().filter(|e| {
        e.contains("Failed to apply cache parameter group tuned to cache node 0001")
            && e.contains(REFUSED_CONFIG)
    });
    assert_eq!(named.count(), 1, "one event, not one per retry: {events:?}");
    for _ in 0..3 {
        h.tick().await;
    }
    assert_eq!(h.events(&replica).len(), events.len(), "no event per retry");
    h.fake.refuse_config_sets(&h.key(&replica), 0);
    h.tick_until("in sync once the node takes it", |h| {
        statuses(h) == vec!["in-sync"; 3]
    })
    .await;
}

#[tokio::test]
async fn switching_groups_brings_every_node_to_the_new_values_and_checks_the_family() {
    let h = group_using_tuned().await;
    let c = h.controller();
    c.create_cache_parameter_group("other", "redis7", "tests", Vec::new())
        .expect("other");
    let change = [("timeout".to_string(), "11".to_string())];
    c.modify_cache_parameter_group("other", &change)
        .expect("set");
    c.create_cache_parameter_group("mc", "memcached1.6", "tests", Vec::new())
        .expect("mc");
    let switch = |name: &str| ModifyReplicationGroup {
        replication_group_id: GROUP.into(),
        cache_parameter_group_name: Some(name.into()),
        apply_immediately: true,
        ..Default::default()
    };
    let wrong = c.modify_replication_group(switch("mc"));
    assert!(
        matches!(wrong, Err(Fault::InvalidParameterCombination(_))),
        "{wrong:?}"
    );
    assert!(members(&h)
        .iter()
        .all(|m| m.cache_parameter_group_name == TUNED && m.parameter_apply.round.is_none()));
    c.modify_replication_group(switch("other")).expect("switch");
    assert_eq!(h.group().cache_parameter_group_name, "other");
    h.tick_until("in sync", |h| statuses(h) == vec!["in-sync"; 3])
        .await;
    assert!(members(&h)
        .iter()
        .all(|m| m.cache_parameter_group_name == "other"));
    assert_eq!(node_config(&h, "timeout"), vec![Some("11".into()); 3]);
}

#[tokio::test]
async fn an_invalid_value_for_a_group_in_use_changes_nothing() {
    let h = group_using_tuned().await;
    let before = members(&h);
    for (name, value) in [
        ("maxmemory-policy", "sometimes"),
        ("port", "7000"),
        ("reserved-memory", "1000"),
        ("cluster-enabled", "yes"),
    ] {
        assert!(set(&h, name, value).is_err(), "{name}={value}");
    }
    let g = h.controller().parameter_group(TUNED).expect("group");
    assert!(g.values.is_empty(), "{:?}", g.values);
    assert_eq!(members(&h), before);
}
