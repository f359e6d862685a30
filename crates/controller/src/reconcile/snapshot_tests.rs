//! The snapshot workflow against the fake agent: which node saves, the copy and its
//! check, a node still saving, failures and give-up, deletion, and a control-plane
//! crash at every agent request of the workflow.

use larder_agent::fake::{fake_rdb, FakeProcess};
use larder_agent::AgentRequest;
use larder_model::requests::CreateSnapshot;
use larder_model::{Engine, Fault, Snapshot, SnapshotStatus};
use sha2::{Digest, Sha256};

use super::test_harness::{cluster_request, Harness, GROUP, QUICK_RETRY};

const NAME: &str = "nightly";

fn of_group(name: &str) -> CreateSnapshot {
    CreateSnapshot {
        snapshot_name: name.into(),
        cache_cluster_id: None,
        replication_group_id: Some(GROUP.into()),
        tags: Vec::new(),
    }
}

fn of_cluster(name: &str, id: &str) -> CreateSnapshot {
    CreateSnapshot {
        snapshot_name: name.into(),
        cache_cluster_id: Some(id.into()),
        replication_group_id: None,
        tags: Vec::new(),
    }
}

fn snapshot(h: &Harness, name: &str) -> Option<Snapshot> {
    h.controller().store().get_snapshot(name).expect("store")
}

fn status(h: &Harness, name: &str) -> Option<SnapshotStatus> {
    snapshot(h, name).map(|s| s.status)
}

/// The node keys SaveSnapshot was asked of.
fn saved_keys(h: &Harness) -> Vec<String> {
    h.fake
        .requests()
        .into_iter()
        .filter_map(|r| match r {
            AgentRequest::SaveSnapshot { node, .. } => Some(node.key),
            _ => None,
        })
        .collect()
}

/// The file the control plane holds for `key`, if complete.
fn local_file(h: &Harness, name: &str, key: &str) -> Option<Vec<u8>> {
    std::fs::read(h.snapshot_dir().join(name).join(format!("{key}.rdb"))).ok()
}

/// An available snapshot's files are whole and match what the record says.
fn assert_complete(h: &Harness, s: &Snapshot) {
    for ns in &s.node_snapshots {
        let want = ns
            .file
            .as_ref()
            .expect("an available snapshot records its file");
        let got = local_file(h, &s.name, &ns.node_key()).expect("the file is in place");
        assert_eq!(got.len() as u64, want.size);
        assert_eq!(hex::encode(Sha256::digest(&got)), want.sha256);
    }
}

/// Runs the loop until snapshot [`NAME`] is available.
async fn snapshot_available(h: &Harness) {
    h.tick_until("available", |h| {
        status(h, NAME) == Some(SnapshotStatus::Available)
    })
    .await;
}

/// Creates one-node redis cluster `id` and runs the loop until it is available.
async fn available_cluster(h: &Harness, id: &str) {
    h.create_cluster(id, Engine::Redis, 1);
    h.tick_until("available", |h| {
        h.cluster(id)
            .is_some_and(|c| c.status == larder_model::ClusterStatus::Available)
    })
    .await;
}

