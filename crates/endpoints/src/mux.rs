//! One node connection shared by many client connections ("multiplexing").
//!
//! Why: behind a plain forwarder, every client command costs the node its own read
//! and write, and the proxy four more syscalls; on a small host that extra hop
//! halves throughput. Over a shared connection the node reads and answers many
//! clients' commands per syscall, which pays for the hop.
//!
//! A writer task takes batches of complete commands from clients and writes them
//! back to back; before writing a batch it tells the reader task whom the replies
//! belong to. Redis answers one connection's commands in order, so the reader hands
//! the next `n` complete replies to the batch's client. If the connection breaks,
//! every client still waiting on it is failed: like a dropped direct connection,
//! it cannot know which of its commands ran.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};

use crate::forwarder::CONNECT_TIMEOUT;
use crate::resp;

/// Read size on the node connection; replies for many clients arrive together.
const READ_CHUNK: usize = 64 * 1024;

/// Most request bytes gathered into one write to the node.
const WRITE_BATCH: usize = 256 * 1024;

/// Where the replies for one client connection are left for it to send.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    ready: Notify,
}

#[derive(Default)]
struct InboxState {
    replies: Vec<u8>,
    count: usize,
    failed: bool,
}

/// What a client connection gets from its inbox in one go.
pub(crate) struct Delivery {
    /// How many complete replies were moved out.
    pub(crate) count: usize,
    /// The shared connection broke; commands without replies may or may not have run.
    pub(crate) failed: bool,
}

impl Inbox {
    fn deliver(&self, replies: &[u8], count: usize) {
        let mut state = self.state.lock().expect("inbox lock");
        state.replies.extend_from_slice(replies);
        state.count += count;
    }

    fn fail(&self) {
        self.state.lock().expect("inbox lock").failed = true;
        self.ready.notify_one();
    }

    /// Waits until replies (or a failure) are waiting.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Moves waiting replies into `out` (which should be empty).
    pub(crate) fn take(&self, out: &mut Vec<u8>) -> Delivery {
        let mut state = self.state.lock().expect("inbox lock");
        std::mem::swap(&mut state.replies, out);
        let delivery = Delivery {
            count: state.count,
            failed: state.failed,
        };
        state.count = 0;
        delivery
    }
}

/// The RESP version a shared connection speaks. Clients that open with `HELLO 3`
/// (redis-py 8, go-redis, Lettuce) share a RESP3 connection; the rest a RESP2 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    Resp2,
    Resp3,
}

/// Switches a fresh connection to RESP3.
const HELLO_3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

/// Complete commands from one client, sent as one unit.
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) commands: usize,
    pub(crate) inbox: Arc<Inbox>,
}

/// Whom the next replies belong to.
struct Owed {
    inbox: Arc<Inbox>,
    replies: usize,
}

/// A handle on one shared node connection.
#[derive(Clone)]
pub(crate) struct Mux {
    batches: mpsc::UnboundedSender<Batch>,
    node: watch::Receiver<Option<NodeCommands>>,
}

/// What the node behind a shared connection knows, learned when it connects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeCommands {
    /// Whether the node has `CLIENT MAINT_NOTIFICATIONS` (Redis 8). Where it does,
    /// the command turns on push messages for its connection, so it cannot be
    /// shared; where it does not, the node answers an error and nothing changes.
    pub(crate) maint_notifications: bool,
}

/// Asks whether the node knows `CLIENT MAINT_NOTIFICATIONS`.
const MAINT_NOTIFICATIONS_INFO: &[u8] =
    b"*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$26\r\nCLIENT|MAINT_NOTIFICATIONS\r\n";

impl Mux {
    /// Starts a shared connection to `target`; it connects on its own and ends when
    /// every handle is gone or the connection breaks.
    fn spawn(target: String, protocol: Protocol) -> Mux {
        let (tx, rx) = mpsc::unbounded_channel();
        let (node_tx, node_rx) = watch::channel(None);
        tokio::spawn(run(target, protocol, rx, node_tx));
        Mux {
            batches: tx,
            node: node_rx,
        }
    }

    /// Queues a batch; gives it back if the connection has already ended.
    pub(crate) fn send(&self, batch: Batch) -> Result<(), Batch> {
        self.batches.send(batch).map_err(|e| e.0)
    }

    /// What the node knows, once connected; None if the connection failed.
    pub(crate) async fn node_commands(&self) -> Option<NodeCommands> {
        let mut node = self.node.clone();
        let known = node.wait_for(Option::is_some).await.ok()?;
        *known
    }

    fn is_closed(&self) -> bool {
        self.batches.is_closed()
    }
}

/// The shared connections of one endpoint, one per node it sends clients to.
#[derive(Default)]
pub(crate) struct MuxPool {
    muxes: Mutex<HashMap<(String, Protocol), Mux>>,
}

impl MuxPool {
    /// The live shared connection to `target` speaking `protocol`, started if there
    /// is none.
    pub(crate) fn get(&self, target: &str, protocol: Protocol) -> Mux {
        let mut muxes = self.muxes.lock().expect("mux pool lock");
        let key = (target.to_owned(), protocol);
        match muxes.get(&key) {
            Some(mux) if !mux.is_closed() => mux.clone(),
            _ => {
                let mux = Mux::spawn(target.to_owned(), protocol);
                muxes.insert(key, mux.clone());
                mux
            }
        }
    }

    /// Forgets connections to nodes that no longer qualify; each closes once the
    /// clients still holding it are gone.
    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.muxes
            .lock()
            .expect("mux pool lock")
            .retain(|(target, _), _| keep(target));
    }
}

