//! The configuration endpoint against real memcached nodes.

mod common;
mod engine_process;

use common::{config, free_port, Client, Memcached};
use larder_endpoints::{config_get_cluster_reply, ConfigEndpoint, DiscoveryNode};

async fn endpoint(cfg: larder_endpoints::DiscoveryConfig) -> ConfigEndpoint {
    ConfigEndpoint::start("127.0.0.1", 0, cfg).await.unwrap()
}

#[tokio::test]
async fn config_get_cluster_follows_updates() {
    let a = DiscoveryNode {
        host: "a".into(),
        ip: "127.0.0.1".into(),
        port: 11211,
    };
    let ep = endpoint(config(1, std::slice::from_ref(&a))).await;
    let mut c = Client::connect(ep.port()).await;
    let expected = config_get_cluster_reply(&config(1, std::slice::from_ref(&a)));
    c.send("config get cluster\r\n").await;
    assert_eq!(c.bytes(expected.len()).await, expected);

    let mut b = a.clone();
    b.host = "b".into();
    b.port = 11212;
    ep.update(config(2, &[a.clone(), b.clone()]));
    c.send("config get cluster\r\n").await;
    let header = c.line().await;
    assert_eq!(header, "CONFIG cluster 0 38\r\n");
    assert_eq!(
        c.bytes(38).await,
        b"2\na|127.0.0.1|11211 b|127.0.0.1|11212\n"
    );
    assert_eq!(c.line().await, "\r\n");
    assert_eq!(c.line().await, "END\r\n");
}

#[tokio::test]
async fn classic_commands_land_on_the_node() {
    let node = Memcached::start();
    let ep = endpoint(config(1, &[node.node("n1")])).await;
    let mut c = Client::connect(ep.port()).await;
    let mut direct = Client::connect(node.port).await;

    assert_eq!(c.call("set k 5 0 3\r\nabc\r\n").await, "STORED\r\n");
    assert_eq!(direct.get("k").await.as_deref(), Some(&b"abc"[..]));
    assert_eq!(c.get("k").await.as_deref(), Some(&b"abc"[..]));
    assert_eq!(c.call("append k 0 0 2\r\nde\r\n").await, "STORED\r\n");
    assert_eq!(c.call("gets k\r\n").await.split(' ').count(), 5);
    c.line().await;
    assert_eq!(c.line().await, "END\r\n");
    assert_eq!(c.call("delete k\r\n").await, "DELETED\r\n");
    assert_eq!(direct.get("k").await, None);
    assert_eq!(c.call("set n 0 0 2\r\n41\r\n").await, "STORED\r\n");
    assert_eq!(c.call("incr n 1\r\n").await, "42\r\n");
    assert_eq!(c.call("decr n 2\r\n").await, "40\r\n");
    assert_eq!(c.call("touch n 100\r\n").await, "TOUCHED\r\n");
    assert!(c.call("version\r\n").await.starts_with("VERSION 1."));
    assert_eq!(c.call("bogus\r\n").await, "ERROR\r\n");
    // Multi-line stats are relayed whole.
    c.send("stats\r\n").await;
    let mut lines = 0;
    loop {
        let line = c.line().await;
        if line == "END\r\n" {
            break;
        }
        assert!(line.starts_with("STAT "), "{line}");
        lines += 1;
    }
    assert!(lines > 10);
    // noreply: nothing comes back, but the write happened.
    c.send("set quiet 0 0 1 noreply\r\nq\r\n").await;
    assert_eq!(c.get("quiet").await.as_deref(), Some(&b"q"[..]));
    c.send("quit\r\n").await;
    assert_eq!(c.line().await, "");
}

#[tokio::test]
async fn meta_commands_are_relayed() {
    let node = Memcached::start();
    let ep = endpoint(config(1, &[node.node("n1")])).await;
    let mut c = Client::connect(ep.port()).await;
    assert_eq!(c.call("ms mk 2 T0\r\nhi\r\n").await, "HD\r\n");
    assert_eq!(c.call("mg mk v\r\n").await, "VA 2\r\n");
    assert_eq!(c.bytes(4).await, b"hi\r\n");
    // A quiet miss says nothing; the client's own mn is answered.
    assert_eq!(c.call("mg nothing v q\r\nmn\r\n").await, "MN\r\n");
    assert_eq!(c.call("md mk\r\n").await, "HD\r\n");
    assert_eq!(c.call("mg mk v\r\n").await, "EN\r\n");
}

