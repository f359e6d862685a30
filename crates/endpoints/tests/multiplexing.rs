//! The primary endpoint's shared node connection, against real redis-server
//! processes: replies reach the right client, connection-scoped commands move a
//! client to its own connection, WAIT keeps its guarantee, and failures close
//! clients instead of hanging them.

mod engine_process;
mod redis_support;

use std::time::{Duration, Instant};

use larder_endpoints::{EndpointOptions, EndpointRole, Multiplexing, RedisEndpoint, RedisTargets};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redis_support::{encode, Client, Redis, Resp};

async fn endpoint(node: &Redis, multiplexing: Multiplexing) -> RedisEndpoint {
    let targets = RedisTargets {
        generation: 1,
        primary: Some(node.addr()),
        replicas: Vec::new(),
    };
    RedisEndpoint::start_with(
        "127.0.0.1",
        0,
        EndpointRole::Primary,
        targets,
        EndpointOptions {
            multiplexing,
            ..EndpointOptions::default()
        },
    )
    .await
    .unwrap()
}

/// `CLIENT LIST` as text.
async fn client_list(direct: &mut Client) -> String {
    match direct.cmd(&["CLIENT", "LIST"]).await {
        Resp::Bulk(Some(list)) => String::from_utf8(list).unwrap(),
        other => panic!("unexpected CLIENT LIST reply {other:?}"),
    }
}

/// Client connections the node has open, not counting the one asking.
async fn node_connections(node: &Redis) -> usize {
    let mut direct = Client::connect(node.port).await;
    client_list(&mut direct).await.lines().count() - 1
}

#[tokio::test]
async fn concurrent_pipelining_clients_each_get_their_own_replies_over_one_connection() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut tasks = Vec::new();
    for c in 0..20 {
        let port = ep.port();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(port).await;
            let key = format!("counter:{c}");
            for round in 0..20 {
                let mut batch = Vec::new();
                for _ in 0..10 {
                    batch.extend(encode(&[b"INCR", key.as_bytes()]));
                }
                batch.extend(encode(&[b"GET", key.as_bytes()]));
                client.send(&batch).await.unwrap();
                for i in 1..=10 {
                    assert_eq!(client.reply().await.unwrap(), Resp::Int(round * 10 + i));
                }
                let total = (round + 1) * 10;
                assert_eq!(
                    client.reply().await.unwrap(),
                    Resp::bulk(&total.to_string())
                );
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    // 20 clients are still connected, but the node sees one shared connection.
    assert_eq!(node_connections(&node).await, 1);
}

#[tokio::test]
async fn without_multiplexing_every_client_has_its_own_node_connection() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::Off).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(ep.port()).await;
        assert_eq!(client.cmd(&["SET", "k", "v"]).await, Resp::ok());
        clients.push(client);
    }
    assert_eq!(node_connections(&node).await, 3);
}

#[tokio::test]
async fn a_connection_scoped_command_moves_the_client_in_order() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut via = Client::connect(ep.port()).await;
    // One write: the first SET goes over the shared connection, SELECT and the rest
    // over the client's own, and the replies still come back in order.
    let mut batch = encode(&[b"SET", b"a", b"zero"]);
    batch.extend(encode(&[b"SELECT", b"1"]));
    batch.extend(encode(&[b"SET", b"a", b"one"]));
    batch.extend(encode(&[b"GET", b"a"]));
    via.send(&batch).await.unwrap();
    for expected in [Resp::ok(), Resp::ok(), Resp::ok(), Resp::bulk("one")] {
        assert_eq!(via.reply().await.unwrap(), expected);
    }
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["GET", "a"]).await, Resp::bulk("zero"));
    assert_eq!(direct.cmd(&["SELECT", "1"]).await, Resp::ok());
    assert_eq!(direct.cmd(&["GET", "a"]).await, Resp::bulk("one"));
    // The shared connection, this client's own, and `direct`.
    assert_eq!(node_connections(&node).await, 3);
}