async fn run(
    target: String,
    protocol: Protocol,
    mut batches: mpsc::UnboundedReceiver<Batch>,
    node: watch::Sender<Option<NodeCommands>>,
) {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, connect(&target, protocol)).await;
    let (reader, writer) = match connected {
        Ok(Ok((reader, writer, commands))) => {
            node.send_replace(Some(commands));
            (reader, writer)
        }
        failure => {
            tracing::warn!(%target, ?failure, "shared connection to node failed");
            fail_queued(&mut batches);
            return;
        }
    };
    let (owed_tx, owed_rx) = mpsc::unbounded_channel();
    tokio::spawn(read_replies(reader, owed_rx, target.clone()));
    write_requests(writer, &mut batches, owed_tx).await;
    fail_queued(&mut batches);
}

async fn connect(
    target: &str,
    protocol: Protocol,
) -> std::io::Result<(OwnedReadHalf, OwnedWriteHalf, NodeCommands)> {
    let mut stream = TcpStream::connect(target).await?;
    let _ = stream.set_nodelay(true);
    if protocol == Protocol::Resp3 {
        stream.write_all(HELLO_3).await?;
        if resp::read_replies(&mut stream, 1).await?.first() == Some(&b'-') {
            return Err(std::io::Error::other("node refused HELLO 3"));
        }
    }
    stream.write_all(MAINT_NOTIFICATIONS_INFO).await?;
    let info = resp::read_replies(&mut stream, 1).await?;
    // An unknown command is a one-element array holding a null (RESP2 or RESP3).
    let maint_notifications = !matches!(&info[..], b"*1\r\n*-1\r\n" | b"*1\r\n_\r\n");
    let (reader, writer) = stream.into_split();
    Ok((
        reader,
        writer,
        NodeCommands {
            maint_notifications,
        },
    ))
}

/// Refuses new batches and fails the ones already queued.
fn fail_queued(batches: &mut mpsc::UnboundedReceiver<Batch>) {
    batches.close();
    while let Ok(batch) = batches.try_recv() {
        batch.inbox.fail();
    }
}

async fn write_requests(
    mut writer: OwnedWriteHalf,
    batches: &mut mpsc::UnboundedReceiver<Batch>,
    owed: mpsc::UnboundedSender<Owed>,
) {
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
    loop {
        // A reader that has ended (node gone) must close us promptly, so the pool
        // stops handing this connection to new clients.
        let first = tokio::select! {
            batch = batches.recv() => batch,
            _ = owed.closed() => None,
        };
        let Some(first) = first else { return };
        if !owe(&owed, &first) {
            return;
        }
        let Ok(second) = batches.try_recv() else {
            // A lone batch (one client busy, or the node keeping up) is written
            // as it is, without copying it into `out` first.
            if !write(&mut writer, &first.bytes).await {
                return;
            }
            continue;
        };
        out.extend_from_slice(&first.bytes);
        let mut next = Some(second);
        while let Some(batch) = next {
            if !owe(&owed, &batch) {
                return;
            }
            out.extend_from_slice(&batch.bytes);
            next = if out.len() < WRITE_BATCH {
                batches.try_recv().ok()
            } else {
                None
            };
        }
        if !write(&mut writer, &out).await {
            return;
        }
        out.clear();
    }
}

/// Tells the reader whom the batch's replies belong to; the reader must know the
/// owner before the node can possibly answer. False (the batch failed) once the
/// reader has ended.
fn owe(owed: &mpsc::UnboundedSender<Owed>, batch: &Batch) -> bool {
    let entry = Owed {
        inbox: batch.inbox.clone(),
        replies: batch.commands,
    };
    if owed.send(entry).is_err() {
        batch.inbox.fail();
        return false;
    }
    true
}

async fn write(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> bool {
    match writer.write_all(bytes).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "shared connection write failed");
            false
        }
    }
}

async fn read_replies(
    mut reader: OwnedReadHalf,
    mut owed_rx: mpsc::UnboundedReceiver<Owed>,
    target: String,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut owed: VecDeque<Owed> = VecDeque::new();
    let mut touched: Vec<Arc<Inbox>> = Vec::new();
    let why = loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => break "node closed the connection",
            Err(_) => break "read failed",
            Ok(_) => {}
        }
        let mut at = 0;
        let mut broken = None;
        loop {
            let len = match resp::reply_len(&buf[at..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(resp::Malformed) => {
                    broken = Some("malformed reply");
                    break;
                }
            };
            if owed.is_empty() {
                while let Ok(entry) = owed_rx.try_recv() {
                    owed.push_back(entry);
                }
            }
            let Some(front) = owed.front_mut() else {
                broken = Some("reply nobody asked for");
                break;
            };
            // The rest of this client's batch usually arrived in the same read:
            // hand all of it over under one lock.
            let (mut end, mut count) = (at + len, 1);
            while count < front.replies {
                match resp::reply_len(&buf[end..]) {
                    Ok(Some(next)) => {
                        end += next;
                        count += 1;
                    }
                    _ => break,
                }
            }
            front.inbox.deliver(&buf[at..end], count);
            if !touched.last().is_some_and(|t| Arc::ptr_eq(t, &front.inbox)) {
                touched.push(front.inbox.clone());
            }
            front.replies -= count;
            if front.replies == 0 {
                owed.pop_front();
            }
            at = end;
        }
        buf.drain(..at);
        // One wake-up per client per read, however many of its replies arrived.
        for inbox in touched.drain(..) {
            inbox.ready.notify_one();
        }
        if let Some(why) = broken {
            break why;
        }
    };
    tracing::debug!(%target, why, "shared connection ended");
    owed_rx.close();
    while let Ok(entry) = owed_rx.try_recv() {
        owed.push_back(entry);
    }
    for entry in owed {
        entry.inbox.fail();
    }
}
