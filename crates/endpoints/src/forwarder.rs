//! Redis primary and reader endpoints: listeners whose targets follow failover.
//!
//! With multiplexing on (the default), plain key commands from all clients share one
//! connection per node and a client moves to its own node connection at its first
//! connection-scoped command (see `session`); with it off, every client gets its
//! own node connection at once and bytes are only copied. Either way pub/sub,
//! blocking commands, MULTI, pipelining and large values behave as on a direct
//! connection.
//!
//! With the kernel splice (`KernelSplice::Auto`, where the host allows it), clients
//! on this host are paired with a standby node connection inside the kernel and
//! their bytes bypass the endpoint altogether (see `sockmap` and `splice`).
//!
//! Each client gets two tasks: a data task (the session) and a small control task
//! that sleeps until the targets change or the endpoint stops, and then aborts the
//! data task. Aborting drops the client's socket, which is how a client learns to
//! reconnect to the new primary; the shared connection to a retired node is
//! dropped from the pool at the same moment.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::data_plane;
use crate::limits::{Admission, ConnectionLimits, Permit, REDIS_FULL};
use crate::mux::MuxPool;
use crate::session::{self, Plan};
use crate::splice::{self, Claim, SpliceStats, Spliced, Standbys};

/// How long a new client waits for a target while none is known (mid-failover),
/// so the first command after a failover succeeds instead of being refused.
pub const WAIT_FOR_TARGET: Duration = Duration::from_secs(10);

/// An unreachable node must not pin a client forever; redis answers in microseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Copy buffer per direction. Larger than tokio's 8 KiB default so pipelined
/// batches and big values move in fewer syscalls; small enough for many clients.
pub const COPY_BUFFER: usize = 32 * 1024;

/// Where a replication group's endpoints should send clients right now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisTargets {
    /// Bumps on every role change (failover).
    pub generation: u64,
    /// `host:port` of the current primary; None while a failover is in progress.
    pub primary: Option<String>,
    /// `host:port` of the healthy replicas.
    pub replicas: Vec<String>,
}

/// Which ElastiCache endpoint an instance plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointRole {
    /// PrimaryEndpoint: every connection goes to the current primary.
    Primary,
    /// ReaderEndpoint: connections are spread round-robin over the replicas.
    Reader,
}

impl RedisTargets {
    /// Whether a connection of `role` to `target` may stay open under these targets.
    pub fn admits(&self, role: EndpointRole, target: &str) -> bool {
        match role {
            EndpointRole::Primary => self.primary.as_deref() == Some(target),
            EndpointRole::Reader if self.replicas.is_empty() => {
                self.primary.as_deref() == Some(target)
            }
            EndpointRole::Reader => self.replicas.iter().any(|r| r == target),
        }
    }

    /// The target for the `nth` new connection of `role`, if any is known.
    pub fn pick(&self, role: EndpointRole, nth: usize) -> Option<&str> {
        match role {
            EndpointRole::Reader if !self.replicas.is_empty() => {
                Some(&self.replicas[nth % self.replicas.len()])
            }
            _ => self.primary.as_deref(),
        }
    }
}

/// How an endpoint uses node connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Multiplexing {
    /// Plain key commands share one connection per node (the default).
    On,
    /// Every client gets its own node connection; bytes are only copied.
    Off,
}

/// Whether local clients are spliced to their node in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KernelSplice {
    /// Splice where the host allows it (root, cgroup v2, Linux 5.15+); otherwise
    /// serve every client in userspace.
    Auto,
    /// Serve every client in userspace.
    Off,
}

/// How an endpoint serves its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOptions {
    /// Whether clients share node connections.
    pub multiplexing: Multiplexing,
    /// Whether local clients are spliced in the kernel.
    pub kernel_splice: KernelSplice,
    /// Caps on client connections; a client over them gets Redis's own
    /// `-ERR max number of clients reached` and is closed.
    pub limits: ConnectionLimits,
}

