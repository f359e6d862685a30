//! Larder's own connections to redis nodes: always as its privileged ACL user,
//! never as the `default` user that clients get.

use std::fmt;
use std::time::Duration;

use crate::{admin_name, AdminSecret, ADMIN_USER, REPLICA_RULES, REPLICA_USER};
use redis::aio::MultiplexedConnection;

/// Upper bound on any single command to a node, so a hung node cannot stall a workflow.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);

/// A node as Larder manages it: where it listens and Larder's credentials there.
/// Reads as `host:port` (it derefs to it), so it logs and compares like an address.
#[derive(Clone)]
pub(crate) struct NodeAddr {
    addr: String,
    host: String,
    port: u16,
    secret: Option<AdminSecret>,
}

impl NodeAddr {
    /// A node at `host:port`, reached with `secret` (`None` when the agent could not
    /// read it; every connection then fails rather than going unauthenticated).
    pub(crate) fn new(host: &str, port: u16, secret: Option<AdminSecret>) -> NodeAddr {
        NodeAddr {
            addr: format!("{host}:{port}"),
            host: host.to_string(),
            port,
            secret,
        }
    }

    /// Larder's secret on this node, if the agent could read it.
    pub(crate) fn secret(&self) -> Option<&AdminSecret> {
        self.secret.as_ref()
    }
}

impl std::ops::Deref for NodeAddr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.addr
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

impl fmt::Debug for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeAddr({})", self.addr)
    }
}

async fn open(
    node: &NodeAddr,
    secret: Option<&AdminSecret>,
) -> redis::RedisResult<MultiplexedConnection> {
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(node.host.clone(), node.port),
        redis: redis::RedisConnectionInfo {
            username: secret.map(|_| ADMIN_USER.to_string()),
            password: secret.map(|s| s.expose().to_string()),
            ..Default::default()
        },
    };
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(COMMAND_TIMEOUT)
        .set_response_timeout(COMMAND_TIMEOUT);
    redis::Client::open(info)?
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// Opens a connection authenticated as Larder's user.
///
/// A node adopted after an upgrade may run a config from before Larder's user: then
/// AUTH fails, and so does nothing else for its `default` user, which is unrestricted
/// (it may even list the ACL users). Only for such a node, Larder adds its user live
/// and carries on as that; the node gets its full config (command limits included)
/// when it next restarts. A node whose default user is restricted never gets here,
/// so a wrong secret is an error, not a way in.
pub(crate) async fn connect(node: &NodeAddr) -> redis::RedisResult<MultiplexedConnection> {
    let Some(secret) = &node.secret else {
        // Not AuthenticationFailed: the node was not asked, so this says nothing about it.
        return Err((
            redis::ErrorKind::ClientError,
            "Larder's admin secret is unavailable",
        )
            .into());
    };
    match open(node, Some(secret)).await {
        Err(e) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
            adopt_unrestricted(node, secret).await.map_err(|_| e)
        }
        other => other,
    }
}

/// Gives a node from before Larder's users those users (its own, and the one
/// replicas of it authenticate as), then authenticates as Larder.
async fn adopt_unrestricted(
    node: &NodeAddr,
    secret: &AdminSecret,
) -> redis::RedisResult<MultiplexedConnection> {
    let mut conn = open(node, None).await?;
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query_async(&mut conn)
        .await?;
    if users.iter().any(|u| u == ADMIN_USER) {
        // Larder's user exists with another secret (a data dir restored without its
        // secret file): do not overwrite it from an unauthenticated connection.
        return Err((
            redis::ErrorKind::AuthenticationFailed,
            "admin secret mismatch",
        )
            .into());
    }
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(ADMIN_USER)
        .arg("on")
        .arg(format!(">{}", secret.expose()))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async::<()>(&mut conn)
        .await?;
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(REPLICA_USER)
        .arg("on")
        .arg(format!(">{}", secret.replica_password()))
        .arg(&REPLICA_RULES[..])
        .query_async::<()>(&mut conn)
        .await?;
    redis::cmd("AUTH")
        .arg(ADMIN_USER)
        .arg(secret.expose())
        .query_async::<()>(&mut conn)
        .await?;
    tracing::warn!(node = %node, "node runs a config from before Larder's admin user; added the user, clients keep unrestricted commands until the node restarts");
    Ok(conn)
}

/// Runs one of the commands restricted nodes rename for Larder (`CONFIG`,
/// `REPLICAOF`, ...): under Larder's name first, under its own name on a node that
/// does not rename it (started with the host flag, or from an older config).
pub(crate) async fn admin_query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    command: &str,
    args: &[&str],
) -> redis::RedisResult<T> {
    let renamed = admin_name(command);
    match redis::cmd(&renamed).arg(args).query_async(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::ResponseError && is_unknown_command(&e) => {
            redis::cmd(command).arg(args).query_async(conn).await
        }
        other => other,
    }
}

fn is_unknown_command(e: &redis::RedisError) -> bool {
    e.code() == Some("ERR") && e.detail().is_some_and(|d| d.starts_with("unknown command"))
}

/// Connections to nodes kept between the commands the control plane asks for
/// several times a second (`PING`, `INFO replication`): a connection and its AUTH
/// per probe cost the agent and the node more than the command itself. A cached
/// connection that fails is dropped and the command tried once on a new one, so an
/// answer means the same as before: the node answers a fresh connection too.
#[derive(Debug, Default)]
pub(crate) struct NodeConns {
    held: std::sync::Mutex<std::collections::HashMap<String, MultiplexedConnection>>,
}

impl NodeConns {
    fn cached(&self, node: &NodeAddr) -> Option<MultiplexedConnection> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&node.addr).cloned()
    }

    /// Drops the connection to `node` (it failed, or its command timed out and may
    /// still be queued on it).
    pub(crate) fn forget(&self, node: &NodeAddr) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node.addr);
    }

    /// Runs `command` on the held connection to `node`, or on a new one.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        node: &NodeAddr,
        command: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        if let Some(mut conn) = self.cached(node) {
            match command.query_async(&mut conn).await {
                Ok(v) => return Ok(v),
                Err(_) => self.forget(node),
            }
        }
        let mut conn = connect(node).await?;
        let v = command.query_async(&mut conn).await?;
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.addr.clone(), conn);
        Ok(v)
    }
}
