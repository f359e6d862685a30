//! The endpoint cases again with the kernel splice on, and what only the splice has:
//! bytes that bypass the endpoint, standbys the node closes, more clients than
//! standbys. Real redis-server processes and real sockets throughout; the splice
//! itself needs root and cgroup v2, which the project's test command has.

mod endpoint_setup;
mod engine_process;
#[cfg(not(kernel_splice_unavailable))]
mod forwarder_cases;
mod redis_support;

/// Stands for the shared endpoint cases, which this binary runs only where the
/// splice can: without it they are reported as ignored, not passed.
#[cfg(kernel_splice_unavailable)]
#[test]
#[ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"]
fn forwarder_cases_with_the_kernel_splice() {}

use std::sync::atomic::Ordering;
use std::time::Duration;

use endpoint_setup::{primary_endpoint, settle};
use larder_endpoints::{EndpointOptions, EndpointRole, KernelSplice, RedisEndpoint, RedisTargets};
use redis_support::{encode, wait_until, Client, Redis, Resp};

fn endpoint_options() -> EndpointOptions {
    EndpointOptions {
        kernel_splice: KernelSplice::Auto,
        ..EndpointOptions::default()
    }
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn spliced_bytes_never_pass_through_the_endpoint() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let stats = ep.splice_stats().unwrap();
    let mut via = Client::connect(ep.port()).await;
    let big = "x".repeat(1 << 20);
    assert_eq!(via.cmd(&["SET", "big", &big]).await, Resp::ok());
    assert_eq!(via.cmd(&["GET", "big"]).await, Resp::bulk(&big));
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend(encode(&[b"RPUSH", b"l", i.to_string().as_bytes()]));
    }
    via.send(&batch).await.unwrap();
    for i in 1..=500 {
        assert_eq!(via.reply().await.unwrap(), Resp::Int(i));
    }
    wait_until(|| stats.connections.load(Ordering::Relaxed) == 1).await;
    drop(via);
    // Closing ends the endpoint's copy loop, which reports what it carried.
    wait_until(|| stats.closed.load(Ordering::Relaxed) == 1).await;
    assert_eq!(stats.bytes_in_userspace.load(Ordering::Relaxed), 0);
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["LLEN", "l"]).await, Resp::Int(500));
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn standbys_the_node_closes_are_never_handed_to_clients() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let stats = ep.splice_stats().unwrap();
    // The node now drops connections idle for a second: every standby, repeatedly.
    let mut direct = Client::connect(node.port).await;
    assert_eq!(
        direct.cmd(&["CONFIG", "SET", "timeout", "1"]).await,
        Resp::ok()
    );
    for round in 0..12 {
        let mut via = Client::connect(ep.port()).await;
        let key = format!("k{round}");
        assert_eq!(
            via.cmd(&["SET", &key, "v"]).await,
            Resp::ok(),
            "round {round}"
        );
        assert_eq!(via.cmd(&["GET", &key]).await, Resp::bulk("v"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        stats.connections.load(Ordering::Relaxed) > 0,
        "nothing was spliced"
    );
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn more_clients_than_standbys_all_get_served() {
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let port = ep.port();
    let clients = (0..60).map(|_| {
        tokio::spawn(async move {
            let mut c = Client::connect(port).await;
            let mut batch = Vec::new();
            for _ in 0..100 {
                batch.extend(encode(&[b"INCR", b"n"]));
            }
            c.send(&batch).await.unwrap();
            for _ in 0..100 {
                assert!(matches!(c.reply().await.unwrap(), Resp::Int(_)));
            }
            c
        })
    });
    let mut held = Vec::new();
    for c in clients.collect::<Vec<_>>() {
        held.push(c.await.unwrap());
    }
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["GET", "n"]).await, Resp::bulk("6000"));
    let spliced = ep
        .splice_stats()
        .unwrap()
        .connections
        .load(Ordering::Relaxed);
    assert!(
        (8..60).contains(&spliced),
        "{spliced} of 60 spliced; the pool starts at 16"
    );
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn a_failover_unpairs_spliced_clients_and_new_ones_splice_to_the_new_primary() {
    let (old, new) = (Redis::start(), Redis::start());
    let ep = primary_endpoint(&old).await;
    let stats = ep.splice_stats().unwrap();
    let mut before = Client::connect(ep.port()).await;
    assert_eq!(before.node_port().await, old.port);
    ep.update(RedisTargets {
        generation: 2,
        primary: Some(new.addr()),
        replicas: Vec::new(),
    });
    assert!(before.closed_by_peer().await);
    let next = before.call(&["SET", "k", "stale"]).await;
    assert!(next.is_err(), "write after failover got {next:?}");
    wait_until(|| {
        stats.generation.load(Ordering::Relaxed) == 2 && stats.standby.load(Ordering::Relaxed) >= 8
    })
    .await;
    let mut after = Client::connect(ep.port()).await;
    assert_eq!(after.node_port().await, new.port);
    // The kernel carries a spliced client's bytes even before the endpoint accepts
    // it, so the count may lag the reply.
    wait_until(|| stats.connections.load(Ordering::Relaxed) == 2).await;
    let mut direct_old = Client::connect(old.port).await;
    assert_eq!(direct_old.cmd(&["GET", "k"]).await, Resp::Bulk(None));
    // No standby to the old primary is left behind.
    let list = direct_old.cmd(&["CLIENT", "LIST"]).await;
    let Resp::Bulk(Some(list)) = list else {
        panic!("{list:?}")
    };
    assert_eq!(
        String::from_utf8_lossy(&list).lines().count(),
        1,
        "only this client"
    );
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn a_wildcard_endpoint_splices_clients_of_this_host() {
    let node = Redis::start();
    let t = RedisTargets {
        generation: 1,
        primary: Some(node.addr()),
        replicas: Vec::new(),
    };
    let ep = RedisEndpoint::start_with("0.0.0.0", 0, EndpointRole::Primary, t, endpoint_options())
        .await
        .unwrap();
    settle(&ep).await;
    let stats = ep.splice_stats().expect("kernel splice available");
    let mut via = Client::connect(ep.port()).await;
    assert_eq!(via.cmd(&["SET", "k", "v"]).await, Resp::ok());
    wait_until(|| stats.connections.load(Ordering::Relaxed) == 1).await;
}

/// A network namespace with its own redis-server on the endpoint's port, removed
/// (with the server) on drop.
struct Namespace {
    name: String,
    server: std::process::Child,
}

impl Namespace {
    fn ip(args: &[&str]) {
        let status = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip {args:?}");
    }

    fn with_redis_on(port: u16) -> Namespace {
        let name = format!("larder-splice-{}-{port}", std::process::id());
        Self::ip(&["netns", "add", &name]);
        Self::ip(&["-n", &name, "link", "set", "lo", "up"]);
        let server = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "redis-server",
                "--port",
                &port.to_string(),
            ])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let ns = Namespace { name, server };
        for _ in 0..500 {
            if ns.cli(port, &["PING"]) == "PONG" {
                return ns;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server in {} never answered", ns.name);
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "redis-cli",
                "-p",
                &port.to_string(),
            ])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn a_client_in_another_network_namespace_keeps_its_own_port() {
    // The splice sees every socket on the host; a container's 127.0.0.1 with the
    // same port number is somebody else's service and must not be spliced to ours.
    let node = Redis::start();
    let ep = primary_endpoint(&node).await;
    let ns = Namespace::with_redis_on(ep.port());
    assert_eq!(ns.cli(ep.port(), &["SET", "where", "inside"]), "OK");
    assert_eq!(ns.cli(ep.port(), &["GET", "where"]), "inside");
    let mut direct = Client::connect(node.port).await;
    assert_eq!(direct.cmd(&["GET", "where"]).await, Resp::Bulk(None));
    assert_eq!(
        ep.splice_stats()
            .unwrap()
            .connections
            .load(Ordering::Relaxed),
        0
    );
}

/// The programs of the `sock_ops` BPF links among this process's descriptors (the
/// links attached to a cgroup for BPF_CGROUP_SOCK_OPS), read from /proc/self/fdinfo.
fn sock_ops_links() -> Vec<u32> {
    const ATTACH_CGROUP_SOCK_OPS: &str = "3";
    let mut programs = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_link = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:bpf_link");
        if !is_link {
            continue;
        }
        let info_path = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info_path) else {
            continue; // closed meanwhile by another test
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        if field("attach_type:").as_deref() == Some(ATTACH_CGROUP_SOCK_OPS) {
            programs.push(field("prog_id:").unwrap().parse().unwrap());
        }
    }
    programs
}

#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn endpoints_of_several_groups_share_one_sock_ops_program_and_splice_to_their_own_nodes() {
    // Two replication groups, each with a primary and a reader endpoint.
    let (a, b) = (Redis::start(), Redis::start());
    let group = |node: &Redis| endpoint_setup::targets(1, Some(node), &[node]);
    let endpoints = [
        (
            endpoint_setup::start(EndpointRole::Primary, group(&a)).await,
            &a,
            "a",
        ),
        (
            endpoint_setup::start(EndpointRole::Reader, group(&a)).await,
            &a,
            "a",
        ),
        (
            endpoint_setup::start(EndpointRole::Primary, group(&b)).await,
            &b,
            "b",
        ),
        (
            endpoint_setup::start(EndpointRole::Reader, group(&b)).await,
            &b,
            "b",
        ),
    ];
    // Other tests of this binary run endpoints at the same time; all of them
    // share the one program too.
    let links = sock_ops_links();
    assert_eq!(links.len(), 1, "sock_ops links of this process: {links:?}");
    for (n, (ep, node, group)) in endpoints.iter().enumerate() {
        let mut via = Client::connect(ep.port()).await;
        assert_eq!(via.node_port().await, node.port, "endpoint {n}");
        let key = format!("written-through-{n}");
        if n % 2 == 0 {
            assert_eq!(via.cmd(&["SET", &key, group]).await, Resp::ok());
        }
        let stats = ep.splice_stats().unwrap();
        wait_until(|| stats.connections.load(Ordering::Relaxed) == 1).await;
    }
    let (mut direct_a, mut direct_b) =
        (Client::connect(a.port).await, Client::connect(b.port).await);
    assert_eq!(
        direct_a.cmd(&["GET", "written-through-0"]).await,
        Resp::bulk("a")
    );
    assert_eq!(
        direct_b.cmd(&["GET", "written-through-2"]).await,
        Resp::bulk("b")
    );
    assert_eq!(
        direct_a.cmd(&["EXISTS", "written-through-2"]).await,
        Resp::Int(0)
    );
    assert_eq!(
        direct_b.cmd(&["EXISTS", "written-through-0"]).await,
        Resp::Int(0)
    );
}
