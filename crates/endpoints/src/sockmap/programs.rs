//! The two programs behind the splice.
//!
//! One of each serves every endpoint of the process (see `host`).
//!
//! `sock_ops` runs when a TCP connection is established anywhere in the cgroup tree:
//! - A local client finishing its connect to a registered listener claims one
//!   standby node connection from that endpoint's queue and both sockets are
//!   paired, all before the client's `connect()` returns, so not one byte is sent
//!   unpaired. Any other connection costs a lookup or two in `listeners`, however
//!   many endpoints there are.
//! - The node's side of a standby connection (recognised by the endpoint's source
//!   port, registered before connecting) joins the socket hash.
//!
//! `sk_msg` runs on every send from a socket in the hash: a paired socket's bytes go
//! straight into its partner's receive queue, skipping TCP, loopback and userspace.
//! Unpaired sockets send normally.
//!
//! Both callbacks act only on sockets in the endpoints' own network namespace: the
//! program sees the whole cgroup tree, containers with their own loopback
//! included, and a container's `127.0.0.1:port` is not ours. A connection's
//! destination is looked up as it is and, when that misses, as the wildcard
//! address with its port; for a wildcard listener a client counts only when it
//! connects to an address of this host (its own address equals the one it dials,
//! as for every local connection), so connections to the same port on other hosts
//! are left alone.
//!
//! A standby the node closes (its `timeout`, a restart) leaves the offer as its
//! state changes, also in `sock_ops`, so no client is ever paired with a dead one.

use super::asm::{helper, Asm, FP, R0, R1, R2, R3, R4, R6, R7};
use super::bpf::Map;

// Field offsets in the program contexts (uapi/linux/bpf.h).
const OPS_OP: i16 = 0;
const OPS_FAMILY: i16 = 20;
const OPS_REMOTE_IP4: i16 = 24;
const OPS_LOCAL_IP4: i16 = 28;
const OPS_REMOTE_PORT: i16 = 64;
const OPS_LOCAL_PORT: i16 = 68;
const MSG_REMOTE_IP4: i16 = 20;
const MSG_LOCAL_IP4: i16 = 24;
const MSG_REMOTE_PORT: i16 = 60;
const MSG_LOCAL_PORT: i16 = 64;

const AF_INET: i32 = 2;
const ACTIVE_ESTABLISHED: i32 = 4;
const PASSIVE_ESTABLISHED: i32 = 5;
const STATE_CHANGED: i32 = 10;
/// Asks for STATE_CHANGED callbacks on a socket.
const STATE_CB_FLAG: i32 = 4;
const SK_PASS: i32 = 1;
const F_INGRESS: i32 = 1;

/// How many queue entries a connecting client tries before giving up; entries a
/// retired or dead standby left behind are skipped, not given to the client.
const CLAIM_TRIES: usize = 4;

// Stack slots.
const OWN_KEY: i32 = -16;
const PEER_KEY: i32 = -32;
const SCRATCH: i32 = -36;
/// A `listeners` key: destination address, then port in host order.
const LISTENER: i32 = -48;

/// The maps both programs share.
pub struct Maps<'a> {
    /// The sockets that take part: local clients and the node side of standbys.
    pub sockhash: &'a Map,
    /// Socket key -> partner's key, both directions.
    pub pairs: &'a Map,
    /// Node-side keys still on offer; deleting one is how it is claimed.
    pub live: &'a Map,
    /// Endpoint source port of a standby being connected -> the node's port.
    pub upstreams: &'a Map,
    /// An endpoint's listener (address, port) -> its slot in `queues`.
    pub listeners: &'a Map,
    /// Slot -> the endpoint's queue of node-side keys of standbys on offer.
    pub queues: &'a Map,
}

/// Stores the socket's own key at OWN_KEY from context offsets (r6 = context).
fn own_key(a: &mut Asm, local_ip: i16, remote_ip: i16, local_port: i16, remote_port: i16) {
    for (i, off) in [local_ip, remote_ip, local_port, remote_port]
        .into_iter()
        .enumerate()
    {
        a.load32(R2, R6, off)
            .store32(FP, (OWN_KEY + 4 * i as i32) as i16, R2);
    }
}