impl Default for EndpointOptions {
    /// Multiplexing on, kernel splice off: the library default touches nothing
    /// outside its own process. The daemon turns the splice on.
    fn default() -> Self {
        EndpointOptions {
            multiplexing: Multiplexing::On,
            kernel_splice: KernelSplice::Off,
            limits: ConnectionLimits::default(),
        }
    }
}

/// A running primary or reader endpoint; stops on `shutdown()` or drop.
pub struct RedisEndpoint {
    targets: watch::Sender<RedisTargets>,
    stop: watch::Sender<bool>,
    port: u16,
    standbys: Option<Arc<Standbys>>,
}

impl RedisEndpoint {
    /// Binds bind:port (port 0 = pick a free one) and forwards until shutdown/drop.
    pub async fn start(
        bind: &str,
        port: u16,
        role: EndpointRole,
        targets: RedisTargets,
    ) -> std::io::Result<RedisEndpoint> {
        Self::start_with(bind, port, role, targets, EndpointOptions::default()).await
    }

    /// As `start`, choosing how clients are served.
    pub async fn start_with(
        bind: &str,
        port: u16,
        role: EndpointRole,
        targets: RedisTargets,
        options: EndpointOptions,
    ) -> std::io::Result<RedisEndpoint> {
        let multiplexing = options.multiplexing;
        let addr = tokio::net::lookup_host((bind, port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
        // The listener must belong to the data-plane runtime, so it is made there.
        let data_plane = data_plane::handle();
        let listener = {
            let _in_data_plane = data_plane.enter();
            listen(addr)?
        };
        let port = listener.local_addr()?.port();
        let standbys = match (options.kernel_splice, addr) {
            (KernelSplice::Auto, SocketAddr::V4(v4)) => {
                splice_standbys(SocketAddrV4::new(*v4.ip(), port))
            }
            _ => None,
        };
        let (targets_tx, targets_rx) = watch::channel(targets);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Shared {
            role,
            targets: targets_rx,
            stop: stop_rx,
            next: Arc::new(AtomicUsize::new(0)),
            pool: (multiplexing == Multiplexing::On).then(|| Arc::new(MuxPool::default())),
            standbys: standbys.clone(),
            admission: Admission::new(options.limits),
        };
        if let Some(standbys) = &standbys {
            data_plane.spawn(splice::keep(
                standbys.clone(),
                shared.targets.clone(),
                role,
                shared.stop.clone(),
            ));
        }
        if let Some(pool) = &shared.pool {
            data_plane.spawn(prune(pool.clone(), shared.targets.clone(), role));
        }
        data_plane.spawn(accept_loop(listener, shared, port));
        let spliced = standbys.is_some();
        tracing::info!(
            port,
            ?role,
            ?multiplexing,
            spliced,
            "redis endpoint listening"
        );
        Ok(RedisEndpoint {
            targets: targets_tx,
            stop: stop_tx,
            port,
            standbys,
        })
    }

    /// Publishes new targets; connections they no longer admit are closed.
    pub fn update(&self, targets: RedisTargets) {
        // Reconcilers repeat unchanged targets; waking every connection for that is waste.
        self.targets.send_if_modified(|current| {
            let changed = *current != targets;
            if changed {
                *current = targets;
            }
            changed
        });
    }

    /// The targets the endpoint follows now.
    pub fn targets(&self) -> RedisTargets {
        self.targets.borrow().clone()
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The kernel splice's counters; None when the endpoint runs without it.
    pub fn splice_stats(&self) -> Option<&SpliceStats> {
        self.standbys.as_deref().map(|s| &s.stats)
    }

    /// Stops accepting and closes every client connection.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for RedisEndpoint {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The kernel splice for the endpoint listening on `listener`, or None (logged)
/// where the host does not allow it.
fn splice_standbys(listener: SocketAddrV4) -> Option<Arc<Standbys>> {
    match Standbys::new(listener) {
        Ok(standbys) => Some(standbys),
        Err(e) => {
            // The reason is the same for every endpoint of a daemon: say it once.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!(error = %e, "kernel splice unavailable; endpoints serve every client in userspace");
            });
            tracing::debug!(port = listener.port(), error = %e, "kernel splice unavailable");
            None
        }
    }
}

/// Binds like `TcpListener::bind` (address reuse on, so a restarted daemon gets its
/// endpoint ports back at once) in the runtime entered by the caller.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// What every connection of one endpoint needs to know.
#[derive(Clone)]
struct Shared {
    role: EndpointRole,
    targets: watch::Receiver<RedisTargets>,
    stop: watch::Receiver<bool>,
    /// Round-robin counter; only touched once per connection, never per byte.
    next: Arc<AtomicUsize>,
    /// Shared node connections; None when multiplexing is off.
    pool: Option<Arc<MuxPool>>,
    /// Standby connections for the kernel splice; None when it is off or unavailable.
    standbys: Option<Arc<Standbys>>,
    /// The connection caps clients are admitted under.
    admission: Admission,
}

/// Drops shared connections to nodes the targets no longer admit.
async fn prune(pool: Arc<MuxPool>, mut targets: watch::Receiver<RedisTargets>, role: EndpointRole) {
    while targets.changed().await.is_ok() {
        let current = targets.borrow_and_update().clone();
        pool.retain(|target| current.admits(role, target));
    }
}

/// Resolves once shutdown is requested or the endpoint handle is gone.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender was dropped, which is a shutdown too.
    let _ = stop.wait_for(|&s| s).await;
}

async fn accept_loop(listener: TcpListener, shared: Shared, port: u16) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(shared.stop.clone()) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, _)) => match shared.admission.admit() {
                Some(permit) => {
                    tokio::spawn(serve(client, shared.clone(), port, permit));
                }
                None => {
                    tracing::warn!(port, "endpoint full; refusing client");
                    tokio::spawn(refuse(client, shared.standbys.clone()));
                }
            },
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(port, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!(port, "redis endpoint stopped");
}

