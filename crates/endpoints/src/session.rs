//! One client connection through a Redis endpoint.
//!
//! It starts *shared*: complete commands that qualify (see `shareable`) go over the
//! endpoint's shared node connection and their replies come back in order. At the
//! first command that does not qualify, the session waits until every earlier
//! reply has reached the client, opens the client's own node connection, and from
//! then on only copies bytes, so Redis sees that command and everything after it
//! exactly as on a direct connection (pub/sub, MULTI, blocking commands, SELECT…).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::forwarder::{CONNECT_TIMEOUT, COPY_BUFFER};
use crate::handshake::{self, SetUp};
use crate::in_flight::InFlight;
use crate::mux::{Batch, Inbox, MuxPool, NodeCommands, Protocol};
use crate::resp::{self, Request};
use crate::shareable::shareable;

/// Read size from the client.
const READ_CHUNK: usize = 16 * 1024;

/// Most a batch reserves up front; the input may end in a large command not yet
/// complete, which must not cost an allocation of its size on every read.
const BATCH_RESERVE: usize = 64 * 1024;

/// Commands bigger than this go over the client's own connection rather than being
/// buffered whole before they may be sent.
const MAX_SHARED_COMMAND: usize = 4 * 1024 * 1024;

/// Sent on the client's own connection when it leaves the shared one, when the
/// client wrote through the shared one: a replicated no-op that moves this
/// connection's replication offset past everything the shared connection wrote,
/// so a later `WAIT` covers the client's earlier writes too.
const OFFSET_MARKER: &[u8] = b"*3\r\n$7\r\nPUBLISH\r\n$22\r\n__larder__:wait-offset\r\n$0\r\n\r\n";

/// How a session ends up using the node.
pub(crate) struct Plan {
    pub(crate) target: String,
    /// The endpoint's shared connections; None: the client gets its own
    /// connection from the start.
    pub(crate) pool: Option<Arc<MuxPool>>,
    /// Whether leaving the shared connection sends `OFFSET_MARKER` (primaries only).
    pub(crate) mark_offset: bool,
}

/// Serves the client until either side closes or an error ends it.
pub(crate) async fn run(mut client: TcpStream, plan: Plan) {
    let _ = client.set_nodelay(true);
    let mut pending = Vec::with_capacity(READ_CHUNK);
    let mut replay = Replay::default();
    let mut shared_commands = 0usize;
    if let Some(pool) = &plan.pool {
        match shared(&mut client, pool, &plan.target, &mut pending, &mut replay).await {
            Shared::Done => return,
            Shared::Pin { commands } => shared_commands = commands,
        }
    }
    if plan.mark_offset && shared_commands > 0 {
        replay.bytes.extend_from_slice(OFFSET_MARKER);
        replay.commands += 1;
    }
    if let Err(e) = own_connection(client, &plan.target, pending, replay).await {
        tracing::debug!(target = %plan.target, error = %e, "client connection ended");
    }
}

/// Commands the client's own connection must run (replies dropped) before the
/// client's next command: its shared set-up commands and the offset marker.
#[derive(Default)]
struct Replay {
    bytes: Vec<u8>,
    commands: usize,
}

enum Shared {
    /// The client has gone or the shared connection failed: close the client.
    Done,
    /// Continue on the client's own connection; `pending` holds its unsent input.
    Pin { commands: usize },
}

