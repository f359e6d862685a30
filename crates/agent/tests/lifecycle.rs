//! Real redis-server and memcached processes driven through the agent.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{kill9, spec, Fixture, READY};
use larder_agent::{installed_engines, port_is_free, AgentError};
use larder_model::Engine;

/// Sends one memcached text command and returns the first response line.
fn mc(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

async fn redis_set_get(port: u16) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v1")
        .query_async(&mut conn)
        .await
        .unwrap();
    redis::cmd("GET")
        .arg("k")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_node_serves_and_stops() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-0001", Engine::Redis));
    let started = Instant::now();
    let pid = fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    eprintln!("redis ready after {:?}", started.elapsed());
    assert_eq!(redis_set_get(s.port).await, "v1");

    let dir = fx.agent.node_dir("rg-0001");
    let conf = std::fs::read_to_string(dir.join("redis.conf")).unwrap();
    assert!(conf.contains(&format!("port {}\n", s.port)));
    assert!(dir.join("redis.log").exists());
    assert_eq!(fx.agent.pid("rg-0001"), Some(pid));
    // Own process group, so a Ctrl-C aimed at the daemon's group spares the node.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let pgrp: u32 = after_name.split(' ').nth(2).unwrap().parse().unwrap();
    assert_eq!(pgrp, pid);
    assert!(!port_is_free("127.0.0.1", s.port));

    fx.agent.stop("rg-0001").await.unwrap();
    assert!(!fx.agent.is_running("rg-0001"));
    assert!(!fx.agent.probe(&s).await);
    assert_eq!(fx.agent.pid("rg-0001"), None);
    // Stopping twice is fine.
    fx.agent.stop("rg-0001").await.unwrap();
}

#[tokio::test]
async fn memcached_node_serves_and_stops() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("mc-0001", Engine::Memcached));
    let started = Instant::now();
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    eprintln!("memcached ready after {:?}", started.elapsed());
    assert_eq!(mc(s.port, "set a 0 0 2\r\nhi\r\n"), "STORED\r\n");
    assert_eq!(mc(s.port, "get a\r\n"), "VALUE a 0 2\r\n");
    assert!(fx.agent.probe(&s).await);

    let args =
        std::fs::read_to_string(fx.agent.node_dir("mc-0001").join("memcached.args")).unwrap();
    assert!(args.starts_with(&format!("-p\n{}\n", s.port)));

    fx.agent.stop("mc-0001").await.unwrap();
    assert!(!fx.agent.is_running("mc-0001"));
}

#[tokio::test]
async fn ensure_started_is_idempotent() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("mc-idem", Engine::Memcached));
    let first = fx.agent.ensure_started(&s).await.unwrap();
    let second = fx.agent.ensure_started(&s).await.unwrap();
    assert_eq!(first, second);
    fx.agent.wait_ready(&s, READY).await.unwrap();
}

#[tokio::test]
async fn kill_9_is_noticed() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("mc-kill", Engine::Memcached));
    let pid = fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    kill9(pid);
    let deadline = Instant::now() + Duration::from_secs(5);
    while fx.agent.is_running("mc-kill") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!fx.agent.is_running("mc-kill"));
    // And it comes back with a new process.
    let again = fx.agent.ensure_started(&s).await.unwrap();
    assert_ne!(again, pid);
    fx.agent.wait_ready(&s, READY).await.unwrap();
}

#[tokio::test]
async fn restart_reboots_with_same_port_and_empty_memory() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-restart", Engine::Redis));
    let pid = fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    assert_eq!(redis_set_get(s.port).await, "v1");
    let new_pid = fx.agent.restart(&s).await.unwrap();
    assert_ne!(pid, new_pid);
    fx.agent.wait_ready(&s, READY).await.unwrap();
    assert!(fx.agent.is_running("rg-restart"));
}

