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
//! The programs and all maps but each endpoint's standby queue are shared by every
//! endpoint of the process (`host`): attached once, so a connection that is not
//! ours pays the same however many endpoints there are.
//!
//! Needs root (CAP_BPF and CAP_NET_ADMIN), cgroup v2 and Linux 5.15 or newer; when
//! any of that is missing, `Splicer::new` fails and the endpoint runs without it.

mod asm;
mod bpf;
mod host;
mod key;
mod programs;

use std::io;
use std::net::SocketAddrV4;

use host::{HostSplice, Registration};
pub use key::SocketKey;

/// One endpoint's part of the process's splice; dropping it unregisters the
/// endpoint, and the last one to go detaches the programs.
pub struct Splicer {
    reg: Registration,
}

impl Splicer {
    /// Registers the endpoint listening on `listener`, attaching the programs if
    /// this is the process's first.
    pub fn new(listener: SocketAddrV4) -> io::Result<Splicer> {
        let host = HostSplice::get()?;
        Ok(Splicer {
            reg: host.register(listener)?,
        })
    }

    fn host(&self) -> &HostSplice {
        self.reg.host()
    }

    /// Stops handing standbys to new clients of this endpoint (before it closes them).
    pub fn unlisten(&self) {
        self.reg.unlisten();
    }

    /// Before connecting a standby from `source_port`: its node side, when the node
    /// accepts on `node_port`, is to join the socket hash.
    pub fn expect_standby(&self, source_port: u16, node_port: u16) -> io::Result<()> {
        self.host().upstreams.update(
            Some(&u32::from(source_port).to_ne_bytes()),
            &u32::from(node_port).to_ne_bytes(),
        )
    }

    /// The standby from `source_port` has connected (or failed to): stop watching for it.
    pub fn forget_standby_port(&self, source_port: u16) {
        let _ = self
            .host()
            .upstreams
            .delete(&u32::from(source_port).to_ne_bytes());
    }

    /// Whether the node side of a standby has joined the socket hash.
    pub fn joined(&self, node_side: &SocketKey) -> bool {
        matches!(self.host().sockhash.lookup(&node_side.0), Ok(Some(_)))
    }

    /// Puts a standby on offer to the next local client.
    pub fn offer(&self, node_side: &SocketKey) -> io::Result<()> {
        self.host()
            .live
            .update(Some(&node_side.0), &1u32.to_ne_bytes())?;
        self.reg.standby.update(None, &node_side.0)
    }

    /// Takes a standby off offer. True when it was still on offer (it is now ours to
    /// close); false when a client claimed it first.
    pub fn withdraw(&self, node_side: &SocketKey) -> bool {
        self.host().live.delete(&node_side.0).unwrap_or(false)
    }

    /// The node-side key a client socket was paired with, if it was.
    pub fn partner(&self, client_side: &SocketKey) -> Option<SocketKey> {
        match self.host().pairs.lookup(&client_side.0) {
            Ok(Some(v)) => Some(SocketKey::from_bytes(&v)),
            _ => None,
        }
    }

    /// Ends a pairing: later sends from either socket take the normal TCP path.
    pub fn unpair(&self, client_side: &SocketKey, node_side: &SocketKey) {
        let _ = self.host().pairs.delete(&client_side.0);
        let _ = self.host().pairs.delete(&node_side.0);
    }

    /// Drops queue entries that are no longer on offer, keeping the rest in order.
    pub fn purge_queue(&self) {
        let mut keep = Vec::new();
        while let Ok(Some(v)) = self.reg.standby.pop() {
            let key = SocketKey::from_bytes(&v);
            if matches!(self.host().live.lookup(&key.0), Ok(Some(_))) {
                keep.push(key);
            }
        }
        for key in keep {
            let _ = self.reg.standby.update(None, &key.0);
        }
    }
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
        // Both registered with the one attachment of this process.
        let (a, b) = (splicer.unwrap(), wildcard.unwrap());
        assert!(std::ptr::eq(a.host(), b.host()));
        assert_eq!(bpf_links(), 1);
        drop(a);
        assert_eq!(bpf_links(), 1, "still needed by the other endpoint");
        drop(b);
        assert_eq!(bpf_links(), 0, "detached with the last endpoint");
    }

    /// BPF links among this process's descriptors (no other test of this binary
    /// attaches any).
    fn bpf_links() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf_link")
            })
            .count()
    }
}
