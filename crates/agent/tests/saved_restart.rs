//! A node restarted from its own saved file (the in-place engine upgrade): it holds
//! what it had at the save and nothing written after; a file that does not match its
//! record is refused before the node loads it.

mod common;

use common::{client, spec, Fixture, READY};
use larder_agent::{InitialData, NodeAgent, NodeRef, SnapshotSave};
use larder_model::Engine;

async fn set(port: u16, key: &str) {
    let mut c = client(port).await;
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
}

async fn exists(port: u16, key: &str) -> bool {
    let mut c = client(port).await;
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    n == 1
}

#[tokio::test]
async fn a_node_restarts_from_its_saved_file_and_a_mismatched_one_is_refused() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("solo-0001", Engine::Redis));
    let agent: &dyn NodeAgent = &fx.agent;
    agent.start_node(&s).await.unwrap();
    agent.wait_ready(&s, READY).await.unwrap();
    set(s.port, "before").await;
    let node = NodeRef {
        key: s.key.clone(),
        host: "127.0.0.1".into(),
        port: s.port,
    };
    let file = match agent
        .save_snapshot(&node, "upgrade-solo-1", READY)
        .await
        .unwrap()
    {
        SnapshotSave::Saved(f) => f,
        SnapshotSave::Pending => panic!("a tiny dataset saves within the wait"),
    };
    set(s.port, "after").await;

    let mut wrong = file.clone();
    wrong.sha256 = "00".repeat(32);
    let mut bad = s.clone();
    bad.initial_data = InitialData::Saved {
        snapshot: "upgrade-solo-1".into(),
        expect: wrong,
    };
    let refused = agent.restart_node(&bad).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("does not match")),
        "{refused:?}"
    );

    let mut good = s.clone();
    good.initial_data = InitialData::Saved {
        snapshot: "upgrade-solo-1".into(),
        expect: file,
    };
    agent.restart_node(&good).await.unwrap();
    agent.wait_ready(&good, READY).await.unwrap();
    assert!(
        exists(s.port, "before").await,
        "the saved data was not loaded"
    );
    assert!(!exists(s.port, "after").await, "data from after the save");
}
