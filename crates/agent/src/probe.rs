//! The cheapest possible health check: one request that every engine answers
//! without touching data.

use std::time::Duration;

use larder_model::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::access::{AdminSecret, ADMIN_USER};
use crate::interface::SourceCheck;

/// Request and expected reply prefix for an engine's liveness probe.
fn ping(engine: Engine) -> (&'static [u8], &'static [u8]) {
    if engine.is_redis_like() {
        // A loading redis answers -LOADING, which correctly counts as not ready.
        (b"PING\r\n", b"+PONG")
    } else {
        (b"version\r\n", b"VERSION ")
    }
}

/// Connects to `host:port` and checks the engine answers its ping within `limit`.
/// With `auth` (redis), the probe first authenticates as Larder's user, so it also
/// proves that Larder can still manage the node.
pub(crate) async fn probe_once(
    host: &str,
    port: u16,
    engine: Engine,
    auth: Option<&AdminSecret>,
    limit: Duration,
) -> bool {
    let (ping_request, expected) = ping(engine);
    let mut request = Vec::new();
    let mut lines = 1;
    if let Some(secret) = auth {
        request.extend_from_slice(format!("AUTH {ADMIN_USER} {}\r\n", secret.expose()).as_bytes());
        lines = 2;
    }
    request.extend_from_slice(ping_request);
    let attempt = async {
        let mut stream = TcpStream::connect((host, port)).await.ok()?;
        stream.set_nodelay(true).ok()?;
        stream.write_all(&request).await.ok()?;
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 64];
        while buf.iter().filter(|&&b| b == b'\n').count() < lines && buf.len() < 1024 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let reply = match auth {
            Some(_) => buf.strip_prefix(b"+OK\r\n")?,
            None => &buf[..],
        };
        Some(reply.starts_with(expected))
    };
    matches!(tokio::time::timeout(limit, attempt).await, Ok(Some(true)))
}

/// Whether a migration source answers `PING` as its default user within `limit`.
pub(crate) async fn probe_source(host: &str, port: u16, limit: Duration) -> SourceCheck {
    let attempt = async {
        let mut stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(b"PING\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        let reply = String::from_utf8_lossy(&buf[..n]);
        if reply.starts_with("+PONG") {
            Ok(())
        } else {
            Err(format!("it answered {}", reply.trim()))
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(())) => SourceCheck::Pong,
        Ok(Err(reason)) => SourceCheck::Unreachable { reason },
        Err(_) => SourceCheck::Unreachable {
            reason: format!("no answer within {limit:?}"),
        },
    }
}