/// The shared phase. Returns with every reply delivered when the client must pin.
async fn shared(
    client: &mut TcpStream,
    pool: &MuxPool,
    target: &str,
    pending: &mut Vec<u8>,
    replay: &mut Replay,
) -> Shared {
    let inbox = Arc::new(Inbox::default());
    let mut protocol = Protocol::Resp2;
    let mut mux = pool.get(target, protocol);
    // Framing needs to know what the node supports; it is learned on connecting.
    let Some(mut node) = mux.node_commands().await else {
        return Shared::Done;
    };
    let mut replies = Vec::new();
    let mut in_flight = InFlight::default();
    let mut sent = 0usize;
    // What stopped framing: a command for the client's own connection, or a
    // protocol switch that must wait until the current connection's replies are in.
    let mut stop = Stop::None;
    let mut eof = false;
    let mut input_changed = false;
    let (mut rd, mut wr) = client.split();
    loop {
        if in_flight.commands() == 0 {
            if let Stop::Switch(next) = stop {
                protocol = next;
                mux = pool.get(target, protocol);
                match mux.node_commands().await {
                    Some(commands) => node = commands,
                    None => return Shared::Done,
                }
                stop = Stop::None;
                input_changed = true;
            }
        }
        if input_changed && stop == Stop::None {
            input_changed = false;
            let mut bytes = Vec::new();
            let framed = frame(pending, protocol, node, &mut bytes, replay);
            stop = framed.stop;
            pending.drain(..framed.consumed);
            let commands = framed.commands;
            if commands > 0 {
                let size = bytes.len();
                let batch = Batch {
                    bytes,
                    commands,
                    inbox: inbox.clone(),
                };
                if mux.send(batch).is_err() {
                    return Shared::Done;
                }
                in_flight.sent(commands, size);
                sent += commands;
            }
            if let Stop::Switch(_) = stop {
                // Switch at the top of the loop once replies are in; with nothing in
                // flight the select below would have no branch left to wait on.
                continue;
            }
        }
        if in_flight.commands() == 0 && (stop == Stop::Pin || eof) {
            return if stop == Stop::Pin {
                Shared::Pin { commands: sent }
            } else {
                Shared::Done
            };
        }
        let reading = stop == Stop::None && !eof && in_flight.has_room();
        if pending.capacity() - pending.len() < READ_CHUNK / 4 {
            pending.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            _ = inbox.ready(), if in_flight.commands() > 0 => {
                let delivery = inbox.take(&mut replies);
                if !replies.is_empty() {
                    if wr.write_all(&replies).await.is_err() {
                        return Shared::Done;
                    }
                    replies.clear();
                }
                in_flight.answered(delivery.count);
                if delivery.failed {
                    return Shared::Done;
                }
            }
            read = rd.read_buf(pending), if reading => {
                match read {
                    Ok(0) => eof = true,
                    Err(_) => return Shared::Done,
                    Ok(_) => input_changed = true,
                }
            }
        }
    }
}

/// Why framing stopped before the end of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// It did not: the input is used up or ends in an incomplete command.
    None,
    /// The next command needs the client's own connection.
    Pin,
    /// The next command (`HELLO`) belongs on the shared connection of this protocol.
    Switch(Protocol),
}

/// What `frame` found at the start of a client's input.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    /// Input bytes taken (their commands are in the batch).
    consumed: usize,
    /// Commands put in the batch.
    commands: usize,
    stop: Stop,
}

/// Moves the shareable commands at the start of `input` into `batch` (set-up
/// commands as `handshake` says, and remembered in `replay`), for a client whose
/// shared connection speaks `protocol`.
fn frame(
    input: &[u8],
    protocol: Protocol,
    node: NodeCommands,
    batch: &mut Vec<u8>,
    replay: &mut Replay,
) -> Framed {
    let (mut at, mut commands) = (0, 0);
    let stop = loop {
        let (len, name) = match resp::command(&input[at..]) {
            Request::Incomplete if input.len() - at > MAX_SHARED_COMMAND => break Stop::Pin,
            Request::Incomplete => break Stop::None,
            Request::Other => break Stop::Pin,
            Request::Command { len, .. } if len > MAX_SHARED_COMMAND => break Stop::Pin,
            Request::Command { len, name } => (len, name),
        };
        let command = &input[at..at + len];
        if batch.capacity() == 0 {
            // Sized once for what this read brought in: growing from empty cost a
            // realloc per doubling, several per pipelined batch.
            batch.reserve((input.len() - at).min(BATCH_RESERVE));
        }
        if shareable(name) {
            batch.extend_from_slice(command);
        } else {
            match handshake::set_up(command, node) {
                Some(SetUp::AsIs) => batch.extend_from_slice(command),
                Some(SetUp::InsteadSend(stand_in)) => batch.extend_from_slice(stand_in),
                Some(SetUp::Protocol(p)) if p == protocol => batch.extend_from_slice(command),
                Some(SetUp::Protocol(p)) => break Stop::Switch(p),
                None => break Stop::Pin,
            }
            replay.bytes.extend_from_slice(command);
            replay.commands += 1;
        }
        at += len;
        commands += 1;
    };
    Framed {
        consumed: at,
        commands,
        stop,
    }
}

