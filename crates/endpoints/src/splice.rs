//! Standby node connections for the kernel splice (see `sockmap`), and what an
//! endpoint does with a client the kernel has paired with one of them.
//!
//! The pool starts small and doubles whenever a claim empties it, so an endpoint
//! that many local clients use ends up with enough standbys for their bursts, and
//! one nobody uses on this host holds only a few idle node connections.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Notify};

use crate::forwarder::{stopped, EndpointRole, RedisTargets, CONNECT_TIMEOUT};
use crate::sockmap::{SocketKey, Splicer};

const FIRST_POOL: usize = 16;
const MAX_POOL: usize = 1024;

/// How often idle standbys are checked for a node that closed them (its `timeout`).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How long the node side of a new standby may take to join the socket hash. On one
/// host it joins before our connect returns; when it never does, the node is not on
/// this host and cannot be spliced.
const JOIN_WAIT: Duration = Duration::from_millis(20);

/// Counters for tests and operators.
#[derive(Debug, Default)]
pub struct SpliceStats {
    /// Clients served through the kernel splice.
    pub connections: AtomicU64,
    /// Spliced clients whose connections have since closed.
    pub closed: AtomicU64,
    /// Bytes of spliced clients that nevertheless passed through the endpoint
    /// (zero unless a pairing was lost while the client was connected).
    pub bytes_in_userspace: AtomicU64,
    /// Standby node connections on offer right now.
    pub standby: AtomicU64,
    /// The targets generation the standbys were last brought in line with.
    pub generation: AtomicU64,
}

struct Waiting {
    stream: TcpStream,
    target: String,
}

pub(crate) struct Standbys {
    splicer: Splicer,
    waiting: Mutex<HashMap<SocketKey, Waiting>>,
    /// Clients the kernel paired with a standby whose target was retired before the
    /// endpoint accepted them; they are unpaired already and closed on accept.
    orphans: Mutex<HashSet<SocketKey>>,
    wanted: AtomicUsize,
    claimed: Notify,
    pub(crate) stats: SpliceStats,
}

/// A client the kernel paired with a standby.
pub(crate) struct Spliced {
    pub upstream: TcpStream,
    pub target: String,
    pub pairing: Pairing,
}

/// The two sockets the kernel joined: the client's and the node's end of the standby.
pub(crate) struct Pairing {
    client_side: SocketKey,
    node_side: SocketKey,
}

pub(crate) enum Claim {
    Spliced(Spliced),
    /// Not a local client, or no standby was free: serve it in userspace.
    NotSpliced,
    /// Paired with a standby that was retired meanwhile: close it so it reconnects.
    Lost,
}

#[derive(Debug)]
enum StandbyError {
    Io(io::Error),
    /// The node is not on this host (or not IPv4): no standby to it can be spliced.
    NotLocal,
}

impl From<io::Error> for StandbyError {
    fn from(e: io::Error) -> Self {
        StandbyError::Io(e)
    }
}

impl Standbys {
    pub(crate) fn new(listener: SocketAddrV4) -> io::Result<Arc<Standbys>> {
        Ok(Arc::new(Standbys {
            splicer: Splicer::new(listener)?,
            waiting: Mutex::default(),
            orphans: Mutex::default(),
            wanted: AtomicUsize::new(FIRST_POOL),
            claimed: Notify::new(),
            stats: SpliceStats::default(),
        }))
    }

    fn orphans(&self) -> MutexGuard<'_, HashSet<SocketKey>> {
        lock(&self.orphans)
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<SocketKey, Waiting>> {
        lock(&self.waiting)
    }

    /// Whether the kernel paired this just-accepted client with a standby.
    pub(crate) fn claim(&self, client: &TcpStream) -> Claim {
        let (Ok(ours), Ok(theirs)) = (client.local_addr(), client.peer_addr()) else {
            return Claim::NotSpliced;
        };
        // The client socket's own view: its address is our peer's, its peer is us.
        let Some(client_side) = SocketKey::of_any(theirs, ours) else {
            return Claim::NotSpliced;
        };
        if self.orphans().remove(&client_side) {
            return Claim::Lost;
        }
        let Some(node_side) = self.splicer.partner(&client_side) else {
            return Claim::NotSpliced;
        };
        let (found, now_empty) = {
            let mut waiting = self.waiting();
            let found = waiting.remove(&node_side);
            (found, waiting.is_empty())
        };
        if now_empty {
            let wanted = self.wanted.load(Ordering::Relaxed);
            self.wanted
                .store((wanted * 2).min(MAX_POOL), Ordering::Relaxed);
        }
        self.claimed.notify_one();
        match found {
            Some(w) => Claim::Spliced(Spliced {
                upstream: w.stream,
                target: w.target,
                pairing: Pairing {
                    client_side,
                    node_side,
                },
            }),
            None => {
                self.splicer.unpair(&client_side, &node_side);
                Claim::Lost
            }
        }
    }

    /// Ends a spliced client's pairing; call before its sockets close, so nothing it
    /// sends from then on can reach the node.
    pub(crate) fn unpair(&self, p: &Pairing) {
        self.splicer.unpair(&p.client_side, &p.node_side);
    }

