//! The legacy `AmazonElastiCache:cluster` key on a real memcached node.

mod common;
mod engine_process;

use common::{config, Client, Memcached};
use larder_endpoints::{discovery_payload, ensure_legacy_discovery_key};

#[tokio::test]
async fn writes_only_when_missing_or_stale() {
    let node = Memcached::start();
    let cfg = config(3, &[node.node("n1")]);
    assert!(ensure_legacy_discovery_key(&node.addr(), &cfg)
        .await
        .unwrap());
    let mut direct = Client::connect(node.port).await;
    assert_eq!(
        direct.get("AmazonElastiCache:cluster").await,
        Some(discovery_payload(&cfg))
    );
    assert!(!ensure_legacy_discovery_key(&node.addr(), &cfg)
        .await
        .unwrap());

    assert_eq!(
        direct.call("delete AmazonElastiCache:cluster\r\n").await,
        "DELETED\r\n"
    );
    assert!(ensure_legacy_discovery_key(&node.addr(), &cfg)
        .await
        .unwrap());

    let newer = config(4, &[node.node("n1"), node.node("n1-again")]);
    assert!(ensure_legacy_discovery_key(&node.addr(), &newer)
        .await
        .unwrap());
    assert!(!ensure_legacy_discovery_key(&node.addr(), &newer)
        .await
        .unwrap());
}

#[tokio::test]
async fn unreachable_node_is_an_error() {
    let addr = format!("127.0.0.1:{}", common::free_port());
    assert!(ensure_legacy_discovery_key(&addr, &config(1, &[]))
        .await
        .is_err());
}