/// Tells a client over the cap what redis-server tells it, and closes. A local
/// client the kernel already paired with a standby is unpaired first, so the
/// refusal reaches it and nothing more reaches the node.
async fn refuse(mut client: TcpStream, standbys: Option<Arc<Standbys>>) {
    use tokio::io::AsyncWriteExt;
    if let Some(standbys) = standbys {
        match standbys.claim(&client) {
            Claim::Spliced(spliced) => standbys.unpair(&spliced.pairing),
            Claim::Lost => return,
            Claim::NotSpliced => {}
        }
    }
    let _ = client.write_all(REDIS_FULL).await;
}

/// Runs one client connection: choose a target, connect, copy until something ends it.
async fn serve(client: TcpStream, mut shared: Shared, port: u16, _permit: Permit) {
    if let Some(standbys) = shared.standbys.clone() {
        match standbys.claim(&client) {
            Claim::Spliced(spliced) => {
                return serve_spliced(client, spliced, shared, &standbys, port).await
            }
            Claim::Lost => return,
            Claim::NotSpliced => {}
        }
    }
    let peer = client.peer_addr().ok();
    let target = tokio::select! {
        _ = stopped(shared.stop.clone()) => return,
        target = choose(&mut shared) => target,
    };
    let Some(target) = target else {
        tracing::warn!(
            port,
            ?peer,
            "no target within the wait limit; closing client"
        );
        return;
    };
    let plan = Plan {
        pool: shared.pool.clone(),
        mark_offset: shared.role == EndpointRole::Primary,
        target: target.clone(),
    };
    let mut data = tokio::spawn(session::run(client, plan));
    tokio::select! {
        _ = &mut data => {}
        _ = stopped(shared.stop.clone()) => data.abort(),
        reason = retired(shared.targets, shared.role, &target) => {
            tracing::info!(port, ?peer, %target, reason, "closing client connection");
            data.abort();
        }
    }
}

