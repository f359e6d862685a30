//! The legacy discovery key refresh over kept connections, against real memcached.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::{spec, Fixture, READY};
use larder_agent::{AgentReply, AgentRequest, NodeAgent, NodeRef};
use larder_endpoints::{DiscoveryConfig, DiscoveryNode};
use larder_model::Engine;

/// memcached's `stats` value `name`, over a connection of its own.
fn stat(port: u16, name: &str) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"stats\r\n").unwrap();
    let reader = BufReader::new(stream);
    for line in reader.lines() {
        let line = line.unwrap();
        if line == "END" {
            break;
        }
        let mut words = line.split_whitespace();
        if words.nth(1) == Some(name) {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no stat {name}");
}

fn flush_all(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"flush_all\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    assert_eq!(line, "OK\r\n");
}

#[tokio::test]
async fn the_refresh_keeps_one_connection_per_node_and_still_rewrites_a_lost_key() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("lk-0001", Engine::Memcached));
    fx.agent
        .call(AgentRequest::StartNode(s.clone()))
        .await
        .unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    let node = NodeRef {
        key: s.key.clone(),
        host: "127.0.0.1".into(),
        port: s.port,
    };
    let config = DiscoveryConfig {
        version: 1,
        nodes: vec![DiscoveryNode {
            host: "localhost".into(),
            ip: "127.0.0.1".into(),
            port: s.port,
        }],
    };
    let refresh = || AgentRequest::LegacyDiscoveryKeys {
        keys: vec![(node.clone(), config.clone())],
    };
    let first = fx.agent.call(refresh()).await.unwrap();
    assert_eq!(first, AgentReply::Flags(vec![true]), "written at first");
    let before = stat(s.port, "total_connections");
    for _ in 0..5 {
        let again = fx.agent.call(refresh()).await.unwrap();
        assert_eq!(again, AgentReply::Flags(vec![false]), "already there");
    }
    // Each `stat` call is a connection of its own: only that one is new.
    assert_eq!(stat(s.port, "total_connections"), before + 1);
    flush_all(s.port);
    let lost = fx.agent.call(refresh()).await.unwrap();
    assert_eq!(
        lost,
        AgentReply::Flags(vec![true]),
        "rewritten after a flush"
    );
    // A restarted node breaks the kept connection: the refresh connects again.
    fx.agent
        .call(AgentRequest::RestartNode(s.clone()))
        .await
        .unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    let restarted = fx.agent.call(refresh()).await.unwrap();
    assert_eq!(
        restarted,
        AgentReply::Flags(vec![true]),
        "written to the new process"
    );
}
