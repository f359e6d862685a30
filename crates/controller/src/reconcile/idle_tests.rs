//! What a settled fleet asks of its agents: nothing per pass that did not change,
//! and one call per host for what is checked periodically.

use std::sync::Arc;

use larder_agent::fake::FakeAgent;
use larder_agent::{AgentError, AgentFuture, AgentRequest, NodeAgent};
use larder_model::{ClusterStatus, Engine};

use super::test_harness::{Harness, GROUP, QUICK_RETRY};

fn count(h: &Harness, what: impl Fn(&AgentRequest) -> bool) -> usize {
    h.fake.requests().iter().filter(|r| what(r)).count()
}

#[tokio::test]
async fn a_settled_memcached_cluster_sends_its_configuration_endpoint_once() {
    let h = Harness::new(QUICK_RETRY);
    h.create_cluster("mc", Engine::Memcached, 2);
    h.tick_until("available", |h| {
        h.cluster("mc")
            .is_some_and(|c| c.status == ClusterStatus::Available)
    })
    .await;
    let config = |r: &AgentRequest| matches!(r, AgentRequest::ConfigEndpoint(_));
    let before = count(&h, config);
    assert!(before >= 1, "the endpoint was asked for");
    for _ in 0..10 {
        h.tick().await;
    }
    assert_eq!(count(&h, config), before, "sent again with nothing changed");
    assert_eq!(
        h.fake.config_endpoint("mc").map(|s| s.config.nodes.len()),
        Some(2)
    );
}

#[tokio::test]
async fn the_legacy_key_refresh_rewrites_lost_keys_in_one_call_per_host() {
    let h = Harness::new(QUICK_RETRY);
    h.create_cluster("mc1", Engine::Memcached, 2);
    h.create_cluster("mc2", Engine::Memcached, 1);
    h.tick_until("available", |h| {
        ["mc1", "mc2"].iter().all(|id| {
            h.cluster(id)
                .is_some_and(|c| c.status == ClusterStatus::Available)
        })
    })
    .await;
    let lost = "mc1-0002".to_string();
    let held = h.fake.legacy_key(&lost).expect("written when published");
    h.fake.evict_legacy_key(&lost);
    let single = |r: &AgentRequest| matches!(r, AgentRequest::LegacyDiscoveryKey { .. });
    let batch = |r: &AgentRequest| matches!(r, AgentRequest::LegacyDiscoveryKeys { .. });
    let (singles, batches) = (count(&h, single), count(&h, batch));
    h.controller().refresh_legacy_keys().await;
    assert_eq!(h.fake.legacy_key(&lost), Some(held), "the key is back");
    assert_eq!(count(&h, batch), batches + 1, "one call for the host");
    assert_eq!(count(&h, single), singles, "no call per node");
    let Some(AgentRequest::LegacyDiscoveryKeys { keys }) = h.fake.requests().pop() else {
        panic!("the refresh was the last request");
    };
    assert_eq!(keys.len(), 3, "every published node of both clusters");
}

