//! The pre-1.4.14 discovery mechanism: clients `get AmazonElastiCache:cluster`
//! from any node, so every node must hold the current document under that key.

use std::io::{Error, ErrorKind};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::discovery_payload;
use crate::DiscoveryConfig;

/// The key legacy ElastiCache clients read the discovery document from.
pub const LEGACY_DISCOVERY_KEY: &str = "AmazonElastiCache:cluster";

/// Bound on the whole check-and-set, so a hung node cannot stall the controller.
const TIMEOUT: Duration = Duration::from_secs(4);

/// Longest reply line we read from a node.
const MAX_LINE: u64 = 64 * 1024;

/// Reads one `\n`-terminated reply line into `buf`.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.clear();
    reader.take(MAX_LINE).read_until(b'\n', buf).await?;
    if buf.last() == Some(&b'\n') {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::UnexpectedEof,
            "no complete reply line",
        ))
    }
}

/// Drops the trailing `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn protocol_error(what: &str, line: &[u8]) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("{what}: {}", String::from_utf8_lossy(trim_eol(line))),
    )
}

/// Makes `get AmazonElastiCache:cluster` on the node at `addr` return the current
/// discovery payload; Ok(true) if it had to write it.
pub async fn ensure_legacy_discovery_key(
    addr: &str,
    cfg: &DiscoveryConfig,
) -> std::io::Result<bool> {
    let work = async {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut stream = BufReader::new(stream);
        check_and_set(&mut stream, cfg).await
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, format!("{addr} did not answer")))?
}

/// A connection to a memcached node kept for its legacy discovery key.
pub type LegacyKeyConn = BufReader<TcpStream>;

/// Opens a connection for [`ensure_legacy_discovery_key_on`].
pub async fn legacy_key_conn(addr: &str) -> std::io::Result<LegacyKeyConn> {
    let connect = TcpStream::connect(addr);
    let stream = tokio::time::timeout(TIMEOUT, connect)
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, format!("{addr} did not answer")))??;
    stream.set_nodelay(true)?;
    Ok(BufReader::new(stream))
}

/// [`ensure_legacy_discovery_key`] over a connection the caller keeps, so a
/// periodic refresh of every node costs no connection per node and round. After an
/// error the connection is in an unknown state: drop it.
pub async fn ensure_legacy_discovery_key_on(
    conn: &mut LegacyKeyConn,
    cfg: &DiscoveryConfig,
) -> std::io::Result<bool> {
    tokio::time::timeout(TIMEOUT, check_and_set(conn, cfg))
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, "the node did not answer"))?
}

/// Reads the key and writes it when it is not the current payload.
async fn check_and_set(
    stream: &mut BufReader<TcpStream>,
    cfg: &DiscoveryConfig,
) -> std::io::Result<bool> {
    let payload = discovery_payload(cfg);
    if read_value(stream).await?.as_deref() == Some(payload.as_slice()) {
        return Ok(false);
    }
    let mut request = format!("set {LEGACY_DISCOVERY_KEY} 0 0 {}\r\n", payload.len()).into_bytes();
    request.extend_from_slice(&payload);
    request.extend_from_slice(b"\r\n");
    stream.get_mut().write_all(&request).await?;
    let mut line = Vec::new();
    read_line(stream, &mut line).await?;
    if trim_eol(&line) != b"STORED" {
        return Err(protocol_error("set of discovery key failed", &line));
    }
    Ok(true)
}

/// The discovery document is small; a node claiming more is not believed.
const MAX_VALUE: usize = 1 << 20;

/// Reads the current value of the legacy key, if any.
async fn read_value(stream: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    stream
        .get_mut()
        .write_all(format!("get {LEGACY_DISCOVERY_KEY}\r\n").as_bytes())
        .await?;
    let mut line = Vec::new();
    read_line(stream, &mut line).await?;
    if trim_eol(&line) == b"END" {
        return Ok(None);
    }
    if !line.starts_with(b"VALUE ") {
        return Err(protocol_error("unexpected reply to get", &line));
    }
    let len = trim_eol(&line)
        .split(|&b| b == b' ')
        .nth(3)
        .and_then(|t| std::str::from_utf8(t).ok()?.parse::<usize>().ok())
        .filter(|&n| n <= MAX_VALUE)
        .ok_or_else(|| protocol_error("bad VALUE line", &line))?;
    let mut value = vec![0; len + 2];
    stream.read_exact(&mut value).await?;
    value.truncate(len);
    read_line(stream, &mut line).await?;
    if trim_eol(&line) != b"END" {
        return Err(protocol_error("missing END", &line));
    }
    Ok(Some(value))
}