/// The client's own node connection: the replay, the input not yet sent, then
/// plain copying both ways.
async fn own_connection(
    mut client: TcpStream,
    target: &str,
    pending: Vec<u8>,
    replay: Replay,
) -> std::io::Result<()> {
    let mut node = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = node.set_nodelay(true);
    if replay.commands > 0 {
        node.write_all(&replay.bytes).await?;
        resp::read_replies(&mut node, replay.commands).await?;
    }
    if !pending.is_empty() {
        node.write_all(&pending).await?;
    }
    drop(pending);
    tokio::io::copy_bidirectional_with_sizes(&mut client, &mut node, COPY_BUFFER, COPY_BUFFER)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::resp::encode_text as encode;

    /// Frames `input` for a client on a `protocol` connection to a node without
    /// Redis 8 commands; returns what `frame` found, the batch and the replay.
    fn framed(input: &[u8], protocol: Protocol) -> (Framed, Vec<u8>, Replay) {
        let (mut batch, mut replay) = (Vec::new(), Replay::default());
        let found = frame(
            input,
            protocol,
            NodeCommands::default(),
            &mut batch,
            &mut replay,
        );
        (found, batch, replay)
    }

    fn found(consumed: usize, commands: usize, stop: Stop) -> Framed {
        Framed {
            consumed,
            commands,
            stop,
        }
    }

    #[test]
    fn frame_stops_at_the_first_command_that_needs_its_own_connection() {
        let get = encode(&["GET", "k"]);
        let multi = encode(&["MULTI"]);
        let input = [&get[..], &get, &multi, &get].concat();
        let (f, batch, replay) = framed(&input, Protocol::Resp2);
        assert_eq!(f, found(2 * get.len(), 2, Stop::Pin));
        assert_eq!(batch, [&get[..], &get].concat());
        assert_eq!(replay.commands, 0);
        // A half-received shareable command is waited for, not pinned.
        let (f, _, _) = framed(&input[..get.len() + 5], Protocol::Resp2);
        assert_eq!(f, found(get.len(), 1, Stop::None));
        let (f, _, _) = framed(b"PING\r\n", Protocol::Resp2);
        assert_eq!(f, found(0, 0, Stop::Pin));
    }

    #[test]
    fn set_up_commands_are_shared_and_kept_for_replay() {
        let info = encode(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]);
        let name = encode(&["CLIENT", "SETNAME", "me"]);
        let get = encode(&["GET", "k"]);
        let input = [&info[..], &name, &get].concat();
        let (f, batch, replay) = framed(&input, Protocol::Resp2);
        assert_eq!(f, found(input.len(), 3, Stop::None));
        // The name stays off the shared connection: a no-op stands in for it.
        assert_eq!(batch, [&info[..], &encode(&["SELECT", "0"]), &get].concat());
        assert_eq!(
            (replay.bytes, replay.commands),
            ([&info[..], &name].concat(), 2)
        );
    }

    #[test]
    fn hello_switches_protocol_before_it_is_sent() {
        let hello = encode(&["HELLO", "3"]);
        let get = encode(&["GET", "k"]);
        let input = [&get[..], &hello, &get].concat();
        let (f, _, _) = framed(&input, Protocol::Resp2);
        assert_eq!(f, found(get.len(), 1, Stop::Switch(Protocol::Resp3)));
        // On the RESP3 connection the HELLO goes through and is kept for replay.
        let rest = &input[get.len()..];
        let (f, _, replay) = framed(rest, Protocol::Resp3);
        assert_eq!(f, found(rest.len(), 2, Stop::None));
        assert_eq!(replay.bytes, hello);
    }

    #[test]
    fn the_offset_marker_is_one_valid_command() {
        assert_eq!(
            resp::command(OFFSET_MARKER),
            Request::Command {
                len: OFFSET_MARKER.len(),
                name: b"PUBLISH"
            }
        );
    }
}
