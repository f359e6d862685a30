//! The in-place engine upgrade of a one-node cache cluster, against the fake agent:
//! the node comes back on the new version with every write it acknowledged, writes
//! are refused (paused) from the dump to the restart, a crash at every agent request
//! resumes without losing or duplicating anything, and a new binary that will not
//! start puts the old one back on the same data.

use larder_agent::{AgentRequest, ReplicationChange};
use larder_model::requests::ModifyCacheCluster;
use larder_model::{ClusterStatus, Engine, Fault};

use super::test_harness::{cluster_request, group_request, Harness, QUICK_RETRY};

const ID: &str = "solo";

/// A settled one-node 6.2 cluster holding 100 writes.
async fn solo_on_6_2() -> Harness {
    let h = Harness::new(QUICK_RETRY);
    let mut req = cluster_request(ID, Engine::Redis, 1);
    req.engine_version = Some("6.2".into());
    h.controller().create_cache_cluster(req).expect("create");
    available(&h).await;
    assert!(h.fake.write(&key(), 100), "the node takes writes");
    h
}

fn key() -> String {
    format!("{ID}-0001")
}

async fn available(h: &Harness) {
    h.tick_until("available", |h| {
        h.cluster(ID)
            .is_some_and(|c| c.status == ClusterStatus::Available)
    })
    .await;
}

fn upgrade(h: &Harness, version: &str) -> Result<larder_model::CacheCluster, Fault> {
    h.controller().modify_cache_cluster(ModifyCacheCluster {
        cache_cluster_id: ID.into(),
        engine_version: Some(version.into()),
        apply_immediately: true,
        ..Default::default()
    })
}

