//! The few Redis commands the controller sends to nodes: replication role changes,
//! write pauses and replication progress.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// Upper bound on any single command to a node, so a hung node cannot stall a workflow.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);

async fn connect(addr: &str) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(COMMAND_TIMEOUT)
        .set_response_timeout(COMMAND_TIMEOUT);
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// `INFO replication` as key/value pairs.
pub async fn info_replication(addr: &str) -> redis::RedisResult<HashMap<String, String>> {
    let mut conn = connect(addr).await?;
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

/// The replication offset a node has reached: its own for a primary, the processed
/// one for a replica.
pub fn offset(info: &HashMap<String, String>) -> i64 {
    let key = if info.get("role").map(String::as_str) == Some("master") {
        "master_repl_offset"
    } else {
        "slave_repl_offset"
    };
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// `REPLICAOF host port`, or `REPLICAOF NO ONE` to promote.
pub async fn replicaof(addr: &str, primary: Option<(&str, u16)>) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    let mut cmd = redis::cmd("REPLICAOF");
    match primary {
        Some((host, port)) => cmd.arg(host).arg(port),
        None => cmd.arg("NO").arg("ONE"),
    };
    cmd.query_async::<()>(&mut conn).await
}

/// Holds every client write on a node for `ms` (reads keep working).
pub async fn pause_writes(addr: &str, ms: u64) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async::<()>(&mut conn)
        .await
}

/// Lifts a pause.
pub async fn unpause(addr: &str) -> redis::RedisResult<()> {
    let mut conn = connect(addr).await?;
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async::<()>(&mut conn)
        .await
}

/// `PING` with a short timeout: the health probe.
pub async fn ping(addr: &str, timeout: Duration) -> bool {
    let attempt = async {
        let mut conn = connect(addr).await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(_)))
}

/// How many replicas have the replication stream flowing: a `PUBLISH` on a private
/// channel moves the offset (it is replicated but touches no key), then `WAIT` counts
/// the replicas that acknowledged it. Asking for the ACK also starts a freshly synced
/// replica's stream without waiting for its once-a-second ACK.
pub async fn streaming_replicas(
    addr: &str,
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