#[tokio::test]
async fn the_primaries_of_a_host_are_probed_in_one_call_with_the_same_verdicts() {
    let h = Harness::with_group(2).await;
    let g = h.group();
    let c = h.controller();
    let batch = |r: &AgentRequest| matches!(r, AgentRequest::PingNodes { .. });
    let single = |r: &AgentRequest| matches!(r, AgentRequest::Ping { .. });
    let (singles, batches) = (count(&h, single), count(&h, batch));
    let verdicts = |h: &Harness| {
        let c = h.controller().clone();
        let g = g.clone();
        async move {
            let (decided, mut asked) = c.probe_primaries(vec![g]);
            let mut all = decided;
            while let Some(done) = asked.join_next().await {
                all.extend(done.expect("probe task"));
            }
            all.into_iter()
                .map(|(_, v)| v.map(|(_, dead)| dead))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(verdicts(&h).await, vec![None], "a live primary answers");
    h.fake.set(&h.key(&g.primary), |n| {
        n.process = larder_agent::fake::FakeProcess::Hung
    });
    assert_eq!(verdicts(&h).await, vec![Some(false)], "a hung one misses");
    assert_eq!(count(&h, batch), batches + 2);
    assert_eq!(count(&h, single), singles);
    let _ = c;
}

/// An agent from before `PingNodes` and `LegacyDiscoveryKeys`: it refuses them as
/// the link refuses a request it cannot parse.
struct OlderAgent(Arc<FakeAgent>);

impl NodeAgent for OlderAgent {
    fn call(&self, request: AgentRequest) -> AgentFuture<'_> {
        if matches!(
            request,
            AgentRequest::PingNodes { .. } | AgentRequest::LegacyDiscoveryKeys { .. }
        ) {
            return Box::pin(async {
                Err(AgentError::Unreachable(
                    "127.0.0.1:1: 400 Bad Request: unknown variant `PingNodes`".into(),
                ))
            });
        }
        self.0.call(request)
    }

    fn is_running(&self, key: &str) -> bool {
        self.0.is_running(key)
    }
}

#[tokio::test]
async fn an_older_agent_is_probed_and_refreshed_node_by_node() {
    let h = Harness::with_agent(QUICK_RETRY, |fake| Arc::new(OlderAgent(fake)));
    h.create_group(2);
    h.settle().await;
    h.create_cluster("mc", Engine::Memcached, 1);
    h.tick_until("available", |h| {
        h.cluster("mc")
            .is_some_and(|c| c.status == ClusterStatus::Available)
    })
    .await;
    let g = h.group();
    assert_eq!(g.id, GROUP);
    h.fake.set(&h.key(&g.primary), |n| {
        n.process = larder_agent::fake::FakeProcess::Hung
    });
    let (decided, mut asked) = h.controller().probe_primaries(vec![g]);
    assert!(decided.is_empty());
    let mut verdicts = Vec::new();
    while let Some(done) = asked.join_next().await {
        verdicts.extend(done.expect("probe task"));
    }
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].1.as_ref().map(|(_, dead)| *dead), Some(false));
    assert_eq!(count(&h, |r| matches!(r, AgentRequest::Ping { .. })), 1);
    h.fake.evict_legacy_key("mc-0001");
    h.controller().refresh_legacy_keys().await;
    assert!(
        h.fake.legacy_key("mc-0001").is_some(),
        "rewritten by a single call"
    );
}

#[tokio::test]
async fn a_pass_leaves_the_legacy_keys_to_the_refresh_writing_them_and_writes_them_next() {
    let h = Harness::new(QUICK_RETRY);
    h.create_cluster("mc", Engine::Memcached, 1);
    let refresh = h
        .controller()
        .claim("legacy-keys:mc".into())
        .expect("nobody writes yet");
    h.tick_until("available", |h| {
        h.cluster("mc")
            .is_some_and(|c| c.status == ClusterStatus::Available)
    })
    .await;
    assert_eq!(
        h.fake.legacy_key("mc-0001"),
        None,
        "written beside the refresh"
    );
    drop(refresh);
    h.tick().await;
    let written = h
        .fake
        .legacy_key("mc-0001")
        .expect("written by the next pass");
    assert_eq!(written.nodes.len(), 1);
}

#[tokio::test]
async fn a_settled_group_asks_no_member_for_its_replication_on_a_pass() {
    let h = Harness::with_group(3).await;
    let info = |r: &AgentRequest| matches!(r, AgentRequest::ReplicationInfo { .. });
    let before = count(&h, info);
    for _ in 0..10 {
        h.tick().await;
    }
    assert_eq!(
        count(&h, info),
        before,
        "asked although the agent pushes it"
    );
    // The pushed state still decides: a replica that lost its primary is attached again.
    let g = h.group();
    let replica = g.replicas().next().expect("a replica").clone();
    h.fake.set(&h.key(&replica), |n| {
        n.role = larder_agent::fake::FakeRole::Primary
    });
    h.tick().await;
    let primary = h.node(&g.primary).at();
    assert_eq!(
        h.node(&replica).role,
        larder_agent::fake::FakeRole::ReplicaOf(primary)
    );
}

#[tokio::test]
async fn an_agent_that_pushes_no_replication_is_asked_for_it_as_before() {
    let h = Harness::with_group(3).await;
    h.fake.push_replication(false);
    let info = |r: &AgentRequest| matches!(r, AgentRequest::ReplicationInfo { .. });
    let before = count(&h, info);
    h.tick().await;
    assert_eq!(count(&h, info), before + 3, "one question per member");
}
