//! Waiting for a process to exit without polling: a pidfd becomes readable when its
//! process exits (also before it is reaped), so the agent learns of a dead node at
//! once and an idle host spends no CPU watching hundreds of them.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Fallback poll interval on kernels without `pidfd_open` (before 5.3).
const POLL: Duration = Duration::from_millis(100);

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just handed us this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Returns when process `pid` has exited (at once if it no longer exists).
pub(crate) async fn exited(pid: u32) {
    match pidfd_open(pid) {
        // SAFETY: the AsyncFd owns the descriptor, so it stays open while registered.
        Ok(fd) => match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
            Ok(fd) => {
                let _ = fd.readable().await;
            }
            Err(_) => poll_exit(pid).await,
        },
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
        Err(_) => poll_exit(pid).await,
    }
}

async fn poll_exit(pid: u32) {
    while crate::process::is_alive(pid) {
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_killed_process_is_seen_at_once_and_a_live_one_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let wait = tokio::spawn(exited(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!wait.is_finished(), "a running process was reported gone");
        child.kill().unwrap();
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("exit not seen")
            .unwrap();
        let _ = child.wait();
    }
}