/// Holds a spliced client's two TCP connections while the kernel moves its bytes,
/// until either side closes, the target is retired or the endpoint stops.
async fn serve_spliced(
    client: TcpStream,
    spliced: Spliced,
    shared: Shared,
    standbys: &Standbys,
    port: u16,
) {
    standbys.stats.connections.fetch_add(1, Ordering::Relaxed);
    let Spliced {
        upstream,
        target,
        pairing,
    } = spliced;
    // Targets may have moved on between the kernel's pairing and this accept.
    if !shared.targets.borrow().admits(shared.role, &target) {
        standbys.unpair(&pairing);
        standbys.stats.closed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Normally nothing arrives here; if the pairing is lost (its map entry removed
    // by hand, say) the bytes come through TCP and are still delivered.
    let mut copy = tokio::spawn(async move {
        let (mut client, mut upstream) = (client, upstream);
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await
    });
    tokio::select! {
        copied = &mut copy => {
            if let Ok(Ok((up, down))) = copied {
                standbys.stats.bytes_in_userspace.fetch_add(up + down, Ordering::Relaxed);
            }
        }
        _ = stopped(shared.stop.clone()) => {}
        reason = retired(shared.targets, shared.role, &target) => {
            tracing::info!(port, %target, reason, "closing spliced client connection");
        }
    }
    // Unpair before the sockets close, so nothing the client sends from now on
    // can reach a node this endpoint no longer serves.
    standbys.unpair(&pairing);
    copy.abort();
    standbys.stats.closed.fetch_add(1, Ordering::Relaxed);
}

/// Waits until targets give this role a node (up to `WAIT_FOR_TARGET`) and picks one.
async fn choose(shared: &mut Shared) -> Option<String> {
    let role = shared.role;
    let nth = shared.next.fetch_add(1, Ordering::Relaxed);
    // Marks the current value seen, so `retired` reacts to anything newer.
    let ready = tokio::time::timeout(
        WAIT_FOR_TARGET,
        shared.targets.wait_for(|t| t.pick(role, nth).is_some()),
    )
    .await;
    match ready {
        Ok(Ok(targets)) => targets.pick(role, nth).map(str::to_owned),
        _ => None,
    }
}

/// Resolves when the targets no longer admit `target` (or the endpoint is gone).
async fn retired(
    mut targets: watch::Receiver<RedisTargets>,
    role: EndpointRole,
    target: &str,
) -> &'static str {
    loop {
        if targets.changed().await.is_err() {
            return "endpoint dropped";
        }
        if !targets.borrow_and_update().admits(role, target) {
            return "target retired";
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(primary: Option<&str>, replicas: &[&str]) -> RedisTargets {
        RedisTargets {
            generation: 1,
            primary: primary.map(str::to_owned),
            replicas: replicas.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn primary_admits_only_the_current_primary() {
        let t = targets(Some("a:1"), &["b:1"]);
        assert!(t.admits(EndpointRole::Primary, "a:1"));
        assert!(!t.admits(EndpointRole::Primary, "b:1"));
        // Mid-failover nobody is primary: the old one must not keep taking writes.
        assert!(!targets(None, &["a:1"]).admits(EndpointRole::Primary, "a:1"));
    }

    #[test]
    fn reader_admits_replicas_or_falls_back_to_primary() {
        let t = targets(Some("a:1"), &["b:1", "c:1"]);
        assert!(t.admits(EndpointRole::Reader, "c:1"));
        assert!(!t.admits(EndpointRole::Reader, "a:1"));
        assert!(targets(Some("a:1"), &[]).admits(EndpointRole::Reader, "a:1"));
    }

    #[test]
    fn reader_picks_round_robin() {
        let t = targets(Some("a:1"), &["b:1", "c:1"]);
        let picks: Vec<_> = (0..4).map(|n| t.pick(EndpointRole::Reader, n)).collect();
        assert_eq!(picks, [Some("b:1"), Some("c:1"), Some("b:1"), Some("c:1")]);
        assert_eq!(t.pick(EndpointRole::Primary, 1), Some("a:1"));
        assert_eq!(targets(None, &[]).pick(EndpointRole::Reader, 0), None);
    }
}
