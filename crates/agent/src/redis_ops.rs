//! The few Redis commands the agent sends to its nodes on the control plane's
//! behalf: replication role changes, write pauses and replication progress. All of
//! them as Larder's own user (`node_conn.rs`).

use std::collections::HashMap;
use std::time::Duration;

use crate::interface::{HostPort, ReplicationInfo, ReplicationRole};
use crate::node_conn::{admin_query, connect, NodeAddr, NodeConns};
use crate::REPLICA_USER;

/// `INFO replication` as key/value pairs.
pub(crate) async fn info_replication(
    conns: &NodeConns,
    addr: &NodeAddr,
) -> redis::RedisResult<HashMap<String, String>> {
    let mut info = redis::cmd("INFO");
    info.arg("replication");
    let text: String = conns.query(addr, &info).await?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

/// `used_memory` of `INFO memory`: what the data set takes, the figure a memory
/// limit is compared with.
pub(crate) async fn used_memory(conns: &NodeConns, addr: &NodeAddr) -> redis::RedisResult<u64> {
    let mut info = redis::cmd("INFO");
    info.arg("memory");
    let text: String = conns.query(addr, &info).await?;
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::ResponseError,
                "INFO memory without used_memory",
            ))
        })
}

/// The typed view of `INFO replication`.
pub(crate) fn replication_info(info: &HashMap<String, String>) -> ReplicationInfo {
    let field = |k: &str| info.get(k).map(String::as_str);
    let role = match field("role") {
        Some("master") => ReplicationRole::Primary,
        Some("slave") => ReplicationRole::Replica,
        _ => ReplicationRole::Unknown,
    };
    let primary = match (field("master_host"), field("master_port")) {
        (Some(host), Some(port)) => port.parse().ok().map(|port| HostPort {
            host: host.to_string(),
            port,
        }),
        _ => None,
    };
    // `slaveN:ip=...,port=...,state=online,...` per replica of a primary.
    let online_replicas = info
        .iter()
        .filter(|(k, v)| k.starts_with("slave") && v.contains("state=online"))
        .filter_map(|(_, v)| {
            let field = |name: &str| v.split(',').find_map(|f| f.strip_prefix(name));
            Some(HostPort {
                host: field("ip=")?.to_string(),
                port: field("port=")?.parse().ok()?,
            })
        })
        .collect();
    ReplicationInfo {
        role,
        offset: offset(info),
        primary,
        link_up: field("master_link_status") == Some("up"),
        sync_in_progress: field("master_sync_in_progress") != Some("0"),
        online_replicas,
    }
}

/// The replication offset a node has reached: its own for a primary, the processed
/// one for a replica.
fn offset(info: &HashMap<String, String>) -> i64 {
    let key = if info.get("role").map(String::as_str) == Some("master") {
        "master_repl_offset"
    } else {
        "slave_repl_offset"
    };
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// `REPLICAOF host port` of another Larder node, or `REPLICAOF NO ONE` to promote.
/// A replica's link authenticates as Larder's replication user (the default user cannot sync),
/// so the credentials are set first: a node that followed a migration source has
/// none, and one adopted from an older config may not have them yet.
pub(crate) async fn replicaof(
    addr: &NodeAddr,
    primary: Option<(&str, u16)>,
) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    let Some((host, port)) = primary else {
        return admin_query(&mut conn, "replicaof", &["NO", "ONE"]).await;
    };
    if let Some(secret) = addr.secret() {
        let password = secret.replica_password();
        // One parameter per CONFIG SET: Redis 6 takes no more (both are idempotent).
        for (name, value) in [("masteruser", REPLICA_USER), ("masterauth", &password)] {
            admin_query::<()>(&mut conn, "config", &["SET", name, value]).await?;
        }
    }
    admin_query(&mut conn, "replicaof", &[host, &port.to_string()]).await
}

/// `REPLICAOF host port` of a self-managed Redis (a migration source), which knows
/// no Larder user: the link connects as that server's default user.
pub(crate) async fn replicaof_source(
    addr: &NodeAddr,
    host: &str,
    port: u16,
) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    for name in ["masteruser", "masterauth"] {
        admin_query::<()>(&mut conn, "config", &["SET", name, ""]).await?;
    }
    admin_query(&mut conn, "replicaof", &[host, &port.to_string()]).await
}