/// `own_key` for a sock_ops context.
fn ops_own_key(a: &mut Asm) {
    own_key(
        a,
        OPS_LOCAL_IP4,
        OPS_REMOTE_IP4,
        OPS_LOCAL_PORT,
        OPS_REMOTE_PORT,
    );
}

/// r0 = the sock_ops socket joining the socket hash under OWN_KEY (0 on success).
fn join_hash(a: &mut Asm, maps: &Maps) {
    a.mov(R1, R6)
        .load_map(R2, maps.sockhash.fd())
        .stack_ptr(R3, OWN_KEY)
        .mov_imm(R4, 0);
    a.call(helper::SOCK_HASH_UPDATE);
}

/// r2 = the remote port of the sock_ops context in host order.
fn remote_port_host(a: &mut Asm) {
    a.load32(R2, R6, OPS_REMOTE_PORT).rsh32_imm(R2, 16).be16(R2);
}

/// r0 = the `listeners` value under the key at LISTENER, or 0.
fn find_listener(a: &mut Asm, maps: &Maps) {
    a.load_map(R1, maps.listeners.fd()).stack_ptr(R2, LISTENER);
    a.call(helper::MAP_LOOKUP_ELEM);
}

/// Runs on every TCP connection of the host: kept to a fixed number of lookups for
/// connections that are not ours.
pub fn sock_ops(netns_cookie: u64, maps: &Maps) -> Vec<u64> {
    let mut a = Asm::default();
    a.mov(R6, R1);
    a.load32(R2, R6, OPS_FAMILY).jne_imm(R2, AF_INET, "out");
    a.mov(R1, R6).call(helper::GET_NETNS_COOKIE);
    a.load_imm64(R2, netns_cookie).jne(R0, R2, "out");
    a.load32(R2, R6, OPS_OP);
    a.jeq_imm(R2, ACTIVE_ESTABLISHED, "active");
    a.jeq_imm(R2, PASSIVE_ESTABLISHED, "passive");
    a.jeq_imm(R2, STATE_CHANGED, "state");
    a.goto("out");

    // A client socket: is it connected to one of our listeners?
    a.label("active");
    remote_port_host(&mut a);
    a.store32(FP, (LISTENER + 4) as i16, R2);
    a.load32(R2, R6, OPS_REMOTE_IP4)
        .store32(FP, LISTENER as i16, R2);
    find_listener(&mut a, maps);
    a.jne_imm(R0, 0, "listener");
    // A wildcard listener takes only clients of this host, which dial an address
    // of their own.
    a.load32(R2, R6, OPS_REMOTE_IP4)
        .load32(R3, R6, OPS_LOCAL_IP4)
        .jne(R2, R3, "out");
    a.store32_imm(FP, LISTENER as i16, 0);
    find_listener(&mut a, maps);
    a.jeq_imm(R0, 0, "out");
    a.label("listener");
    a.load32(R2, R0, 0).store32(FP, SCRATCH as i16, R2);
    a.load_map(R1, maps.queues.fd()).stack_ptr(R2, SCRATCH);
    a.call(helper::MAP_LOOKUP_ELEM).jeq_imm(R0, 0, "out");
    // The endpoint's queue, kept where helper calls leave it alone.
    a.mov(R7, R0);
    ops_own_key(&mut a);
    for _ in 0..CLAIM_TRIES {
        a.mov(R1, R7).stack_ptr(R2, PEER_KEY);
        a.call(helper::MAP_POP_ELEM).jne_imm(R0, 0, "out");
        a.load_map(R1, maps.live.fd()).stack_ptr(R2, PEER_KEY);
        a.call(helper::MAP_DELETE_ELEM).jeq_imm(R0, 0, "claimed");
    }
    a.goto("out");

    // Pairs first, the client's joining the hash last: until it joins, its sends
    // take the normal path, so a failure at any step can be undone completely.
    // (`pairs` allocates on demand, so an update can fail under memory pressure.)
    a.label("claimed");
    a.load_map(R1, maps.pairs.fd())
        .stack_ptr(R2, OWN_KEY)
        .stack_ptr(R3, PEER_KEY)
        .mov_imm(R4, 0);
    a.call(helper::MAP_UPDATE_ELEM).jne_imm(R0, 0, "give_back");
    a.load_map(R1, maps.pairs.fd())
        .stack_ptr(R2, PEER_KEY)
        .stack_ptr(R3, OWN_KEY)
        .mov_imm(R4, 0);
    a.call(helper::MAP_UPDATE_ELEM)
        .jne_imm(R0, 0, "unpair_client");
    join_hash(&mut a, maps);
    a.jeq_imm(R0, 0, "out");
    a.load_map(R1, maps.pairs.fd()).stack_ptr(R2, PEER_KEY);
    a.call(helper::MAP_DELETE_ELEM);
    a.label("unpair_client");
    a.load_map(R1, maps.pairs.fd()).stack_ptr(R2, OWN_KEY);
    a.call(helper::MAP_DELETE_ELEM);

    // The client cannot be spliced after all: put the standby back on offer.
    a.label("give_back");
    a.store32_imm(FP, SCRATCH as i16, 1);
    a.load_map(R1, maps.live.fd())
        .stack_ptr(R2, PEER_KEY)
        .stack_ptr(R3, SCRATCH)
        .mov_imm(R4, 0);
    a.call(helper::MAP_UPDATE_ELEM);
    a.mov(R1, R7).stack_ptr(R2, PEER_KEY).mov_imm(R3, 0);
    a.call(helper::MAP_PUSH_ELEM);
    a.goto("out");

    // A node accepting a connection: is its peer one of our standbys?
    a.label("passive");
    remote_port_host(&mut a);
    a.store32(FP, SCRATCH as i16, R2);
    a.load_map(R1, maps.upstreams.fd()).stack_ptr(R2, SCRATCH);
    a.call(helper::MAP_LOOKUP_ELEM).jeq_imm(R0, 0, "out");
    a.load32(R3, R0, 0)
        .load32(R2, R6, OPS_LOCAL_PORT)
        .jne(R2, R3, "out");
    ops_own_key(&mut a);
    join_hash(&mut a, maps);
    a.mov(R1, R6)
        .mov_imm(R2, STATE_CB_FLAG)
        .call(helper::SOCK_OPS_CB_FLAGS_SET);
    a.goto("out");

    // Only standbys ask for this; leaving ESTABLISHED means the node is closing it.
    a.label("state");
    ops_own_key(&mut a);
    a.load_map(R1, maps.live.fd()).stack_ptr(R2, OWN_KEY);
    a.call(helper::MAP_DELETE_ELEM);

    // sock_ops programs answer 1 ("carry on") whatever they did.
    a.label("out");
    a.mov_imm(R0, 1).exit();
    a.finish()
}

