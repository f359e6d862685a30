//! A real engine process for tests: spawned on a free port, waited for, and
//! SIGKILLed and reaped on drop, also when a test fails.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One engine child process.
pub struct EngineProcess {
    child: Child,
}

impl EngineProcess {
    /// Runs `cmd` (which must listen on `port`) and waits until the port accepts.
    pub fn spawn(mut cmd: Command, port: u16, what: &str) -> Self {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what} is installed: {e}"));
        let process = EngineProcess { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        process
    }

    /// The process id, for signals such as SIGSTOP.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now, like a crashed node.
    #[allow(dead_code)] // Each test binary compiles this module; not all use everything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
