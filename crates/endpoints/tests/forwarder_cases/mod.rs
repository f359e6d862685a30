//! Redis primary and reader endpoints against real redis-server processes: the
//! cases every way of serving clients must pass. Each test binary that includes
//! this module says how its endpoints serve clients (`crate::endpoint_options`).

use std::time::Duration;

use larder_endpoints::{EndpointRole, RedisTargets};

use crate::endpoint_setup::{
    expect_spliced, primary_endpoint, settle, start, start_unsettled, targets,
};
use crate::redis_support::{self, encode, Client, Redis, Resp};

#[tokio::test]
async fn set_and_get_land_on_the_real_node() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut via = Client::connect(ep.port()).await;
    assert_eq!(via.cmd(&["SET", "k", "v"]).await, Resp::ok());
    assert_eq!(via.cmd(&["GET", "k"]).await, Resp::bulk("v"));
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["GET", "k"]).await, Resp::bulk("v"));
    assert_eq!(via.node_port().await, node.port);
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn one_megabyte_value_round_trips() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let value: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    // A spliced client needs no endpoint code: the value goes up and comes back
    // while the endpoints' thread is blocked.
    let spliced = crate::endpoint_options().kernel_splice == larder_endpoints::KernelSplice::Auto;
    let hold = spliced.then(larder_endpoints::hold_data_plane);
    let mut via = Client::connect(ep.port()).await;
    via.send(&encode(&[b"SET", b"big", &value])).await.unwrap();
    assert_eq!(via.reply().await.unwrap(), Resp::ok());
    assert_eq!(via.cmd(&["GET", "big"]).await, Resp::Bulk(Some(value)));
    drop(hold);
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["STRLEN", "big"]).await, Resp::Int(1 << 20));
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn pipelined_commands_keep_their_order() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut via = Client::connect(ep.port()).await;
    let mut batch = Vec::new();
    for i in 0..500 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        batch.extend(encode(&[b"SET", k.as_bytes(), v.as_bytes()]));
        batch.extend(encode(&[b"GET", k.as_bytes()]));
    }
    via.send(&batch).await.unwrap();
    for i in 0..500 {
        assert_eq!(via.reply().await.unwrap(), Resp::ok());
        assert_eq!(via.reply().await.unwrap(), Resp::bulk(&format!("v{i}")));
    }
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn pub_sub_reaches_a_subscriber_behind_the_endpoint() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut sub = Client::connect(ep.port()).await;
    let confirm = sub.cmd(&["SUBSCRIBE", "news"]).await;
    assert_eq!(
        confirm,
        Resp::Array(Some(vec![
            Resp::bulk("subscribe"),
            Resp::bulk("news"),
            Resp::Int(1)
        ]))
    );
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["PUBLISH", "news", "hi"]).await, Resp::Int(1));
    let message = sub.reply().await.unwrap();
    assert_eq!(
        message,
        Resp::Array(Some(vec![
            Resp::bulk("message"),
            Resp::bulk("news"),
            Resp::bulk("hi")
        ]))
    );
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn blpop_through_the_endpoint_is_released_by_a_direct_push() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut via = Client::connect(ep.port()).await;
    via.send(&encode(&[b"BLPOP", b"queue", b"5"]))
        .await
        .unwrap();
    // Give BLPOP time to block before the push, so it really waits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["LPUSH", "queue", "job"]).await, Resp::Int(1));
    let popped = via.reply().await.unwrap();
    assert_eq!(
        popped,
        Resp::Array(Some(vec![Resp::bulk("queue"), Resp::bulk("job")]))
    );
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn multi_exec_runs_as_a_transaction() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut via = Client::connect(ep.port()).await;
    assert_eq!(via.cmd(&["MULTI"]).await, Resp::ok());
    assert_eq!(via.cmd(&["INCR", "n"]).await, Resp::Simple("QUEUED".into()));
    assert_eq!(via.cmd(&["INCR", "n"]).await, Resp::Simple("QUEUED".into()));
    let exec = via.cmd(&["EXEC"]).await;
    assert_eq!(exec, Resp::Array(Some(vec![Resp::Int(1), Resp::Int(2)])));
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn failover_closes_old_connections_and_new_ones_reach_the_new_primary() {
    let (old, new) = (Redis::start(), Redis::start());
    let ep = primary_endpoint(&old).await;
    let mut before = Client::connect(ep.port()).await;
    assert_eq!(before.node_port().await, old.port);

    // Same primary, new generation (e.g. a replica changed): nothing to close.
    ep.update(targets(2, Some(&old), &[&new]));
    assert_eq!(before.cmd(&["PING"]).await, Resp::Simple("PONG".into()));

    ep.update(targets(3, Some(&new), &[&old]));
    settle(&ep).await;
    assert!(before.closed_by_peer().await, "old connection must close");
    // Whatever the client tries next must fail rather than reach the demoted node.
    let next = before.call(&["SET", "k", "stale"]).await;
    assert!(next.is_err(), "write after failover got {next:?}");

    let mut after = Client::connect(ep.port()).await;
    assert_eq!(after.node_port().await, new.port);
    assert_eq!(after.cmd(&["SET", "k", "fresh"]).await, Resp::ok());
    let mut direct_old = Client::connect(old.port).await;
    assert_eq!(direct_old.cmd(&["GET", "k"]).await, Resp::Bulk(None));
    // The client from before the failover was spliced. The one after it may find
    // the new primary's standbys not yet on offer and be served in userspace, which
    // the design allows; with one program per process that happened in about one run
    // in twelve (issue 10 note), so only the first is required here.
    expect_spliced(&ep, 1).await;
}

