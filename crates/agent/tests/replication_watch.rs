//! The agent reads its redis nodes' replication itself and pushes it with its
//! observations: real redis-server processes, driven through the agent interface.

mod common;

use std::time::{Duration, Instant};

use common::{spec, Fixture, READY};
use larder_agent::{
    AgentRequest, HostPort, NodeAgent, NodeRef, ReplicationChange, ReplicationRole, ReplicationView,
};
use larder_model::Engine;

fn node_ref(s: &larder_agent::NodeSpec) -> NodeRef {
    NodeRef {
        key: s.key.clone(),
        host: "127.0.0.1".into(),
        port: s.port,
    }
}

/// Waits (bounded, for a loaded machine) until `key`'s pushed view satisfies `ok`.
async fn until(fx: &Fixture, key: &str, what: &str, ok: impl Fn(&ReplicationView) -> bool) {
    let deadline = Instant::now() + READY;
    loop {
        if fx.agent.replication_view(key).as_ref().is_some_and(&ok) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key}: {what}; pushed: {:?}",
            fx.agent.replication_view(key)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_agent_pushes_replication_and_a_change_shows_before_its_reply() {
    let mut fx = Fixture::new();
    let p = fx.track(&spec("rw-001-0001", Engine::Redis));
    let r = fx.track(&spec("rw-002-0001", Engine::Redis));
    for s in [&p, &r] {
        fx.agent
            .call(AgentRequest::StartNode(s.clone()))
            .await
            .unwrap();
        fx.agent.wait_ready(s, READY).await.unwrap();
    }
    assert_eq!(fx.agent.replication_view(&p.key), None, "not watching yet");
    fx.agent.watch_replication();
    until(&fx, &r.key, "read as a primary", |v| {
        v.role == ReplicationRole::Primary
    })
    .await;

    let primary = HostPort {
        host: "127.0.0.1".into(),
        port: p.port,
    };
    let attach = AgentRequest::Replication {
        node: node_ref(&r),
        change: ReplicationChange::Attach {
            primary: primary.clone(),
        },
    };
    fx.agent.call(attach).await.unwrap();
    // Read again before the reply: never the state from before the change.
    let now = fx.agent.replication_view(&r.key).expect("read at once");
    assert_eq!(now.role, ReplicationRole::Replica);
    assert_eq!(now.primary, Some(primary));

    until(&fx, &r.key, "linked", |v| v.link_up && !v.sync_in_progress).await;
    until(&fx, &p.key, "replica online", |v| {
        v.online_replicas.iter().any(|h| h.port == r.port)
    })
    .await;

    // A lifecycle change forgets what was read of the old process.
    let stop = AgentRequest::StopNode { key: r.key.clone() };
    fx.agent.call(stop).await.unwrap();
    assert_eq!(fx.agent.replication_view(&r.key), None);
    until(&fx, &p.key, "replica gone", |v| {
        v.online_replicas.is_empty()
    })
    .await;
}
