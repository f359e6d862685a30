//! Process bookkeeping through /proc and pidfiles, which is what lets a restarted
//! daemon find and control nodes it did not spawn itself.

use std::io::Write;
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Reads a pid written by [`write_pidfile`] (or by the engine itself).
pub(crate) fn read_pidfile(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse().ok().filter(|&pid| pid > 0)
}

/// Writes the pidfile atomically so a daemon crash never leaves a half-written pid
/// behind. No fsync: the file only has to outlive the daemon, not the machine; after
/// a machine crash the node process is gone too, and it sits on the create path.
pub(crate) fn write_pidfile(path: &Path, pid: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{pid}")?;
    }
    std::fs::rename(tmp, path)
}

/// The one-letter state from /proc/<pid>/stat (R, S, D, Z, ...), if the process exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces or parentheses; the state follows the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// True if the process exists and is not a zombie (or dead, state X).
pub fn is_alive(pid: u32) -> bool {
    matches!(proc_state(pid), Some(state) if state != 'Z' && state != 'X')
}

/// True if the process's command line mentions `needle` (the node dir): guards
/// against a recycled pid that now belongs to an unrelated process.
pub(crate) fn cmdline_mentions(pid: u32, needle: &str) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = needle.as_bytes();
    !needle.is_empty() && raw.windows(needle.len()).any(|w| w == needle)
}

/// A live process whose command line mentions `needle`, found by scanning /proc.
/// Closes the window in which a daemon died after spawning a node but before writing
/// its pidfile: the node still runs, and its command line names its directory.
pub(crate) fn find_by_cmdline(needle: &str) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            (pid != me && is_alive(pid) && cmdline_mentions(pid, needle)).then_some(pid)
        })
}

/// Sends a signal; a process that is already gone is not an error.
pub(crate) fn signal(pid: u32, sig: Signal) -> std::io::Result<()> {
    let Ok(raw) = i32::try_from(pid) else {
        return Ok(());
    };
    match kill(Pid::from_raw(raw), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// Whether we run as root, in which case memcached insists on `-u root`.
pub(crate) fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Connection limit for memcached: ElastiCache's 65000, lowered to the hard fd limit
/// because memcached sets its rlimit to `-c` and exits if that exceeds the hard cap
/// (containers often cap it at 20000 or so).
pub(crate) fn memcached_max_conns() -> u64 {
    use nix::sys::resource::{getrlimit, Resource};
    const WANTED: u64 = 65000;
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if hard < WANTED => hard.max(64),
        _ => WANTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_mentions_itself() {
        let me = std::process::id();
        assert!(is_alive(me));
        let exe = std::env::args().next().unwrap();
        assert!(cmdline_mentions(me, &exe));
        assert!(!cmdline_mentions(me, "no-such-thing-in-cmdline-42"));
    }

    #[test]
    fn pidfile_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        assert_eq!(read_pidfile(&path), None);
        write_pidfile(&path, 4242).unwrap();
        assert_eq!(read_pidfile(&path), Some(4242));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(read_pidfile(&path), None);
    }
}