#[tokio::test]
async fn losing_the_primary_mid_failover_closes_connections() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut before = Client::connect(ep.port()).await;
    assert_eq!(before.node_port().await, node.port);
    ep.update(targets(2, None, &[]));
    assert!(before.closed_by_peer().await);
}

#[tokio::test]
async fn a_connection_waits_for_a_primary_and_then_succeeds() {
    let node = Redis::start();
    let t = targets(1, None, &[]);
    let ep = start(EndpointRole::Primary, t).await;
    let mut client = Client::connect(ep.port()).await;
    client.send(&encode(&[b"SET", b"k", b"v"])).await.unwrap();
    // The command sits in the socket until the endpoint knows where to send it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ep.update(targets(2, Some(&node), &[]));
    assert_eq!(client.reply().await.unwrap(), Resp::ok());
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["GET", "k"]).await, Resp::bulk("v"));
}

#[tokio::test]
async fn reader_round_robins_and_falls_back_to_the_primary() {
    let (primary, r1, r2) = (Redis::start(), Redis::start(), Redis::start());
    let t = targets(1, Some(&primary), &[&r1, &r2]);
    let ep = start(EndpointRole::Reader, t).await;
    let mut clients = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..4 {
        let mut c = Client::connect(ep.port()).await;
        ports.push(c.node_port().await);
        clients.push(c);
    }
    assert_eq!(ports[0], ports[2]);
    assert_eq!(ports[1], ports[3]);
    let mut pair = [ports[0], ports[1]];
    pair.sort();
    let mut expected = [r1.port, r2.port];
    expected.sort();
    assert_eq!(pair, expected);
    expect_spliced(&ep, 4).await;

    // Both replicas gone: their readers close, new readers go to the primary.
    ep.update(targets(2, Some(&primary), &[]));
    settle(&ep).await;
    for c in &mut clients {
        assert!(c.closed_by_peer().await);
    }
    let mut fallback = Client::connect(ep.port()).await;
    assert_eq!(fallback.node_port().await, primary.port);

    // Dropping one replica closes only the readers that used it.
    ep.update(targets(3, Some(&primary), &[&r1, &r2]));
    settle(&ep).await;
    assert!(fallback.closed_by_peer().await, "replicas are back");
    let mut a = Client::connect(ep.port()).await;
    let mut b = Client::connect(ep.port()).await;
    let (pa, pb) = (a.node_port().await, b.node_port().await);
    assert_ne!(pa, pb, "consecutive readers use different replicas");
    ep.update(targets(4, Some(&primary), &[&r1]));
    let (mut on_r1, mut on_r2) = if pa == r1.port { (a, b) } else { (b, a) };
    assert!(on_r2.closed_by_peer().await);
    assert_eq!(on_r1.cmd(&["PING"]).await, Resp::Simple("PONG".into()));
}

#[tokio::test]
async fn shutdown_closes_connections_and_stops_accepting() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let port = ep.port();
    let mut client = Client::connect(port).await;
    assert_eq!(client.cmd(&["PING"]).await, Resp::Simple("PONG".into()));
    ep.shutdown();
    assert!(client.closed_by_peer().await);
    // The listener is gone once the accept loop notices; allow it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
}

#[tokio::test]
async fn dropping_the_endpoint_closes_connections() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let mut client = Client::connect(ep.port()).await;
    assert_eq!(client.cmd(&["PING"]).await, Resp::Simple("PONG".into()));
    expect_spliced(&ep, 1).await;
    drop(ep);
    assert!(client.closed_by_peer().await);
}

#[tokio::test]
async fn an_unreachable_node_closes_the_client() {
    let nowhere = format!("127.0.0.1:{}", redis_support::free_port());
    let t = RedisTargets {
        generation: 1,
        primary: Some(nowhere),
        replicas: Vec::new(),
    };
    let ep = start_unsettled(EndpointRole::Primary, t).await;
    let mut client = Client::connect(ep.port()).await;
    // The node is only dialled for the first command; that command must not hang.
    client.send(&encode(&[b"GET", b"k"])).await.unwrap();
    assert!(client.closed_by_peer().await);
}