#[tokio::test]
async fn a_group_snapshot_is_saved_by_a_replica_and_copied_whole() {
    let h = Harness::with_group(3).await;
    h.fake.write(&h.key(&h.group().primary), 42);
    let s = h
        .controller()
        .create_snapshot(of_group(NAME))
        .expect("create");
    assert_eq!(s.status, SnapshotStatus::Creating);
    snapshot_available(&h).await;

    let s = snapshot(&h, NAME).expect("snapshot");
    let primary = h.key(&h.group().primary);
    let keys = saved_keys(&h);
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| *k != primary),
        "saved on the primary: {keys:?}"
    );
    let source = s.node_snapshots[0].node_key();
    // The replica had the primary's data when it saved.
    let file = local_file(&h, NAME, &source).expect("file");
    assert!(
        file == fake_rdb(&source, 42),
        "the replica's data at offset 42"
    );
    assert_complete(&h, &s);
    assert_eq!(s.replication_group_id.as_deref(), Some(GROUP));
    assert_eq!(s.num_node_groups, Some(1));
    assert!(
        h.fake.snapshot_file(NAME, &source).is_none(),
        "the agent's copy is dropped once the control plane has it"
    );
    let events = h.events(GROUP);
    assert!(
        events.iter().any(|m| m == "Snapshot nightly succeeded"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_node_still_saving_is_asked_again_without_counting_a_failure() {
    let h = Harness::with_group(2).await;
    let replica = h.key(&h.group().members[1]);
    h.fake.slow_saves(&replica, 3);
    h.controller()
        .create_snapshot(of_group(NAME))
        .expect("create");
    h.tick().await;
    let s = snapshot(&h, NAME).expect("snapshot");
    assert_eq!(s.status, SnapshotStatus::Creating);
    assert_eq!(s.attempts, 0);
    assert!(s.node_snapshots[0].file.is_none());
    snapshot_available(&h).await;
    assert_eq!(snapshot(&h, NAME).expect("snapshot").attempts, 0);
    assert_eq!(
        saved_keys(&h).len(),
        5,
        "three pending answers, one save, one check"
    );
}

#[tokio::test]
async fn a_source_that_cannot_save_fails_the_snapshot_after_its_attempts() {
    let h = Harness::new(QUICK_RETRY);
    available_cluster(&h, "solo").await;
    h.controller()
        .create_snapshot(of_cluster(NAME, "solo"))
        .expect("create");
    // The node dies and its restart is refused: every save fails.
    h.fake.refuse_starts("solo-0001", u32::MAX);
    h.fake.set("solo-0001", |n| n.process = FakeProcess::Dead);
    h.tick_until("failed", |h| {
        status(h, NAME) == Some(SnapshotStatus::Failed)
    })
    .await;
    let events = h.events("solo");
    let attempts = events.iter().filter(|m| m.contains(" attempt ")).count();
    assert_eq!(attempts, 3, "{events:?}");
    assert!(
        events.iter().any(|m| m.contains("failed after 4 attempts")),
        "{events:?}"
    );
    assert!(
        !h.snapshot_dir().join(NAME).exists(),
        "no files of a failed snapshot"
    );
    // A failed snapshot can be deleted.
    h.controller().delete_snapshot(NAME).expect("delete");
    h.tick_until("gone", |h| snapshot(h, NAME).is_none()).await;
}

#[tokio::test]
async fn refusals_change_nothing() {
    let h = Harness::with_group(2).await;
    h.create_cluster("mc", Engine::Memcached, 1);
    let ctl = h.controller();
    assert!(matches!(
        ctl.create_snapshot(of_cluster(NAME, "mc")),
        Err(Fault::SnapshotFeatureNotSupported(_))
    ));
    assert!(matches!(
        ctl.create_snapshot(of_cluster(NAME, "nope")),
        Err(Fault::CacheClusterNotFound(_))
    ));
    let mut other = of_group(NAME);
    other.replication_group_id = Some("nope".into());
    assert!(matches!(
        ctl.create_snapshot(other),
        Err(Fault::ReplicationGroupNotFound(_))
    ));
    assert!(ctl.store().list_snapshots().expect("list").is_empty());

    ctl.create_snapshot(of_group(NAME)).expect("create");
    assert!(matches!(
        ctl.create_snapshot(of_group(NAME)),
        Err(Fault::SnapshotAlreadyExists(_))
    ));
    assert!(matches!(
        ctl.create_snapshot(of_group("second")),
        Err(Fault::InvalidReplicationGroupState(_))
    ));
    assert!(matches!(
        ctl.delete_snapshot(NAME),
        Err(Fault::InvalidSnapshotState(_))
    ));
    assert!(matches!(
        ctl.delete_snapshot("nope"),
        Err(Fault::SnapshotNotFound(_))
    ));
    assert_eq!(status(&h, NAME), Some(SnapshotStatus::Creating));
    assert_eq!(ctl.store().list_snapshots().expect("list").len(), 1);
}

#[tokio::test]
async fn delete_removes_the_files_then_the_record() {
    let h = Harness::with_group(2).await;
    h.controller()
        .create_snapshot(of_group(NAME))
        .expect("create");
    snapshot_available(&h).await;
    assert!(h.snapshot_dir().join(NAME).exists());
    let s = h.controller().delete_snapshot(NAME).expect("delete");
    assert_eq!(s.status, SnapshotStatus::Deleting);
    h.tick_until("gone", |h| snapshot(h, NAME).is_none()).await;
    assert!(!h.snapshot_dir().join(NAME).exists());
}

/// A control plane killed at every agent request of the workflow, then restarted:
/// the snapshot is never `available` with a partial or wrong file, and the restarted
/// daemon finishes it.
#[tokio::test]
async fn a_crash_at_any_request_never_leaves_partial_data_available() {
    // Count the workflow's agent requests on a clean run first.
    let clean = Harness::with_group(2).await;
    let before = clean.fake.requests().len();
    clean
        .controller()
        .create_snapshot(of_group(NAME))
        .expect("create");
    snapshot_available(&clean).await;
    let total = clean.fake.requests().len() - before;
    assert!(
        total >= 5,
        "save, save again, three chunks, discard: {total}"
    );

    for n in 0..total {
        let mut h = Harness::with_group(2).await;
        h.controller()
            .create_snapshot(of_group(NAME))
            .expect("create");
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
        if let Some(s) = snapshot(&h, NAME).filter(|s| s.status == SnapshotStatus::Available) {
            assert_complete(&h, &s);
        }
        h.restart();
        h.tick_until("available after the restart", |h| {
            status(h, NAME) == Some(SnapshotStatus::Available)
        })
        .await;
        let s = snapshot(&h, NAME).expect("snapshot");
        assert_complete(&h, &s);
        let failed: Vec<String> = h
            .events(GROUP)
            .into_iter()
            .filter(|m| m.contains("failed"))
            .collect();
        assert!(
            failed.is_empty(),
            "crash {n}: the resumed copy failed: {failed:?}"
        );
    }
}

/// Requests a one-node redis cluster `id` restored from snapshot [`NAME`].
fn restore_cluster(h: &Harness, id: &str) -> Result<larder_model::CacheCluster, Fault> {
    let mut req = cluster_request(id, Engine::Redis, 1);
    req.snapshot_name = Some(NAME.into());
    h.controller().create_cache_cluster(req)
}

fn first_start_loads(h: &Harness, key: &str) -> Option<larder_agent::InitialData> {
    h.fake.requests().into_iter().find_map(|r| match r {
        AgentRequest::StartNode(spec) if spec.key == key => Some(spec.initial_data),
        _ => None,
    })
}

#[tokio::test]
async fn a_restored_node_starts_from_the_staged_verified_file() {
    let h = Harness::with_group(2).await;
    h.fake.write(&h.key(&h.group().primary), 7);
    h.controller()
        .create_snapshot(of_group(NAME))
        .expect("create");
    snapshot_available(&h).await;
    let source = snapshot(&h, NAME).expect("snapshot").node_snapshots[0].node_key();
    restore_cluster(&h, "other-name").expect("restore");
    assert!(matches!(
        h.controller().delete_snapshot(NAME),
        Err(Fault::InvalidSnapshotState(_))
    ));
    h.tick_until("restored", |h| {
        h.cluster("other-name")
            .is_some_and(|c| c.status == larder_model::ClusterStatus::Available)
    })
    .await;
    assert!(
        h.fake.staged_restore("other-name-0001") == Some(fake_rdb(&source, 7)),
        "the agent got the whole file"
    );
    assert!(matches!(
        first_start_loads(&h, "other-name-0001"),
        Some(larder_agent::InitialData::Rdb(_))
    ));
    assert!(h.cluster("other-name").expect("cluster").nodes[0]
        .restore_from
        .is_none());
    h.controller()
        .delete_snapshot(NAME)
        .expect("deletable once restored");
}

/// A crash at every request of a restore: the staging resumes where the agent's
/// copy ends, and the node never starts without its data.
#[tokio::test]
async fn a_crash_during_a_restore_resumes_the_staging() {
    for n in 0..6 {
        let mut h = Harness::with_group(2).await;
        h.controller()
            .create_snapshot(of_group(NAME))
            .expect("create");
        snapshot_available(&h).await;
        restore_cluster(&h, "restored").expect("restore");
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
        // Node steps run as tasks; let the aborted ones go (and drop their store).
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        h.restart();
        h.tick_until("restored", |h| {
            h.cluster("restored")
                .is_some_and(|c| c.status == larder_model::ClusterStatus::Available)
        })
        .await;
        let events = h.events("restored");
        assert!(
            !events.iter().any(|m| m.contains("Failed")),
            "crash {n}: {events:?}"
        );
        assert!(matches!(
            first_start_loads(&h, "restored-0001"),
            Some(larder_agent::InitialData::Rdb(_))
        ));
        let source = snapshot(&h, NAME).expect("snapshot").node_snapshots[0].node_key();
        assert_eq!(
            h.fake.staged_restore("restored-0001").map(|f| f.len()),
            Some(fake_rdb(&source, 0).len()),
            "crash {n}"
        );
    }
}

#[tokio::test]
async fn a_final_snapshot_is_made_before_the_nodes_go() {
    let h = Harness::new(QUICK_RETRY);
    available_cluster(&h, "doomed").await;
    h.fake.write("doomed-0001", 1);
    h.fake.slow_saves("doomed-0001", 3);
    h.controller()
        .delete_cache_cluster_with_snapshot("doomed", Some("last"))
        .expect("delete");
    assert!(matches!(
        h.controller()
            .delete_cache_cluster_with_snapshot("doomed", Some("again")),
        Err(Fault::InvalidCacheClusterState(_))
    ));
    for _ in 0..3 {
        h.tick().await;
        assert_eq!(
            h.fake.node("doomed-0001").map(|n| n.process),
            Some(FakeProcess::Running),
            "the node runs while its final snapshot is saved"
        );
    }
    h.tick_until("gone", |h| h.cluster("doomed").is_none())
        .await;
    let s = snapshot(&h, "last").expect("the final snapshot outlives its cluster");
    assert_eq!(s.status, SnapshotStatus::Available);
    assert_complete(&h, &s);
    assert!(
        local_file(&h, "last", "doomed-0001") == Some(fake_rdb("doomed-0001", 1)),
        "the final snapshot holds the cluster's last data"
    );

    let g = Harness::with_group(2).await;
    g.controller()
        .delete_replication_group_with_snapshot(GROUP, false, Some("group-last"))
        .expect("delete group");
    g.tick_until("group gone", |h| {
        h.controller()
            .store()
            .get_replication_group(GROUP)
            .expect("store")
            .is_none()
    })
    .await;
    let s = snapshot(&g, "group-last").expect("final group snapshot");
    assert_eq!(s.status, SnapshotStatus::Available);
    assert_complete(&g, &s);
}