/// Runs on every send of a socket in the hash.
pub fn sk_msg(maps: &Maps) -> Vec<u64> {
    let mut a = Asm::default();
    a.mov(R6, R1);
    own_key(
        &mut a,
        MSG_LOCAL_IP4,
        MSG_REMOTE_IP4,
        MSG_LOCAL_PORT,
        MSG_REMOTE_PORT,
    );
    a.load_map(R1, maps.pairs.fd()).stack_ptr(R2, OWN_KEY);
    a.call(helper::MAP_LOOKUP_ELEM).jne_imm(R0, 0, "paired");
    a.mov_imm(R0, SK_PASS).exit();

    a.label("paired");
    // Helpers take keys from the stack, not from map values: copy the partner's key.
    a.load64(R2, R0, 0).store64(FP, PEER_KEY as i16, R2);
    a.load64(R2, R0, 8).store64(FP, (PEER_KEY + 8) as i16, R2);
    a.mov(R1, R6)
        .load_map(R2, maps.sockhash.fd())
        .stack_ptr(R3, PEER_KEY)
        .mov_imm(R4, F_INGRESS);
    // SK_PASS once queued on the partner; SK_DROP (the send fails) if it is gone.
    a.call(helper::MSG_REDIRECT_HASH).exit();
    a.finish()
}
