//! Node type changes to a smaller type, against the fake agent: one that holds the
//! data goes through; one that would not is refused before any node gets the smaller
//! limit, or, when a member had already moved, every member goes back to the old type.

use larder_model::requests::ModifyReplicationGroup;

use super::nodes::maxmemory_bytes;
use super::test_harness::{Harness, GROUP};

const SMALL: &str = "cache.t3.small";
const MICRO: &str = "cache.t3.micro";

fn retype(h: &Harness, t: &str) {
    h.controller()
        .modify_replication_group(ModifyReplicationGroup {
            replication_group_id: GROUP.into(),
            cache_node_type: Some(t.into()),
            apply_immediately: true,
            ..Default::default()
        })
        .expect("modify");
}

/// A settled 3-member group on [`SMALL`].
async fn group_on_small() -> Harness {
    let h = Harness::with_group(3).await;
    retype(&h, SMALL);
    h.settle().await;
    assert_eq!(h.group().cache_node_type, SMALL);
    h
}

/// Every member's node type and its node's `maxmemory`.
fn member_types(h: &Harness) -> Vec<(String, Option<String>)> {
    h.group()
        .members
        .iter()
        .map(|m| {
            let c = h.cluster(m).expect("member");
            (
                c.cache_node_type,
                h.node(m).config.get("maxmemory").cloned(),
            )
        })
        .collect()
}

fn all_on(h: &Harness, t: &str) -> Vec<(String, Option<String>)> {
    let limit = maxmemory_bytes(t, 25).to_string();
    vec![(t.to_string(), Some(limit)); h.group().members.len()]
}

#[tokio::test]
async fn a_scale_down_that_holds_the_data_goes_through() {
    let h = group_on_small().await;
    retype(&h, MICRO);
    h.settle().await;
    assert_eq!(h.group().cache_node_type, MICRO);
    assert_eq!(member_types(&h), all_on(&h, MICRO));
}

#[tokio::test]
async fn a_scale_down_the_data_would_not_fit_is_refused_and_every_member_stays() {
    let h = group_on_small().await;
    // More than a micro node may hold, less than a small one.
    let used = maxmemory_bytes(MICRO, 25) + (64 << 20);
    for m in h.group().members {
        h.fake.set(&h.key(&m), |n| n.used_memory = used);
    }
    retype(&h, MICRO);
    h.settle().await;
    assert_eq!(h.group().cache_node_type, SMALL);
    assert_eq!(member_types(&h), all_on(&h, SMALL));
    let events = h.events(GROUP);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Failed to scale down to cache node type cache.t3.micro")),
        "{events:?}"
    );
}

#[tokio::test]
async fn when_one_member_does_not_fit_the_members_already_moved_go_back() {
    let h = group_on_small().await;
    // Only the primary holds too much (replicas can lag behind it in memory).
    let primary = h.group().primary;
    let used = maxmemory_bytes(MICRO, 25) + (64 << 20);
    h.fake.set(&h.key(&primary), |n| n.used_memory = used);
    retype(&h, MICRO);
    h.settle().await;
    assert_eq!(h.group().cache_node_type, SMALL);
    assert_eq!(member_types(&h), all_on(&h, SMALL));
}

#[tokio::test]
async fn the_primary_stays_routed_while_its_node_type_changes() {
    let h = Harness::with_group(3).await;
    let before = h.fake.group_routes(GROUP).len();
    retype(&h, SMALL);
    // The group's pass sees the members while they are still `modifying` (in the
    // daemon it runs beside the cluster passes).
    h.controller().group_step(&h.group()).await;
    h.settle().await;
    let during = h.fake.group_routes(GROUP);
    assert!(
        during[before..].iter().all(|r| r.primary.is_some()),
        "the primary endpoint lost its target during a live node type change: {:?}",
        &during[before..]
    );
}