#[tokio::test]
async fn a_lone_node_comes_back_on_the_new_version_with_its_data() {
    let h = solo_on_6_2().await;
    let before = h.fake.node(&key()).expect("node").pid;
    let c = upgrade(&h, "7.2").expect("modify");
    assert_eq!(c.status, ClusterStatus::Modifying);
    available(&h).await;
    // Writes were paused before the dump and stayed paused until the restart.
    let order: Vec<&'static str> = h
        .fake
        .requests()
        .iter()
        .filter_map(|r| match r {
            AgentRequest::Replication { node, change } if node.key == key() => match change {
                ReplicationChange::PauseWrites { .. } => Some("pause"),
                ReplicationChange::Unpause => Some("unpause"),
                _ => None,
            },
            AgentRequest::SaveSnapshot { node, .. } if node.key == key() => Some("save"),
            AgentRequest::RestartNode(spec) if spec.key == key() => Some("restart"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["pause", "save", "restart"]);
    let c = h.cluster(ID).expect("cluster");
    assert_eq!(c.status, ClusterStatus::Available);
    assert_eq!(c.engine_version, "7.2.4");
    assert_eq!(c.cache_parameter_group_name, "default.redis7");
    let n = h.fake.node(&key()).expect("node");
    assert_eq!(n.engine_version.as_deref(), Some("7.2.4"));
    assert_ne!(n.pid, before, "a new process");
    assert_eq!(n.offset, 100, "every acknowledged write is there");
    assert!(!n.paused);
    assert!(
        h.fake.snapshot_file("upgrade-solo-1", &key()).is_none(),
        "the dump is gone"
    );
    assert!(h.events(ID).iter().any(|e| e == "Engine upgraded to 7.2.4"));
}

#[tokio::test]
async fn a_downgrade_is_refused_and_changes_nothing() {
    let h = solo_on_6_2().await;
    upgrade(&h, "7.2").expect("modify");
    available(&h).await;
    let before = h.cluster(ID).expect("cluster");
    let down = upgrade(&h, "6.2");
    assert!(
        matches!(down, Err(Fault::InvalidParameterCombination(_))),
        "{down:?}"
    );
    assert_eq!(h.cluster(ID).expect("cluster"), before);
}

#[tokio::test]
async fn a_crash_at_any_agent_request_resumes_and_keeps_every_acknowledged_write() {
    // Requests one whole upgrade makes, counted on a clean run.
    let total = {
        let h = solo_on_6_2().await;
        let start = h.fake.requests().len();
        upgrade(&h, "7.2").expect("modify");
        available(&h).await;
        h.fake.requests().len() - start
    };
    assert!(total >= 6, "only {total} requests");
    for n in 0..total {
        let mut h = solo_on_6_2().await;
        upgrade(&h, "7.2").expect("modify");
        h.fake.crash_after(n);
        let pass = async {
            loop {
                h.tick().await;
            }
        };
        tokio::select! {
            _ = pass => {}
            _ = h.fake.crashed() => {}
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        h.restart();
        // While the daemon is down a client keeps writing: whatever the node
        // acknowledges must survive.
        let acked = i64::from(h.fake.write(&key(), 7)) * 7;
        available(&h).await;
        let c = h.cluster(ID).expect("cluster");
        assert_eq!(c.engine_version, "7.2.4", "crash {n}");
        let node = h.fake.node(&key()).expect("node");
        assert_eq!(
            node.offset,
            100 + acked,
            "crash {n}: acknowledged writes lost"
        );
        assert_eq!(node.engine_version.as_deref(), Some("7.2.4"), "crash {n}");
        assert!(!node.paused, "crash {n}: writes left paused");
        let failed: Vec<_> = h
            .events(ID)
            .into_iter()
            .filter(|e| e.contains("failed"))
            .collect();
        assert!(failed.is_empty(), "crash {n}: {failed:?}");
    }
}

#[tokio::test]
async fn a_new_binary_that_does_not_start_puts_the_old_one_back_on_the_data() {
    let h = solo_on_6_2().await;
    // The start on 7.2 fails once; the next start (the old version) works.
    h.fake.refuse_starts(&key(), 1);
    upgrade(&h, "7.2").expect("modify");
    available(&h).await;
    let c = h.cluster(ID).expect("cluster");
    assert_eq!(c.engine_version, "6.2.14");
    assert!(c.upgrade.is_none());
    let n = h.fake.node(&key()).expect("node");
    assert_eq!(n.engine_version.as_deref(), Some("6.2.14"));
    assert_eq!(n.offset, 100, "the old version runs on the same data");
    assert!(h
        .events(ID)
        .iter()
        .any(|e| e.starts_with("Engine upgrade to 7.2.4 failed")));
}

#[tokio::test]
async fn a_group_without_replicas_upgrades_its_lone_member_in_place() {
    use larder_model::requests::{CreateReplicationGroup, ModifyReplicationGroup};
    use larder_model::ReplicationGroupStatus;
    let h = Harness::new(QUICK_RETRY);
    let c = h.controller();
    c.create_replication_group(CreateReplicationGroup {
        replication_group_id: "one".into(),
        description: "no replica".into(),
        automatic_failover: false,
        engine_version: Some("6.2".into()),
        ..group_request(1, None)
    })
    .expect("create");
    let group = |h: &Harness| {
        h.controller()
            .store()
            .get_replication_group("one")
            .expect("store")
            .expect("group")
    };
    h.tick_until("group available", |h| {
        group(h).status == ReplicationGroupStatus::Available
    })
    .await;
    let key = "one-001-0001";
    assert!(h.fake.write(key, 40));
    c.modify_replication_group(ModifyReplicationGroup {
        replication_group_id: "one".into(),
        engine_version: Some("7.2".into()),
        apply_immediately: true,
        ..Default::default()
    })
    .expect("modify");
    h.tick_until("upgraded", |h| {
        let g = group(h);
        g.status == ReplicationGroupStatus::Available && g.engine_version == "7.2.4"
    })
    .await;
    let n = h.fake.node(key).expect("node");
    assert_eq!(n.engine_version.as_deref(), Some("7.2.4"));
    assert_eq!(n.offset, 40, "the lone member kept its data");
    assert_eq!(
        h.cluster("one-001").expect("member").engine_version,
        "7.2.4"
    );
}
