//! Real memcached processes and a tiny async text-protocol client for the tests.

use std::process::Command;
use std::time::Duration;

use larder_endpoints::{DiscoveryConfig, DiscoveryNode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub use crate::engine_process::free_port;
use crate::engine_process::EngineProcess;

/// A memcached child process, SIGKILLed and reaped on drop (also on test failure).
pub struct Memcached {
    process: EngineProcess,
    pub port: u16,
}

impl Memcached {
    /// Starts memcached on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As `start`, with extra memcached arguments (later ones win, e.g. `-c 40`).
    pub fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-m",
            "64",
        ])
        .args(["-c", "1024", "-I", "2m"])
        .args(extra);
        if nix::unistd::geteuid().is_root() {
            cmd.args(["-u", "root"]);
        }
        Memcached {
            process: EngineProcess::spawn(cmd, port, "memcached"),
            port,
        }
    }

    /// This node as auto discovery lists it.
    pub fn node(&self, host: &str) -> DiscoveryNode {
        DiscoveryNode {
            host: host.into(),
            ip: "127.0.0.1".into(),
            port: self.port,
        }
    }

    /// `host:port` for direct connections.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the process now, like a crashed node.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// A discovery config over the given nodes.
pub fn config(version: u64, nodes: &[DiscoveryNode]) -> DiscoveryConfig {
    DiscoveryConfig {
        version,
        nodes: nodes.to_vec(),
    }
}

/// Minimal memcached text client.
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

    /// Writes raw bytes.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .get_mut()
            .write_all(bytes.as_ref())
            .await
            .unwrap();
    }

    /// Reads one line including CRLF; empty string on EOF.
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            self.stream.read_until(b'\n', &mut buf),
        )
        .await
        .expect("reply in time")
        .unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Reads exactly `n` bytes.
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut buf))
            .await
            .expect("reply in time")
            .unwrap();
        buf
    }

    /// Sends a command and returns the first reply line.
    pub async fn call(&mut self, request: &str) -> String {
        self.send(request).await;
        self.line().await
    }

    /// `get key`: the value, or None on a miss.
    pub async fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        let header = self.call(&format!("get {key}\r\n")).await;
        if header == "END\r\n" {
            return None;
        }
        let len: usize = header
            .trim_end()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut value = self.bytes(len + 2).await;
        value.truncate(len);
        assert_eq!(self.line().await, "END\r\n");
        Some(value)
    }
}
