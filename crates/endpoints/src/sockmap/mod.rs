//! The kernel splice: local clients of an endpoint talk to their node through a
//! Linux sockmap, so their bytes never pass through the endpoint process.
//!
//! The endpoint keeps a few standby connections to its node open. When a client on
//! this host connects, a `sock_ops` program hands it one of them inside the kernel
//! and pairs the client's socket with the node's end of that standby; from then on
//! an `sk_msg` program moves each send straight into the partner's receive queue.
//! The endpoint still owns both TCP connections, so closing them on failover works
//! as for any other client, and it unpairs first so nothing more reaches the old
//! node. Clients elsewhere (other hosts, IPv6, or when no standby is free) are
//! served in userspace as before.
//!
//! Needs root (CAP_BPF and CAP_NET_ADMIN), cgroup v2 and Linux 5.15 or newer; when
//! any of that is missing, `Splicer::new` fails and the endpoint runs without it.

mod asm;
mod bpf;
mod key;
mod programs;

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use bpf::{Map, Program};
pub use key::SocketKey;

/// Sockets in one endpoint's hash: two per spliced client (client and node side)
/// plus the standbys, so about 8000 spliced clients per endpoint; later ones are
/// served in userspace. The kernel sizes each map's bucket array by this (16
/// bytes a bucket), so it is kept well below what a node could take.
const MAX_SOCKETS: u32 = 16_384;
/// Above the pool's own cap (1024), with room for entries awaiting a purge.
const MAX_STANDBY: u32 = 2_048;

/// One endpoint's programs and maps; dropping it detaches everything.
pub struct Splicer {
    sockhash: Map,
    pairs: Map,
    standby: Map,
    live: Map,
    upstreams: Map,
    // The kernel counts its own references (link -> program -> maps), so the
    // order these close in does not matter.
    _link: OwnedFd,
    _programs: [Program; 2],
}

impl Splicer {
    /// Loads and attaches the programs for the endpoint listening on `listener`.
    pub fn new(listener: SocketAddrV4) -> io::Result<Splicer> {
        if cfg!(not(target_endian = "little")) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "big-endian host",
            ));
        }
        let cgroup = cgroup2_root()?;
        let sockhash = Map::create(bpf::MAP_TYPE_SOCKHASH, 16, 8, MAX_SOCKETS)?;
        // Preallocating 64k pairs would pin megabytes per endpoint for the few
        // clients most endpoints have.
        let pairs = Map::create_on_demand(16, 16, MAX_SOCKETS)?;
        let standby = Map::create(bpf::MAP_TYPE_QUEUE, 0, 16, MAX_STANDBY)?;
        let live = Map::create(bpf::MAP_TYPE_HASH, 16, 4, MAX_STANDBY)?;
        let upstreams = Map::create(bpf::MAP_TYPE_HASH, 4, 4, MAX_STANDBY)?;
        let maps = programs::Maps {
            sockhash: &sockhash,
            pairs: &pairs,
            standby: &standby,
            live: &live,
            upstreams: &upstreams,
        };
        let msg = Program::load(
            bpf::PROG_TYPE_SK_MSG,
            "larder_msg",
            &programs::sk_msg(&maps),
        )?;
        msg.attach_msg_verdict(&sockhash)?;
        let ops = Program::load(
            bpf::PROG_TYPE_SOCK_OPS,
            "larder_ops",
            &programs::sock_ops(listener, bpf::netns_cookie()?, &maps),
        )?;
        let link = ops.attach_cgroup_sock_ops(&cgroup)?;
        Ok(Splicer {
            sockhash,
            pairs,
            standby,
            live,
            upstreams,
            _link: link,
            _programs: [msg, ops],
        })
    }

    /// Before connecting a standby from `source_port`: its node side, when the node
    /// accepts on `node_port`, is to join the socket hash.
    pub fn expect_standby(&self, source_port: u16, node_port: u16) -> io::Result<()> {
        self.upstreams.update(
            Some(&u32::from(source_port).to_ne_bytes()),
            &u32::from(node_port).to_ne_bytes(),
        )
    }

    pub fn forget_standby_port(&self, source_port: u16) {
        let _ = self.upstreams.delete(&u32::from(source_port).to_ne_bytes());
    }

    /// Whether the node side of a standby has joined the socket hash.
    pub fn joined(&self, node_side: &SocketKey) -> bool {
        matches!(self.sockhash.lookup(&node_side.0), Ok(Some(_)))
    }

    /// Puts a standby on offer to the next local client.
    pub fn offer(&self, node_side: &SocketKey) -> io::Result<()> {
        self.live.update(Some(&node_side.0), &1u32.to_ne_bytes())?;
        self.standby.update(None, &node_side.0)
    }

    /// Takes a standby off offer. True when it was still on offer (it is now ours to
    /// close); false when a client claimed it first.
    pub fn withdraw(&self, node_side: &SocketKey) -> bool {
        self.live.delete(&node_side.0).unwrap_or(false)
    }

    /// The node-side key a client socket was paired with, if it was.
    pub fn partner(&self, client_side: &SocketKey) -> Option<SocketKey> {
        match self.pairs.lookup(&client_side.0) {
            Ok(Some(v)) => Some(SocketKey::from_bytes(&v)),
            _ => None,
        }
    }

    /// Ends a pairing: later sends from either socket take the normal TCP path.
    pub fn unpair(&self, client_side: &SocketKey, node_side: &SocketKey) {
        let _ = self.pairs.delete(&client_side.0);
        let _ = self.pairs.delete(&node_side.0);
    }

    /// Drops queue entries that are no longer on offer, keeping the rest in order.
    pub fn purge_queue(&self) {
        let mut keep = Vec::new();
        while let Ok(Some(v)) = self.standby.pop() {
            let key = SocketKey::from_bytes(&v);
            if matches!(self.live.lookup(&key.0), Ok(Some(_))) {
                keep.push(key);
            }
        }
        for key in keep {
            let _ = self.standby.update(None, &key.0);
        }
    }
}

/// The root of the cgroup v2 hierarchy: attaching there covers every process on the
/// host, which is what lets any local client be spliced.
fn cgroup2_root() -> io::Result<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    for line in mounts.lines() {
        // "... root mountpoint ... - fstype source options"
        let (left, right) = line.split_once(" - ").unwrap_or((line, ""));
        let fields: Vec<&str> = left.split(' ').collect();
        if right.split(' ').next() == Some("cgroup2") && fields.get(3) == Some(&"/") {
            if let Some(mount) = fields.get(4) {
                return Ok(PathBuf::from(mount));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no cgroup v2 hierarchy mounted",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loading is the verifier's check of both programs; it needs root, which the
    /// project's test command has (it installs the engines).
    #[test]
    #[cfg_attr(
        kernel_splice_unavailable,
        ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
    )]
    fn the_programs_pass_the_verifier_and_attach() {
        let splicer = Splicer::new("127.0.0.1:1".parse().unwrap());
        assert!(splicer.is_ok(), "{:?}", splicer.err());
        let wildcard = Splicer::new("0.0.0.0:1".parse().unwrap());
        assert!(wildcard.is_ok(), "{:?}", wildcard.err());
    }
}