    /// Opens one standby to `target` and puts it on offer.
    async fn open(&self, target: &str) -> Result<(), StandbyError> {
        let node = tokio::net::lookup_host(target)
            .await?
            .find_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })
            .ok_or(StandbyError::NotLocal)?;
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([0, 0, 0, 0], 0)))?;
        let source_port = socket.local_addr()?.port();
        self.splicer.expect_standby(source_port, node.port())?;
        let joined = self.connect_and_join(socket, node).await;
        // The port is only looked up while the node accepts; whatever happened, that is over.
        self.splicer.forget_standby_port(source_port);
        let (stream, node_side) = joined?;
        self.waiting().insert(
            node_side,
            Waiting {
                stream,
                target: target.to_owned(),
            },
        );
        if let Err(e) = self.splicer.offer(&node_side) {
            // The host's maps are full: this one is not on offer, so it must not
            // wait as if a client had claimed it.
            self.splicer.withdraw(&node_side);
            self.waiting().remove(&node_side);
            return Err(e.into());
        }
        Ok(())
    }

    /// Connects a standby and waits for its node side to join the socket hash.
    async fn connect_and_join(
        &self,
        socket: TcpSocket,
        node: SocketAddrV4,
    ) -> Result<(TcpStream, SocketKey), StandbyError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(node.into()))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let ours = match stream.local_addr()? {
            SocketAddr::V4(v4) => v4,
            SocketAddr::V6(_) => return Err(StandbyError::NotLocal),
        };
        let node_side = SocketKey::of(node, ours);
        let deadline = tokio::time::Instant::now() + JOIN_WAIT;
        while !self.splicer.joined(&node_side) {
            if tokio::time::Instant::now() >= deadline {
                return Err(StandbyError::NotLocal);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok((stream, node_side))
    }

    /// Closes standbys whose target `keep` rejects or whose node closed them.
    fn retire(&self, keep: impl Fn(&str) -> bool) {
        let mut removed = false;
        self.waiting().retain(|key, w| {
            let mut probe = [0u8; 1];
            let dead = !matches!(w.stream.try_read(&mut probe), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
            let retired = !keep(&w.target);
            if !retired && !dead {
                return true;
            }
            if !self.splicer.withdraw(key) {
                if !retired {
                    // A client claimed it first; the accept path takes it from here.
                    return true;
                }
                // A client claimed it but is not accepted yet: cut it off from the
                // retired node now rather than when the endpoint gets to it.
                if let Some(client_side) = self.splicer.partner(key) {
                    self.splicer.unpair(&client_side, key);
                    self.orphans().insert(client_side);
                }
            }
            removed = true;
            false
        });
        if removed {
            self.splicer.purge_queue();
        }
    }

    fn len(&self) -> usize {
        self.waiting().len()
    }
}

impl Drop for Standbys {
    /// The maps are shared with the process's other endpoints and outlive this one,
    /// so what it put there goes now: its listener, its offers, and the pairings of
    /// clients the kernel gave a standby but the endpoint never accepted.
    fn drop(&mut self) {
        self.splicer.unlisten();
        for key in self.waiting().keys() {
            if !self.splicer.withdraw(key) {
                if let Some(client_side) = self.splicer.partner(key) {
                    self.splicer.unpair(&client_side, key);
                }
            }
        }
    }
}

/// A panic while holding these locks leaves plain maps behind, still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps the endpoint's standby pool full and pointed at the current targets.
pub(crate) async fn keep(
    standbys: Arc<Standbys>,
    mut targets: watch::Receiver<RedisTargets>,
    role: EndpointRole,
    stop: watch::Receiver<bool>,
) {
    let mut nth = 0usize;
    let mut not_local: HashSet<String> = HashSet::new();
    let mut retired_for = targets.borrow().clone();
    loop {
        // Retire before anything else, so the generation reported below is never
        // one whose retired standbys are still on offer.
        let current = targets.borrow_and_update().clone();
        if current != retired_for {
            standbys.retire(|t| current.admits(role, t));
            not_local.clear();
            retired_for = current;
        }
        let generation = retired_for.generation;
        while standbys.len() < standbys.wanted.load(Ordering::Relaxed) {
            let Some(target) = targets.borrow().pick(role, nth).map(str::to_owned) else {
                break;
            };
            nth = nth.wrapping_add(1);
            if not_local.contains(&target) {
                break;
            }
            match standbys.open(&target).await {
                Ok(()) => {}
                Err(StandbyError::NotLocal) => {
                    tracing::info!(%target, "node is not on this host; its clients are not spliced");
                    not_local.insert(target);
                    break;
                }
                Err(StandbyError::Io(e)) => {
                    tracing::debug!(%target, error = %e, "standby connection failed; retrying later");
                    break;
                }
            }
        }
        let stats = &standbys.stats;
        stats
            .standby
            .store(standbys.len() as u64, Ordering::Relaxed);
        stats.generation.store(generation, Ordering::Relaxed);
        tokio::select! {
            _ = stopped(stop.clone()) => break,
            _ = standbys.claimed.notified() => {}
            // Handled at the top of the loop.
            changed = targets.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep(SWEEP_EVERY) => {
                let current = targets.borrow().clone();
                standbys.retire(|t| current.admits(role, t));
            }
        }
    }
}