#[tokio::test]
async fn a_new_agent_adopts_running_nodes() {
    let mut fx = Fixture::new();
    let r = fx.track(&spec("rg-adopt", Engine::Redis));
    let m = fx.track(&spec("mc-adopt", Engine::Memcached));
    let (r_pid, m_pid) = {
        let a = larder_agent::LocalAgent::new(fx.root.path().to_path_buf());
        let r_pid = a.ensure_started(&r).await.unwrap();
        let m_pid = a.ensure_started(&m).await.unwrap();
        a.wait_ready(&r, READY).await.unwrap();
        a.wait_ready(&m, READY).await.unwrap();
        (r_pid, m_pid)
    };
    let b = larder_agent::LocalAgent::new(fx.root.path().to_path_buf());
    assert!(b.is_running("rg-adopt"));
    assert_eq!(b.ensure_started(&r).await.unwrap(), r_pid);
    assert_eq!(b.ensure_started(&m).await.unwrap(), m_pid);
    assert!(b.probe(&r).await && b.probe(&m).await);

    // Stopping works without being the parent; the zombie left behind counts as stopped.
    b.stop("rg-adopt").await.unwrap();
    b.stop("mc-adopt").await.unwrap();
    assert!(!b.is_running("rg-adopt"));
    assert!(!b.is_running("mc-adopt"));
}

#[tokio::test]
async fn a_stale_pidfile_is_not_adopted() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("mc-stale", Engine::Memcached));
    let dir = fx.agent.node_dir("mc-stale");
    std::fs::create_dir_all(&dir).unwrap();
    // Our own pid is alive but is not this node's engine.
    std::fs::write(
        dir.join("memcached.pid"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    assert!(!fx.agent.is_running("mc-stale"));
    let pid = fx.agent.ensure_started(&s).await.unwrap();
    assert_ne!(pid, std::process::id());
    fx.agent.wait_ready(&s, READY).await.unwrap();
}

#[tokio::test]
async fn remove_data_deletes_the_node_dir() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("mc-rm", Engine::Memcached));
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    fx.agent.stop("mc-rm").await.unwrap();
    assert!(fx.agent.node_dir("mc-rm").exists());
    fx.agent.remove_data("mc-rm").unwrap();
    assert!(!fx.agent.node_dir("mc-rm").exists());
    fx.agent.remove_data("mc-rm").unwrap();
}

#[tokio::test]
async fn wait_ready_reports_an_engine_that_exits() {
    let mut fx = Fixture::new();
    // Occupy the port so memcached fails to bind and exits.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = spec("mc-busy", Engine::Memcached);
    s.port = listener.local_addr().unwrap().port();
    let s = fx.track(&s);
    fx.agent.ensure_started(&s).await.unwrap();
    let err = fx.agent.wait_ready(&s, READY).await.unwrap_err();
    let AgentError::Exited { said, .. } = &err else {
        panic!("{err}");
    };
    // The engine's own reason travels with the error (into the cluster's events).
    assert!(said.contains("Address already in use"), "{err}");
}

#[tokio::test]
async fn invalid_keys_are_refused() {
    let fx = Fixture::new();
    let s = spec("../escape", Engine::Memcached);
    assert!(matches!(
        fx.agent.ensure_started(&s).await,
        Err(AgentError::InvalidSpec { .. })
    ));
}

#[test]
fn installed_engines_report_versions() {
    let found = installed_engines();
    for engine in [Engine::Redis, Engine::Memcached] {
        let e = found
            .iter()
            .find(|e| e.engine == engine)
            .unwrap_or_else(|| panic!("{engine:?} not found in {found:?}"));
        let parts: Vec<&str> = e.version.split('.').collect();
        assert_eq!(parts.len(), 3, "{}", e.version);
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()));
        assert!(e.binary.is_absolute());
    }
}

#[tokio::test]
async fn a_node_without_pidfile_is_adopted_not_doubled() {
    // The daemon died between spawning the node and writing its pidfile.
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-nopid", Engine::Redis));
    let pid = {
        let a = larder_agent::LocalAgent::new(fx.root.path().to_path_buf());
        let pid = a.ensure_started(&s).await.unwrap();
        a.wait_ready(&s, READY).await.unwrap();
        pid
    };
    std::fs::remove_file(fx.agent.node_dir("rg-nopid").join("redis.pid")).unwrap();
    let b = larder_agent::LocalAgent::new(fx.root.path().to_path_buf());
    assert!(
        !b.is_running("rg-nopid"),
        "without a pidfile the node is not known yet"
    );
    assert_eq!(b.ensure_started(&s).await.unwrap(), pid);
    assert!(b.is_running("rg-nopid"));
    assert!(b.probe(&s).await);
}
