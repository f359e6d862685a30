//! Tells the tests whether this host can run the kernel splice, so that its tests
//! are reported as ignored (with the reason printed here) where it cannot, never
//! as passed. The endpoint itself decides at run time and needs none of this.

use std::fs;

/// Why the kernel splice cannot run here, or None if it can.
fn unavailable() -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!(
            "not root (euid {euid}); it needs CAP_BPF and CAP_NET_ADMIN"
        ));
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if !mounts.lines().any(|l| l.contains(" - cgroup2 ")) {
        return Some("no cgroup v2 hierarchy mounted".into());
    }
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) < (5, 15) {
        return Some(format!("Linux {} is older than 5.15", release.trim()));
    }
    None
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(kernel_splice_unavailable)");
    if let Some(why) = unavailable() {
        println!("cargo::rustc-cfg=kernel_splice_unavailable");
        println!("cargo::warning=kernel splice tests will be ignored: {why}");
    }
}
