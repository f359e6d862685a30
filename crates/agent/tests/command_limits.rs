//! ElastiCache's restricted commands on real redis nodes: unknown to clients,
//! Larder's own user keeps them, and the host flag lifts the limits.

mod common;

use common::{admin, client, spec, Fixture, READY};
use larder_agent::{admin_name, CommandLimits, RESTRICTED_COMMANDS};
use larder_model::Engine;

async fn error_of(conn: &mut redis::aio::MultiplexedConnection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query_async::<redis::Value>(conn).await {
        Ok(v) => panic!("{args:?} was allowed: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn clients_cannot_run_restricted_commands_but_larder_can() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-limits", Engine::Redis));
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    let mut c = client(s.port).await;
    for (name, args) in [
        ("bgrewriteaof", &[][..]),
        ("bgsave", &[]),
        ("config", &["GET", "maxmemory"]),
        ("debug", &["SLEEP", "0"]),
        ("migrate", &["127.0.0.1", "1", "k", "0", "1"]),
        ("replicaof", &["NO", "ONE"]),
        ("save", &[]),
        ("slaveof", &["NO", "ONE"]),
        ("shutdown", &["NOSAVE"]),
        ("sync", &[]),
    ] {
        assert!(RESTRICTED_COMMANDS.contains(&name));
        let renamed = admin_name(name);
        let e = error_of(&mut c, &[&[name][..], args].concat()).await;
        assert!(
            e.contains(&format!("unknown command '{name}'")),
            "{name}: {e}"
        );
        // The name Larder uses is refused to clients too.
        let e = error_of(&mut c, &[&[renamed.as_str()][..], args].concat()).await;
        // (DEBUG is also off for everyone, as redis 7 ships it.)
        assert!(
            e.contains("NOPERM") || e.contains("DEBUG command not allowed"),
            "{name}: {e}"
        );
    }
    for attack in [
        &["ACL", "SETUSER", "default", "+@all"][..],
        &["ACL", "SETUSER", "larder-admin", "off"],
        &["ACL", "LIST"],
        &["CLIENT", "KILL", "USER", "larder-admin"],
        &["CLIENT", "PAUSE", "100000"],
        &["CLIENT", "UNPAUSE"],
        &["MODULE", "LOAD", "/tmp/x.so"],
        &["FAILOVER"],
        &["REPLCONF", "ACK", "1"],
        &["EVAL", "return redis.call('config','get','maxmemory')", "0"],
    ] {
        let e = error_of(&mut c, attack).await;
        let refused = ["NOPERM", "nknown", "command not allowed"];
        assert!(refused.iter().any(|r| e.contains(r)), "{attack:?}: {e}");
    }
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(who, "default");

    let mut a = admin(&fx.agent, s.port).await;
    let got: Vec<String> = redis::cmd(&admin_name("config"))
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut a)
        .await
        .unwrap();
    assert_eq!(got, ["maxmemory", &(64u64 << 20).to_string()]);
    let conf = fx.agent.node_dir(&s.key).join("redis.conf");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(conf).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "redis.conf holds the secret: {mode:o}");
}

#[tokio::test]
async fn unrestricted_nodes_let_clients_run_everything() {
    let mut fx = Fixture::new();
    let mut s = spec("rg-open", Engine::Redis);
    s.command_limits = CommandLimits::Unrestricted;
    let s = fx.track(&s);
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    let mut c = client(s.port).await;
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(got[0], "maxmemory");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0")
        .query_async(&mut c)
        .await
        .unwrap();
    // Larder's user exists all the same, so replicas and management work unchanged.
    let mut a = admin(&fx.agent, s.port).await;
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut a)
        .await
        .unwrap();
    assert_eq!(who, larder_agent::ADMIN_USER);
}

#[tokio::test]
async fn probes_authenticate_as_larder() {
    let mut fx = Fixture::new();
    let s = fx.track(&spec("rg-probe", Engine::Redis));
    fx.agent.ensure_started(&s).await.unwrap();
    fx.agent.wait_ready(&s, READY).await.unwrap();
    assert!(fx.agent.probe(&s).await);
    // Another installation's secret does not manage this node.
    let other = Fixture::new();
    let foreign = larder_agent::LocalAgent::new(other.root.path().to_path_buf());
    std::fs::create_dir_all(foreign.node_dir(&s.key)).unwrap();
    std::fs::copy(
        fx.agent.node_dir(&s.key).join("redis.conf"),
        foreign.node_dir(&s.key).join("redis.conf"),
    )
    .unwrap();
    assert!(!foreign.probe(&s).await);
}
