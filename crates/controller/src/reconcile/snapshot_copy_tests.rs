//! CopySnapshot against the fake agent: a copy waits for an available source,
//! becomes available only with whole, verified files of its own, survives its
//! source, and fails (never `available`) when the source's file does not match its
//! record.

use larder_model::requests::{CopySnapshot, CreateSnapshot};
use larder_model::{Engine, Fault, SnapshotStatus};

use super::test_harness::{Harness, QUICK_RETRY};

fn copy(source: &str, target: &str) -> CopySnapshot {
    CopySnapshot {
        source_snapshot_name: source.into(),
        target_snapshot_name: target.into(),
        target_bucket: None,
        tags: Vec::new(),
    }
}

fn status(h: &Harness, name: &str) -> Option<SnapshotStatus> {
    h.controller()
        .store()
        .get_snapshot(name)
        .expect("store")
        .map(|s| s.status)
}

/// A one-node cluster "solo" and its snapshot "orig", not yet made.
async fn cluster_with_snapshot(h: &Harness) {
    h.create_cluster("solo", Engine::Redis, 1);
    h.tick_until("available", |h| {
        h.cluster("solo")
            .is_some_and(|c| c.status == larder_model::ClusterStatus::Available)
    })
    .await;
    h.controller()
        .create_snapshot(CreateSnapshot {
            snapshot_name: "orig".into(),
            cache_cluster_id: Some("solo".into()),
            replication_group_id: None,
            tags: Vec::new(),
        })
        .expect("snapshot");
}

fn file_of(h: &Harness, name: &str) -> std::path::PathBuf {
    h.snapshot_dir().join(name).join("solo-0001.rdb")
}

#[tokio::test]
async fn a_copy_waits_for_its_source_and_stands_on_its_own() {
    let h = Harness::new(QUICK_RETRY);
    cluster_with_snapshot(&h).await;
    // The source is still creating: no copy yet, and nothing recorded.
    let refused = h.controller().copy_snapshot(copy("orig", "dup"));
    assert!(
        matches!(refused, Err(Fault::InvalidSnapshotState(_))),
        "{refused:?}"
    );
    assert_eq!(status(&h, "dup"), None);
    h.tick_until("source available", |h| {
        status(h, "orig") == Some(SnapshotStatus::Available)
    })
    .await;

    let c = h
        .controller()
        .copy_snapshot(copy("orig", "dup"))
        .expect("copy");
    assert_eq!(c.status, SnapshotStatus::Creating);
    assert_eq!(c.copy_of.as_deref(), Some("orig"));
    // While the copy reads the source, the source cannot go.
    assert!(matches!(
        h.controller().delete_snapshot("orig"),
        Err(Fault::InvalidSnapshotState(_))
    ));
    h.tick_until("copy available", |h| {
        status(h, "dup") == Some(SnapshotStatus::Available)
    })
    .await;
    let want = std::fs::read(file_of(&h, "orig")).expect("source file");
    assert_eq!(std::fs::read(file_of(&h, "dup")).expect("copy file"), want);
    assert!(matches!(
        h.controller().copy_snapshot(copy("orig", "dup")),
        Err(Fault::SnapshotAlreadyExists(_))
    ));

    h.controller()
        .delete_snapshot("orig")
        .expect("delete source");
    h.tick_until("source gone", |h| status(h, "orig").is_none())
        .await;
    assert_eq!(std::fs::read(file_of(&h, "dup")).expect("copy file"), want);
    // The copy restores as its source would have.
    h.controller().restore_source("dup").expect("restorable");
}

#[tokio::test]
async fn a_source_file_that_does_not_match_its_record_fails_the_copy() {
    let h = Harness::new(QUICK_RETRY);
    cluster_with_snapshot(&h).await;
    h.tick_until("source available", |h| {
        status(h, "orig") == Some(SnapshotStatus::Available)
    })
    .await;
    // Corrupt the source behind the record's back (a disk error, a stray edit).
    let mut bytes = std::fs::read(file_of(&h, "orig")).expect("source file");
    bytes[0] ^= 0xff;
    std::fs::write(file_of(&h, "orig"), &bytes).expect("corrupt");

    h.controller()
        .copy_snapshot(copy("orig", "dup"))
        .expect("copy");
    h.tick_until("copy failed", |h| {
        status(h, "dup") == Some(SnapshotStatus::Failed)
    })
    .await;
    assert!(!file_of(&h, "dup").exists(), "no file of a failed copy");
    let events = h.events("solo");
    assert!(
        events
            .iter()
            .any(|m| m.contains("Snapshot dup failed after")),
        "{events:?}"
    );
}
