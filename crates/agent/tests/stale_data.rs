//! A node without persistence never starts from a file it happens to find in its
//! directory: a replica's full sync, a crash or an earlier life must not bring old
//! data back (and replicate it to the group).

mod common;

use std::time::{Duration, Instant};

use common::{admin, client, spec, Fixture, READY};
use larder_model::Engine;

async fn get(port: u16, key: &str) -> Option<String> {
    let mut c = client(port).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_replica_restarted_alone_comes_back_empty() {
    let mut fx = Fixture::new();
    let primary = fx.track(&spec("rg-001", Engine::Redis));
    fx.agent.ensure_started(&primary).await.unwrap();
    fx.agent.wait_ready(&primary, READY).await.unwrap();
    let mut p = client(primary.port).await;
    let _: () = redis::cmd("SET")
        .arg("old")
        .arg("data")
        .query_async(&mut p)
        .await
        .unwrap();

    let mut replica = spec("rg-002", Engine::Redis);
    replica.extra_config = vec![("replicaof".into(), format!("127.0.0.1 {}", primary.port))];
    let replica = fx.track(&replica);
    fx.agent.ensure_started(&replica).await.unwrap();
    fx.agent.wait_ready(&replica, READY).await.unwrap();
    let deadline = Instant::now() + READY;
    while get(replica.port, "old").await.is_none() {
        assert!(Instant::now() < deadline, "replica never synced the key");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The member restarts on its own (say as a new primary after the group moved on).
    let mut alone = replica.clone();
    alone.extra_config.clear();
    fx.agent.stop(&alone.key).await.unwrap();
    fx.agent.ensure_started(&alone).await.unwrap();
    fx.agent.wait_ready(&alone, READY).await.unwrap();
    assert_eq!(get(alone.port, "old").await, None, "old data came back");
    let dir = fx.agent.node_dir(&alone.key);
    assert!(!dir.join("dump.rdb").exists());
}

#[tokio::test]
async fn leftover_rdb_and_aof_files_are_removed_before_start() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-left", Engine::Redis));
    let dir = fx.agent.node_dir(&s.key);
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
    for f in [
        "dump.rdb",
        "temp-123.rdb",
        "appendonlydir/appendonly.aof.1.base.rdb",
    ] {
        std::fs::write(dir.join(f), b"junk").unwrap();
    }
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    assert_eq!(get(s.port, "old").await, None);
    assert!(!dir.join("dump.rdb").exists());
    assert!(!dir.join("temp-123.rdb").exists());
    assert!(!dir.join("appendonlydir").exists());
}

#[tokio::test]
async fn a_replica_with_data_keeps_no_sync_file_after_a_full_sync() {
    // Its dataset is not empty, so it loads the stream through a file on disk.
    let mut fx = Fixture::new();
    let primary = fx.track(&spec("rg-p", Engine::Redis));
    let replica = fx.track(&spec("rg-r", Engine::Redis));
    for s in [&primary, &replica] {
        fx.agent.ensure_started(s).await.unwrap();
        fx.agent.wait_ready(s, READY).await.unwrap();
    }
    let mut p = client(primary.port).await;
    let _: () = redis::cmd("SET")
        .arg("new")
        .arg("1")
        .query_async(&mut p)
        .await
        .unwrap();
    let mut r = client(replica.port).await;
    let _: () = redis::cmd("SET")
        .arg("mine")
        .arg("1")
        .query_async(&mut r)
        .await
        .unwrap();
    let mut a = admin(&fx.agent, replica.port).await;
    let _: () = redis::cmd(&larder_agent::admin_name("replicaof"))
        .arg("127.0.0.1")
        .arg(primary.port)
        .query_async(&mut a)
        .await
        .unwrap();
    let deadline = Instant::now() + READY;
    while get(replica.port, "new").await.is_none() {
        assert!(Instant::now() < deadline, "replica never synced the key");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = std::fs::read_to_string(fx.agent.node_dir(&replica.key).join("redis.log")).unwrap();
    assert!(
        log.contains("Removing the RDB file obtained from the master"),
        "{log}"
    );
    assert!(!fx.agent.node_dir(&replica.key).join("dump.rdb").exists());
}

#[tokio::test]
async fn a_snapshot_named_on_purpose_is_loaded() {
    let mut fx = Fixture::new();
    let mut source = spec("rg-src", Engine::Redis);
    source.command_limits = larder_agent::CommandLimits::Unrestricted;
    let source = fx.track(&source);
    fx.agent.ensure_started(&source).await.unwrap();
    fx.agent.wait_ready(&source, READY).await.unwrap();
    let mut c = client(source.port).await;
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("yes")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("SAVE").query_async(&mut c).await.unwrap();
    let snapshot = fx.root.path().join("snapshot.rdb");
    std::fs::copy(fx.agent.node_dir(&source.key).join("dump.rdb"), &snapshot).unwrap();

    let mut restored = spec("rg-restored", Engine::Redis);
    restored.initial_data = larder_agent::InitialData::Rdb(snapshot.clone());
    let restored = fx.track(&restored);
    fx.agent.ensure_started(&restored).await.unwrap();
    fx.agent.wait_ready(&restored, READY).await.unwrap();
    assert_eq!(get(restored.port, "kept").await.as_deref(), Some("yes"));
    assert!(snapshot.exists(), "the snapshot itself is left alone");

    // Restarted without naming it again, the node starts empty.
    let mut plain = restored.clone();
    plain.initial_data = larder_agent::InitialData::Empty;
    fx.agent.restart(&plain).await.unwrap();
    fx.agent.wait_ready(&plain, READY).await.unwrap();
    assert_eq!(get(plain.port, "kept").await, None);
}