/// `CONFIG SET name value` on a running node.
pub(crate) async fn config_set(addr: &NodeAddr, name: &str, value: &str) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    admin_query(&mut conn, "config", &["SET", name, value]).await
}

/// `CONFIG GET name` on a running node: the value, none when the node has no such
/// parameter (the reply is a flat name/value list, empty then).
pub(crate) async fn config_get(addr: &NodeAddr, name: &str) -> redis::RedisResult<Option<String>> {
    let mut conn = connect(addr).await?;
    let pairs: Vec<String> = admin_query(&mut conn, "config", &["GET", name]).await?;
    Ok(pairs
        .chunks(2)
        .find(|p| p.len() == 2 && p[0] == name)
        .map(|p| p[1].clone()))
}

/// Holds every client write on a node for `ms` (reads keep working).
pub(crate) async fn pause_writes(addr: &NodeAddr, ms: u64) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async::<()>(&mut conn)
        .await
}

/// Lifts a pause.
pub(crate) async fn unpause(addr: &NodeAddr) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async::<()>(&mut conn)
        .await
}

/// `PING` with a short timeout: the health probe.
/// A node that refuses Larder's credentials still answered, so it counts as alive:
/// failing it over (and fencing it) would not fix the credentials, only lose data.
pub(crate) async fn ping(conns: &NodeConns, addr: &NodeAddr, timeout: Duration) -> bool {
    let attempt = async {
        match conns.query::<String>(addr, &redis::cmd("PING")).await {
            Ok(pong) => Some(pong),
            Err(e) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
                // Logged once: the health loop probes every 100 ms.
                static LOGGED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::error!(node = %addr, error = %e, "node refuses Larder's credentials; it cannot be managed");
                }
                Some(String::new())
            }
            Err(_) => None,
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(_) => {
            // The PING may still be queued on the connection: start afresh next time.
            conns.forget(addr);
            false
        }
    }
}

/// How many replicas have the replication stream flowing: a `PUBLISH` on a private
/// channel moves the offset (it is replicated but touches no key), then `WAIT` counts
/// the replicas that acknowledged it. Asking for the ACK also starts a freshly synced
/// replica's stream without waiting for its once-a-second ACK.
pub(crate) async fn streaming_replicas(
    addr: &NodeAddr,
    replicas: usize,
    timeout_ms: u64,
) -> redis::RedisResult<usize> {
    let mut conn = connect(addr).await?;
    redis::cmd("PUBLISH")
        .arg("__larder__:replication-check")
        .arg("1")
        .query_async::<()>(&mut conn)
        .await?;
    redis::cmd("WAIT")
        .arg(replicas)
        .arg(timeout_ms)
        .query_async(&mut conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> HashMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    #[test]
    fn a_primary_reports_its_offset_and_online_replicas() {
        let got = replication_info(&info(
            "role:master\nconnected_slaves:2\n\
             slave0:ip=127.0.0.1,port=7002,state=online,offset=42,lag=0\n\
             slave1:ip=127.0.0.1,port=7003,state=wait_bgsave,offset=0,lag=0\n\
             master_repl_offset:42\n",
        ));
        assert_eq!(got.role, ReplicationRole::Primary);
        assert_eq!(got.offset, 42);
        let online = HostPort {
            host: "127.0.0.1".into(),
            port: 7002,
        };
        assert_eq!(got.online_replicas, vec![online]);
        assert_eq!(got.primary, None);
    }

    #[test]
    fn a_replica_reports_its_primary_link_and_processed_offset() {
        let got = replication_info(&info(
            "role:slave\nmaster_host:127.0.0.1\nmaster_port:7001\n\
             master_link_status:up\nmaster_sync_in_progress:0\n\
             slave_repl_offset:40\nmaster_repl_offset:41\n",
        ));
        assert_eq!(got.role, ReplicationRole::Replica);
        assert_eq!(got.offset, 40);
        assert_eq!(got.primary.map(|p| p.port), Some(7001));
        assert!(got.link_up && !got.sync_in_progress);
        let syncing = replication_info(&info("role:slave\nmaster_link_status:down\n"));
        assert!(!syncing.link_up && syncing.sync_in_progress);
        assert_eq!(syncing.offset, -1);
    }
}
