//! Every endpoint bounds what a client can make it hold: announced lengths are
//! streamed, not allocated (the process hosting the endpoints is this test, so its
//! own RSS is the measure), and connections over a cap get the engine's own
//! refusal, checked against real memcached and redis-server processes.

// Shared helpers; this binary uses only some of them.
#[allow(dead_code)]
mod common;
mod engine_process;
#[allow(dead_code)]
mod redis_support;

use std::time::Duration;

use common::{config, Memcached};
use larder_endpoints::{
    ConfigEndpoint, ConnectionLimits, EndpointOptions, EndpointRole, RedisEndpoint, RedisTargets,
};
use redis_support::Redis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How much the test process may grow while clients announce gigabytes.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// This process's resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// memcached's `bytes_read` counter: what the node has received.
async fn bytes_read(port: u16) -> u64 {
    let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(b"stats\r\n").await.unwrap();
    let mut out = Vec::new();
    while !out.ends_with(b"END\r\n") {
        let mut buf = [0; 4096];
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "node closed");
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(out).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("STAT bytes_read "))
        .unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Reads until EOF (or reset), with a guard against a hang.
async fn until_closed(c: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0; 1024];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("connection closed in time");
    out
}

#[tokio::test]
async fn announced_memcached_values_are_streamed_not_allocated() {
    let node = Memcached::start();
    let ep = ConfigEndpoint::start("127.0.0.1", 0, config(1, &[node.node("n1")]))
        .await
        .unwrap();
    let start_read = bytes_read(node.port).await;
    let before = rss_kib();
    let chunk = vec![b'x'; 64 * 1024];
    let mut clients = Vec::new();
    let mut sent = 0;
    for i in 0..4 {
        let mut c = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
        let line = format!("set big{i} 0 0 1073741823\r\n");
        c.write_all(line.as_bytes()).await.unwrap();
        c.write_all(&chunk).await.unwrap();
        sent += line.len() + chunk.len();
        clients.push(c);
    }
    // Either the node got every byte (the endpoint streams) or we see the growth.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < RSS_BOUND_KIB,
            "endpoint grew by {grown} KiB for 4 announced 1 GiB values"
        );
        // The stats connection itself adds a few bytes per look.
        if bytes_read(node.port).await >= start_read + sent as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bytes never reached the node"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The client gets what the node itself answers to such a value.
    let mut via = clients.pop().unwrap();
    drop(clients);
    let mut direct = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    direct
        .write_all(&[&b"set big 0 0 1073741823\r\n"[..], &chunk].concat())
        .await
        .unwrap();
    for c in [&mut via, &mut direct] {
        c.shutdown().await.unwrap();
    }
    assert_eq!(
        until_closed(&mut via).await,
        until_closed(&mut direct).await
    );
}

#[tokio::test]
async fn announced_redis_bulks_are_not_allocated() {
    let node = Redis::start();
    let targets = RedisTargets {
        generation: 1,
        primary: Some(node.addr()),
        replicas: Vec::new(),
    };
    let ep = RedisEndpoint::start("127.0.0.1", 0, EndpointRole::Primary, targets)
        .await
        .unwrap();
    let before = rss_kib();
    let announcements: [&[u8]; 4] = [
        b"*1\r\n$536870000\r\n",
        b"*2\r\n$3\r\nSET\r\n$536870000\r\n",
        b"*1048576\r\n$3\r\nGET\r\n",
        b"*2147483647\r\n",
    ];
    let mut clients = Vec::new();
    for i in 0..64 {
        let mut c = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
        c.write_all(announcements[i % 4]).await.unwrap();
        c.write_all(&[b'x'; 16 * 1024]).await.unwrap();
        clients.push(c);
    }
    // A round trip through the same endpoint after all of them.
    let mut probe = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    probe.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let mut pong = [0; 7];
    probe.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < RSS_BOUND_KIB,
        "endpoint grew by {grown} KiB for 64 announced huge commands"
    );
}

#[tokio::test]
async fn a_full_configuration_endpoint_refuses_as_memcached_does() {
    // What a real memcached says past its -c limit (it keeps a few for itself).
    let full = Memcached::start_with(&["-c", "40", "-t", "1"]);
    let mut held = Vec::new();
    let mut refusal = None;
    for _ in 0..60 {
        let mut c = TcpStream::connect(("127.0.0.1", full.port)).await.unwrap();
        c.write_all(b"version\r\n").await.unwrap();
        let mut buf = [0; 64];
        let n = c.read(&mut buf).await.unwrap();
        if buf[..n].starts_with(b"ERROR") {
            let mut said = buf[..n].to_vec();
            said.extend(until_closed(&mut c).await);
            refusal = Some(said);
            break;
        }
        held.push(c);
    }
    let refusal = refusal.expect("memcached refused a connection");
    assert_eq!(refusal, b"ERROR Too many open connections\r\n");

    let node = Memcached::start();
    let limits = ConnectionLimits {
        per_endpoint: 2,
        ..ConnectionLimits::default()
    };
    let ep = ConfigEndpoint::start_with("127.0.0.1", 0, config(1, &[node.node("n1")]), limits)
        .await
        .unwrap();
    let mut first = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    let mut second = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    for c in [&mut first, &mut second] {
        c.write_all(b"version\r\n").await.unwrap();
        let mut buf = [0; 64];
        assert!(c.read(&mut buf).await.unwrap() > 0);
    }
    let mut third = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    assert_eq!(until_closed(&mut third).await, refusal);
    // A slot frees when a client leaves.
    drop(first);
    redis_support::wait_until(|| ep.connections() < 2).await;
    let mut fourth = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    fourth.write_all(b"version\r\n").await.unwrap();
    let mut buf = [0; 7];
    fourth.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"VERSION");
}

#[tokio::test]
async fn a_full_redis_endpoint_refuses_as_redis_does() {
    // What a real redis-server says past maxclients (the first client or two may
    // still find room while it notices the start-up probe's close).
    let full = Redis::start_with(&["--maxclients", "1"]);
    let mut held = Vec::new();
    let mut refusal = None;
    for _ in 0..10 {
        let mut c = TcpStream::connect(("127.0.0.1", full.port)).await.unwrap();
        let _ = c.write_all(b"*1\r\n$4\r\nPING\r\n").await;
        let mut first = [0; 7];
        if c.read_exact(&mut first).await.is_ok() && &first == b"+PONG\r\n" {
            held.push(c);
            continue;
        }
        let mut said = first.to_vec();
        said.extend(until_closed(&mut c).await);
        refusal = Some(said);
        break;
    }
    let refusal = refusal.expect("redis-server refused a connection");
    assert_eq!(refusal, b"-ERR max number of clients reached\r\n");
    let mut pong = [0; 7];

    let node = Redis::start();
    let targets = RedisTargets {
        generation: 1,
        primary: Some(node.addr()),
        replicas: Vec::new(),
    };
    let options = EndpointOptions {
        limits: ConnectionLimits {
            per_endpoint: 2,
            ..ConnectionLimits::default()
        },
        ..EndpointOptions::default()
    };
    let ep = RedisEndpoint::start_with("127.0.0.1", 0, EndpointRole::Primary, targets, options)
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
        c.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        c.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        held.push(c);
    }
    let mut third = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
    assert_eq!(until_closed(&mut third).await, refusal);
    drop(held.pop());
    // The freed slot is taken by the next client (the endpoint notices the close
    // when the session ends, so retry until it has).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
        c.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        let mut buf = [0; 7];
        if c.read_exact(&mut buf).await.is_ok() && &buf == b"+PONG\r\n" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
