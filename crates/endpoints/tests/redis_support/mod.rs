//! Real redis-server processes and a tiny raw RESP client for the forwarder tests.
//! Raw TCP (not a client library) so tests see exactly what the endpoint does to
//! the byte stream, including EOF when it closes a connection.

use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single reply may take before the test fails instead of hanging.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::engine_process::free_port;
use crate::engine_process::EngineProcess;

/// A redis-server child process, SIGKILLed and reaped on drop (also on test failure).
pub struct Redis {
    process: EngineProcess,
    pub port: u16,
    /// Its `dir`: a replica's full sync writes an RDB there, which must not land in
    /// the repository (the crate dir is the tests' working directory). Dropped after
    /// the process.
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts redis-server on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As `start`, with extra redis-server arguments (e.g. `--replicaof`).
    pub fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("a temp dir for redis-server");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .current_dir(dir.path())
            .args(extra);
        Redis {
            process: EngineProcess::spawn(cmd, port, "redis-server"),
            port,
            _dir: dir,
        }
    }

    /// The redis-server process.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn process(&mut self) -> &mut EngineProcess {
        &mut self.process
    }

    /// `host:port` as endpoint targets name it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// One RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:1`
    Int(i64),
    /// `$n` bulk string; None for the null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; None for the null array `*-1`.
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// A bulk string from text, for comparisons.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn bulk(s: &str) -> Resp {
        Resp::Bulk(Some(s.as_bytes().to_vec()))
    }

    /// `+OK`, for comparisons.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn ok() -> Resp {
        Resp::Simple("OK".into())
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Minimal RESP2 client over one TCP connection.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `127.0.0.1:port`.
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Writes raw bytes; Err once the peer has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes).await
    }

    /// Reads one reply; Err on EOF or a broken connection.
    pub async fn reply(&mut self) -> std::io::Result<Resp> {
        tokio::time::timeout(REPLY_TIMEOUT, read_reply(&mut self.stream))
            .await
            .expect("reply in time")
    }

    /// Sends one command of text arguments and reads its reply.
    pub async fn call(&mut self, args: &[&str]) -> std::io::Result<Resp> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&encode(&args)).await?;
        self.reply().await
    }

    /// Like `call`, but the connection must work.
    pub async fn cmd(&mut self, args: &[&str]) -> Resp {
        self.call(args).await.expect("connection open")
    }

    /// The `port` setting of the node this connection really reaches.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub async fn node_port(&mut self) -> u16 {
        match self.cmd(&["CONFIG", "GET", "port"]).await {
            Resp::Array(Some(items)) => match &items[1] {
                Resp::Bulk(Some(port)) => std::str::from_utf8(port).unwrap().parse().unwrap(),
                other => panic!("unexpected port value {other:?}"),
            },
            other => panic!("unexpected CONFIG GET reply {other:?}"),
        }
    }

    /// Whether the peer closed the connection: EOF or reset within `REPLY_TIMEOUT`.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub async fn closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) | Err(_) => false,
        }
    }
}

/// Reads one reply, recursing into arrays. Boxed because async fns can't recurse directly.
fn read_reply(
    r: &mut BufReader<TcpStream>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Resp>> + Send + '_>> {
    Box::pin(async move {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let text = String::from_utf8_lossy(&line[1..]).trim_end().to_string();
        let len = || text.parse::<i64>().expect("length");
        Ok(match line[0] {
            b'+' => Resp::Simple(text),
            b'-' => Resp::Error(text),
            b':' => Resp::Int(len()),
            b'$' if len() < 0 => Resp::Bulk(None),
            b'$' => {
                let mut data = vec![0; len() as usize + 2];
                r.read_exact(&mut data).await?;
                data.truncate(data.len() - 2);
                Resp::Bulk(Some(data))
            }
            b'*' if len() < 0 => Resp::Array(None),
            b'*' => {
                let mut items = Vec::new();
                for _ in 0..len() {
                    items.push(read_reply(r).await?);
                }
                Resp::Array(Some(items))
            }
            other => panic!("not RESP: {:?}", other as char),
        })
    })
}

/// Polls `done` until it holds; fails the test after `REPLY_TIMEOUT`.
#[allow(dead_code)] // Each test binary compiles this module; not all use everything.
pub async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
