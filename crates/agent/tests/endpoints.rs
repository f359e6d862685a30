//! The endpoints an agent serves, driven through the agent interface against real
//! redis-server processes: re-routing, retiring, and an agent that restarts serving
//! the last routes it was told before anyone tells it again.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{client, free_port, spec, Fixture, READY};
use larder_agent::{
    port_is_free, ConfigEndpointSpec, GroupEndpointSpec, LocalAgent, NodeAgent, NodeSpec,
};
use larder_endpoints::{
    ConnectionLimits, DiscoveryConfig, DiscoveryNode, EndpointOptions, RedisTargets,
};
use larder_model::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Endpoints of group `g` on fresh ports, sending every client to `primary`.
fn group_spec(primary: u16) -> GroupEndpointSpec {
    GroupEndpointSpec {
        group_id: "g".into(),
        bind: "127.0.0.1".into(),
        primary_port: free_port(),
        reader_port: free_port(),
        // Kernel splice off: the test must not touch the host's cgroups.
        options: EndpointOptions::default(),
        targets: RedisTargets {
            generation: 1,
            primary: Some(format!("127.0.0.1:{primary}")),
            replicas: Vec::new(),
        },
    }
}

async fn start(fx: &mut Fixture, key: &str) -> NodeSpec {
    let s = fx.track(&spec(key, Engine::Redis));
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    s
}

async fn set(port: u16, key: &str, value: &str) {
    let mut c = client(port).await;
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut c)
        .await
        .unwrap();
}

async fn get(port: u16, key: &str) -> Option<String> {
    let mut c = client(port).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

/// Drops an agent and waits until its listeners are closed, as after its process died.
async fn stop_agent(agent: LocalAgent, ports: &[u16]) {
    drop(agent);
    wait_closed(ports).await;
}

/// Waits until nothing listens on `ports` (listeners close on the data-plane runtime).
async fn wait_closed(ports: &[u16]) {
    let deadline = Instant::now() + READY;
    while !ports.iter().all(|&p| port_is_free("127.0.0.1", p)) {
        assert!(Instant::now() < deadline, "the endpoints kept listening");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn agent_on(root: &Path) -> LocalAgent {
    LocalAgent::new(root.to_path_buf())
}

#[tokio::test]
async fn a_restarted_agent_serves_the_last_routes_it_was_told() {
    let mut fx = Fixture::new();
    let a = start(&mut fx, "g-001").await;
    let b = start(&mut fx, "g-002").await;
    let first = agent_on(fx.root.path());
    let mut told = group_spec(a.port);
    let node_agent: &dyn NodeAgent = &first;
    node_agent.group_endpoints(told.clone()).await.unwrap();
    // The same request again changes nothing.
    node_agent.group_endpoints(told.clone()).await.unwrap();
    set(told.primary_port, "k", "on-a").await;
    assert_eq!(get(a.port, "k").await.as_deref(), Some("on-a"));

    stop_agent(first, &[told.primary_port, told.reader_port]).await;
    let second = agent_on(fx.root.path());
    assert_eq!(second.restore_endpoints().await, 1);
    // Nobody told the new agent anything: both endpoints serve the last routes.
    assert_eq!(get(told.primary_port, "k").await.as_deref(), Some("on-a"));
    assert_eq!(get(told.reader_port, "k").await.as_deref(), Some("on-a"));

    // The restored listeners are re-routed in place.
    told.targets = RedisTargets {
        generation: 2,
        primary: Some(format!("127.0.0.1:{}", b.port)),
        replicas: Vec::new(),
    };
    let node_agent: &dyn NodeAgent = &second;
    node_agent.group_endpoints(told.clone()).await.unwrap();
    set(told.primary_port, "k", "on-b").await;
    assert_eq!(get(b.port, "k").await.as_deref(), Some("on-b"));
    assert_eq!(get(a.port, "k").await.as_deref(), Some("on-a"));
}

/// What a configuration endpoint answers to `config get cluster`.
async fn config_get_cluster(port: u16) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(b"config get cluster\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.ends_with(b"END\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {reply:?}");
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(reply).unwrap()
}

#[tokio::test]
async fn a_retired_endpoint_stays_retired_after_a_restart() {
    let fx = Fixture::new();
    let first = agent_on(fx.root.path());
    let group = group_spec(free_port());
    let config = ConfigEndpointSpec {
        cluster_id: "mc".into(),
        bind: "127.0.0.1".into(),
        port: free_port(),
        limits: ConnectionLimits::default(),
        config: DiscoveryConfig {
            version: 4,
            nodes: vec![DiscoveryNode {
                host: "localhost".into(),
                ip: "127.0.0.1".into(),
                port: 11311,
            }],
        },
    };
    let node_agent: &dyn NodeAgent = &first;
    node_agent.group_endpoints(group.clone()).await.unwrap();
    node_agent.config_endpoint(config.clone()).await.unwrap();
    assert!(config_get_cluster(config.port).await.contains("\r\n4\n"));
    node_agent.retire_group_endpoints("g").await.unwrap();
    // Retired now, not only after a restart.
    wait_closed(&[group.primary_port, group.reader_port]).await;

    stop_agent(first, &[config.port]).await;
    let second = agent_on(fx.root.path());
    assert_eq!(second.restore_endpoints().await, 1);
    assert!(config_get_cluster(config.port)
        .await
        .contains("localhost|127.0.0.1|11311"));
    assert!(port_is_free("127.0.0.1", group.primary_port));
    assert!(port_is_free("127.0.0.1", group.reader_port));
}