#[tokio::test]
async fn wait_covers_writes_made_over_the_shared_connection() {
    let primary = Redis::start();
    let replicaof = format!("127.0.0.1 {}", primary.port);
    let mut replica = Redis::start_with(&["--replicaof", &replicaof]);
    let mut direct = Client::connect(replica.port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = direct.cmd(&["INFO", "replication"]).await;
        if matches!(&info, Resp::Bulk(Some(b)) if String::from_utf8_lossy(b).contains("master_link_status:up"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "replica never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ep = endpoint(&primary, Multiplexing::On).await;
    let mut via = Client::connect(ep.port()).await;
    // The replica stops acknowledging; a write made over the shared connection can
    // then not be confirmed, and WAIT must say so rather than count the replica.
    let pid = Pid::from_raw(replica.process().pid() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    assert_eq!(via.cmd(&["SET", "k", "v"]).await, Resp::ok());
    let acked = via.cmd(&["WAIT", "1", "300"]).await;
    kill(pid, Signal::SIGCONT).unwrap();
    assert_eq!(acked, Resp::Int(0));
    // Once the replica runs again the same write is confirmed.
    assert_eq!(via.cmd(&["WAIT", "1", "5000"]).await, Resp::Int(1));
}

#[tokio::test]
async fn a_client_that_writes_far_ahead_of_reading_is_held_back_not_dropped() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut via = Client::connect(ep.port()).await;
    let mut batch = Vec::new();
    for i in 0..5000 {
        batch.extend(encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    batch.extend(encode(&[b"DBSIZE"]));
    via.send(&batch).await.unwrap();
    for _ in 0..5000 {
        assert_eq!(via.reply().await.unwrap(), Resp::ok());
    }
    assert_eq!(via.reply().await.unwrap(), Resp::Int(5000));
}

#[tokio::test]
async fn a_half_closed_client_still_gets_its_replies() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", ep.port()))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut batch = encode(&[b"SET", b"k", b"v"]);
    batch.extend(encode(&[b"GET", b"k"]));
    stream.write_all(&batch).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut replies = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut replies))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replies, b"+OK\r\n$1\r\nv\r\n");
}

#[tokio::test]
async fn killing_the_node_closes_clients_waiting_on_the_shared_connection() {
    let mut node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut busy = Client::connect(ep.port()).await;
    assert_eq!(busy.cmd(&["PING"]).await, Resp::Simple("PONG".into()));
    // A script that never ends keeps the reply outstanding until the node dies.
    busy.send(&encode(&[b"EVAL", b"while true do end", b"0"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    node.process().kill();
    assert!(busy.closed_by_peer().await);
    // A client arriving afterwards gets a closed connection, not a hang.
    let mut late = Client::connect(ep.port()).await;
    late.send(&encode(&[b"GET", b"k"])).await.unwrap();
    assert!(late.closed_by_peer().await);
}

#[tokio::test]
async fn set_up_commands_stay_shared_and_are_replayed_when_the_client_moves() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut via = Client::connect(ep.port()).await;
    // What client libraries send on connect; CLIENT SETINFO is an error on Redis
    // 7.0 and the client must see exactly the node's answer.
    let mut direct = Client::connect(node.port).await;
    let setinfo = ["CLIENT", "SETINFO", "LIB-NAME", "larder-test"];
    let expected = direct.cmd(&setinfo).await;
    assert_eq!(via.cmd(&setinfo).await, expected);
    assert_eq!(
        via.cmd(&["CLIENT", "SETNAME", "worker-7"]).await,
        Resp::ok()
    );
    assert_eq!(via.cmd(&["SELECT", "0"]).await, Resp::ok());
    assert_eq!(via.cmd(&["SET", "k", "v"]).await, Resp::ok());
    // Still shared: the node has one connection for it, and it is not named.
    assert_eq!(node_connections(&node).await, 2);
    assert!(!client_list(&mut direct).await.contains("worker-7"));
    // CLIENT GETNAME needs the client's own connection; the name comes along.
    assert_eq!(
        via.cmd(&["CLIENT", "GETNAME"]).await,
        Resp::bulk("worker-7")
    );
    assert_eq!(via.cmd(&["GET", "k"]).await, Resp::bulk("v"));
    assert!(client_list(&mut direct).await.contains("name=worker-7"));
}

#[tokio::test]
async fn resp3_clients_share_a_resp3_connection_and_resp2_clients_a_resp2_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut old = Client::connect(ep.port()).await;
    assert_eq!(old.cmd(&["HSET", "h", "f", "v"]).await, Resp::Int(1));
    let mut resp3 = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", ep.port()))
            .await
            .unwrap();
        let mut batch = encode(&[b"HELLO", b"3"]);
        batch.extend(encode(&[b"HGETALL", b"h"]));
        s.write_all(&batch).await.unwrap();
        // HELLO's reply is a map, then HGETALL answers with a RESP3 map too.
        let want: &[u8] = b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n";
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got.ends_with(want) {
            assert!(Instant::now() < deadline, "no RESP3 reply: {got:?}");
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "endpoint closed the RESP3 client");
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got.starts_with(b"%"), "HELLO 3 reply {got:?}");
        resp3.push(s);
    }
    // The RESP2 client still gets RESP2 (an array, not a map).
    assert_eq!(
        old.cmd(&["HGETALL", "h"]).await,
        Resp::Array(Some(vec![Resp::bulk("f"), Resp::bulk("v")]))
    );
    // Four clients, two shared connections: one per protocol.
    assert_eq!(node_connections(&node).await, 2);
}

#[tokio::test]
async fn a_command_too_big_to_buffer_takes_the_clients_own_connection() {
    let node = Redis::start();
    let ep = endpoint(&node, Multiplexing::On).await;
    let mut via = Client::connect(ep.port()).await;
    assert_eq!(via.cmd(&["SET", "small", "v"]).await, Resp::ok());
    // Over the 4 MiB a shared command may be buffered to before it is sent.
    let value = vec![b'x'; 5 << 20];
    via.send(&encode(&[b"SET", b"big", &value])).await.unwrap();
    assert_eq!(via.reply().await.unwrap(), Resp::ok());
    assert_eq!(via.cmd(&["STRLEN", "big"]).await, Resp::Int(5 << 20));
    // The shared connection and the client's own.
    assert_eq!(node_connections(&node).await, 2);
}