#[tokio::test]
async fn large_values_and_pipelines_pass_through() {
    let node = Memcached::start();
    let ep = endpoint(config(1, &[node.node("n1")])).await;
    let mut c = Client::connect(ep.port()).await;

    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let mut request = format!("set big 0 0 {}\r\n", big.len()).into_bytes();
    request.extend_from_slice(&big);
    request.extend_from_slice(b"\r\n");
    c.send(&request).await;
    assert_eq!(c.line().await, "STORED\r\n");
    assert_eq!(c.get("big").await.as_deref(), Some(big.as_slice()));

    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&format!("set p{i} 0 0 {}\r\n{i}\r\n", i.to_string().len()));
        batch.push_str(&format!("set q{i} 0 0 1 noreply\r\nx\r\n"));
    }
    batch.push_str("get p0 p199 q5\r\nversion\r\n");
    c.send(&batch).await;
    for _ in 0..200 {
        assert_eq!(c.line().await, "STORED\r\n");
    }
    assert_eq!(c.line().await, "VALUE p0 0 1\r\n");
    assert_eq!(c.line().await, "0\r\n");
    assert_eq!(c.line().await, "VALUE p199 0 3\r\n");
    assert_eq!(c.line().await, "199\r\n");
    assert_eq!(c.line().await, "VALUE q5 0 1\r\n");
    assert_eq!(c.line().await, "x\r\n");
    assert_eq!(c.line().await, "END\r\n");
    assert!(c.line().await.starts_with("VERSION "));
}

#[tokio::test]
async fn a_client_stays_on_its_node_until_the_node_goes() {
    let mut first = Memcached::start();
    let second = Memcached::start();
    let ep = endpoint(config(1, &[first.node("n1"), second.node("n2")])).await;
    let mut c = Client::connect(ep.port()).await;
    assert_eq!(c.call("set where 0 0 1\r\n1\r\n").await, "STORED\r\n");
    assert!(Client::connect(first.port)
        .await
        .get("where")
        .await
        .is_some());

    // n1 leaves the config: like a direct connection, c keeps talking to n1,
    // while a new client reaches a current member.
    ep.update(config(2, &[second.node("n2")]));
    assert_eq!(c.get("where").await.as_deref(), Some(&b"1"[..]));
    let mut d = Client::connect(ep.port()).await;
    assert_eq!(d.get("where").await, None);
    assert_eq!(d.call("set where 0 0 1\r\n2\r\n").await, "STORED\r\n");

    // When n1 dies its clients are closed, as its own connections would be.
    first.kill();
    assert_eq!(c.line().await, "");
    let mut e = Client::connect(ep.port()).await;
    assert_eq!(e.get("where").await.as_deref(), Some(&b"2"[..]));
}

#[tokio::test]
async fn no_reachable_node_is_a_server_error() {
    let dead = DiscoveryNode {
        host: "gone".into(),
        ip: "127.0.0.1".into(),
        port: free_port(),
    };
    let ep = endpoint(config(1, &[dead])).await;
    // Discovery needs no node.
    let mut c = Client::connect(ep.port()).await;
    c.send("config get cluster\r\n").await;
    assert_eq!(c.line().await, "CONFIG cluster 0 23\r\n");
    c.bytes(23 + 7).await;
    // Anything else has nowhere to go: memcached's server error, then the close.
    assert_eq!(
        c.call("get x\r\n").await,
        "SERVER_ERROR no cache node reachable\r\n"
    );
    assert_eq!(c.line().await, "");
}

#[tokio::test]
async fn shutdown_closes_listener_and_connections() {
    let ep = endpoint(config(1, &[])).await;
    let port = ep.port();
    let mut c = Client::connect(port).await;
    c.send("config get cluster\r\n").await;
    let expected = config_get_cluster_reply(&config(1, &[]));
    assert_eq!(c.bytes(expected.len()).await, expected);
    ep.shutdown();
    assert_eq!(c.line().await, "");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
}
