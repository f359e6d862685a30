//! The one set of splice programs and maps a process attaches, shared by all its
//! endpoints.
//!
//! The `sock_ops` program runs on every TCP connection any process on the host
//! makes, so its cost on a connection that is not ours must not grow with the
//! number of endpoints: one program looks the connection's destination up in a
//! hash of listeners (one lookup, two for a local connection that misses, to try
//! the wildcard address) instead of each endpoint running a program of its own.
//! Socket keys are four-tuples, unique on the host, so the socket hash, the pairs
//! and the offers are shared too; only the queue of standbys on offer is per
//! endpoint (an inner map of `queues`, found through the listener's slot).
//!
//! The programs are attached when the first endpoint registers and detached when
//! the last one is gone (the BPF link closes) or the process exits, however it exits.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use super::bpf::{self, Map, Program};
use super::programs;

/// Sockets in the host-wide hash: two per spliced client (client and node side)
/// plus the standbys, so about 32,000 spliced clients over all endpoints of the
/// process; later ones are served in userspace. The kernel sizes the hash's bucket
/// array by this (16 bytes a bucket, 1 MiB); entries are allocated as they come.
pub const MAX_SOCKETS: u32 = 65_536;
/// Standbys on offer in one endpoint's queue: above the pool's own cap (1024), with
/// room for entries awaiting a purge.
pub const MAX_STANDBY: u32 = 2_048;
/// Standbys on offer over all endpoints. Preallocated (about 1.5 MiB) so that a
/// program putting one back never fails for want of memory; when it is full, new
/// standbys are not offered and their endpoint's clients are served in userspace.
const MAX_LIVE: u32 = 16_384;
/// Standbys being connected at the same moment, over all endpoints.
const MAX_CONNECTING: u32 = 4_096;
/// Endpoints one process can splice for; the ones after that serve in userspace.
pub const MAX_ENDPOINTS: u32 = 1_024;

/// The shared programs and maps; dropping the last reference detaches them.
pub struct HostSplice {
    pub sockhash: Map,
    pub pairs: Map,
    pub live: Map,
    pub upstreams: Map,
    /// Listener (IPv4 address in network order, port) -> slot in `queues`.
    listeners: Map,
    /// Slot -> that endpoint's standby queue.
    queues: Map,
    slots: Mutex<Slots>,
    // The kernel counts its own references (link -> program -> maps), so the
    // order these close in does not matter.
    _link: OwnedFd,
    _programs: [Program; 2],
}

/// Which slots are taken. A freed slot is handed out again only after all others,
/// so a program that looked a listener up just before it went away does not find
/// the next endpoint's queue under it.
#[derive(Default)]
struct Slots {
    taken: HashSet<u32>,
    next: u32,
}

/// One endpoint's place in the shared maps; dropping it unregisters the listener.
pub struct Registration {
    host: Arc<HostSplice>,
    listener: [u8; 8],
    slot: u32,
    /// The endpoint's standby queue.
    pub standby: Map,
}

impl HostSplice {
    /// The process's splice, attached now if no endpoint holds it.
    pub fn get() -> io::Result<Arc<HostSplice>> {
        static SHARED: Mutex<Weak<HostSplice>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(host) = shared.upgrade() {
            return Ok(host);
        }
        let host = Arc::new(Self::attach()?);
        *shared = Arc::downgrade(&host);
        Ok(host)
    }

    fn attach() -> io::Result<HostSplice> {
        if cfg!(not(target_endian = "little")) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "big-endian host",
            ));
        }
        let cgroup = cgroup2_root()?;
        let sockhash = Map::create(bpf::MAP_TYPE_SOCKHASH, 16, 8, MAX_SOCKETS)?;
        // Preallocating the pairs would pin megabytes for the few clients most
        // hosts have.
        let pairs = Map::create_on_demand(16, 16, MAX_SOCKETS)?;
        let live = Map::create(bpf::MAP_TYPE_HASH, 16, 4, MAX_LIVE)?;
        let upstreams = Map::create(bpf::MAP_TYPE_HASH, 4, 4, MAX_CONNECTING)?;
        let listeners = Map::create(bpf::MAP_TYPE_HASH, 8, 4, MAX_ENDPOINTS)?;
        let queues = Map::create_array_of(&standby_queue()?, MAX_ENDPOINTS)?;
        let maps = programs::Maps {
            sockhash: &sockhash,
            pairs: &pairs,
            live: &live,
            upstreams: &upstreams,
            listeners: &listeners,
            queues: &queues,
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
            &programs::sock_ops(bpf::netns_cookie()?, &maps),
        )?;
        let link = ops.attach_cgroup_sock_ops(&cgroup)?;
        Ok(HostSplice {
            sockhash,
            pairs,
            live,
            upstreams,
            listeners,
            queues,
            slots: Mutex::default(),
            _link: link,
            _programs: [msg, ops],
        })
    }

    /// Makes `listener`'s local clients claim standbys from a queue of its own.
    pub fn register(self: &Arc<Self>, listener: SocketAddrV4) -> io::Result<Registration> {
        let standby = standby_queue()?;
        let slot = self.take_slot()?;
        let key = listener_key(listener);
        let registering = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let registered = self
            .queues
            .update(
                Some(&slot.to_ne_bytes()),
                &(standby.fd() as u32).to_ne_bytes(),
            )
            .and_then(|()| self.listeners.update(Some(&key), &slot.to_ne_bytes()));
        let registration = Registration {
            host: self.clone(),
            listener: key,
            slot,
            standby,
        };
        drop(registering);
        // On failure, dropping the registration undoes whatever part was done.
        registered.map(|()| registration)
    }

    fn take_slot(&self) -> io::Result<u32> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..MAX_ENDPOINTS {
            let slot = (slots.next + i) % MAX_ENDPOINTS;
            if slots.taken.insert(slot) {
                slots.next = (slot + 1) % MAX_ENDPOINTS;
                return Ok(slot);
            }
        }
        Err(io::Error::other(format!(
            "more than {MAX_ENDPOINTS} spliced endpoints in this process"
        )))
    }
}

impl Registration {
    /// The shared programs and maps this endpoint is registered with.
    pub fn host(&self) -> &HostSplice {
        &self.host
    }

    /// From now on no client of this listener claims a standby.
    pub fn unlisten(&self) {
        // An endpoint bound to the same port after this one closed its listener
        // may have registered already; its entry is not ours to delete. Everyone
        // registers and unregisters under the slots lock, so check-then-delete holds.
        let _slots = self.host.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(Some(slot)) = self.host.listeners.lookup(&self.listener) {
            if slot == self.slot.to_ne_bytes() {
                let _ = self.host.listeners.delete(&self.listener);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.unlisten();
        let _ = self.host.queues.delete(&self.slot.to_ne_bytes());
        let mut slots = self.host.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.taken.remove(&self.slot);
    }
}

/// One endpoint's queue of node-side keys on offer.
fn standby_queue() -> io::Result<Map> {
    Map::create(bpf::MAP_TYPE_QUEUE, 0, 16, MAX_STANDBY)
}

/// The `listeners` key, as the program builds it from a connection's destination.
fn listener_key(listener: SocketAddrV4) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[0..4].copy_from_slice(&listener.ip().octets());
    k[4..8].copy_from_slice(&u32::from(listener.port()).to_ne_bytes());
    k
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
