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
use crate::mux::{Batch, Inbox, Mux};
use crate::resp::{self, Request};
use crate::shareable::shareable;

/// Read size from the client.
const READ_CHUNK: usize = 16 * 1024;

/// Commands a client may have outstanding on the shared connection; past this we
/// stop reading from it until replies drain, so a client that writes without
/// reading cannot make us buffer without bound.
const MAX_IN_FLIGHT: usize = 1024;

/// Commands bigger than this go over the client's own connection rather than being
/// buffered whole before they may be sent.
const MAX_SHARED_COMMAND: usize = 4 * 1024 * 1024;

/// Sent on the client's own connection when it leaves the shared one, when the
/// client wrote through the shared one: a replicated no-op that moves this
/// connection's replication offset past everything the shared connection wrote,
/// so a later `WAIT` covers the client's earlier writes too.
const OFFSET_MARKER: &[u8] = b"*3\r\n$7\r\nPUBLISH\r\n$20\r\n__larder:wait-offset\r\n$0\r\n\r\n";

/// How a session ends up using the node.
pub(crate) struct Plan {
    pub(crate) target: String,
    /// None: the client gets its own connection from the start.
    pub(crate) mux: Option<Mux>,
    /// Whether leaving the shared connection sends `OFFSET_MARKER` (primaries only).
    pub(crate) mark_offset: bool,
}

/// Serves the client until either side closes or an error ends it.
pub(crate) async fn run(mut client: TcpStream, plan: Plan) {
    let _ = client.set_nodelay(true);
    let mut pending = Vec::with_capacity(READ_CHUNK);
    let mut shared_commands = 0usize;
    if let Some(mux) = &plan.mux {
        match shared(&mut client, mux, &mut pending).await {
            Shared::Done => return,
            Shared::Pin { commands } => shared_commands = commands,
        }
    }
    let mark = plan.mark_offset && shared_commands > 0;
    if let Err(e) = own_connection(client, &plan.target, pending, mark).await {
        tracing::debug!(target = %plan.target, error = %e, "client connection ended");
    }
}

enum Shared {
    /// The client has gone or the shared connection failed: close the client.
    Done,
    /// Continue on the client's own connection; `pending` holds its unsent input.
    Pin { commands: usize },
}

/// The shared phase. Returns with every reply delivered when the client must pin.
async fn shared(client: &mut TcpStream, mux: &Mux, pending: &mut Vec<u8>) -> Shared {
    let inbox = Arc::new(Inbox::default());
    let mut replies = Vec::new();
    let mut in_flight = 0usize;
    let mut sent = 0usize;
    let mut pin = false;
    let mut eof = false;
    let (mut rd, mut wr) = client.split();
    loop {
        if in_flight == 0 && (pin || eof) {
            return if pin {
                Shared::Pin { commands: sent }
            } else {
                Shared::Done
            };
        }
        tokio::select! {
            biased;
            _ = inbox.ready(), if in_flight > 0 => {
                let delivery = inbox.take(&mut replies);
                if !replies.is_empty() {
                    if wr.write_all(&replies).await.is_err() {
                        return Shared::Done;
                    }
                    replies.clear();
                }
                in_flight -= delivery.count;
                if delivery.failed {
                    return Shared::Done;
                }
            }
            read = rd.read_buf(pending), if !pin && !eof && in_flight < MAX_IN_FLIGHT => {
                match read {
                    Ok(0) => { eof = true; continue; }
                    Err(_) => return Shared::Done,
                    Ok(_) => {}
                }
                let (consumed, commands, stop) = frame(pending);
                pin = stop;
                if commands > 0 {
                    // A right-sized copy: the read buffer stays with us for reuse.
                    let bytes = pending[..consumed].to_vec();
                    pending.drain(..consumed);
                    let batch = Batch { bytes, commands, inbox: inbox.clone() };
                    if mux.send(batch).is_err() {
                        return Shared::Done;
                    }
                    in_flight += commands;
                    sent += commands;
                }
                if pending.capacity() - pending.len() < READ_CHUNK / 4 {
                    pending.reserve(READ_CHUNK);
                }
            }
        }
    }
}

/// Splits `input` into the shareable commands at its start: returns how many bytes
/// and commands they are, and whether what follows must go over the client's own
/// connection (as opposed to being an incomplete command still arriving).
fn frame(input: &[u8]) -> (usize, usize, bool) {
    let (mut at, mut commands) = (0, 0);
    loop {
        match resp::command(&input[at..]) {
            Request::Incomplete => {
                return (at, commands, input.len() - at > MAX_SHARED_COMMAND);
            }
            Request::Command { len, name } if shareable(name) && len <= MAX_SHARED_COMMAND => {
                at += len;
                commands += 1;
            }
            _ => return (at, commands, true),
        }
    }
}

/// The client's own node connection: optional offset marker, the input not yet
/// sent, then plain copying both ways.
async fn own_connection(
    mut client: TcpStream,
    target: &str,
    pending: Vec<u8>,
    mark: bool,
) -> std::io::Result<()> {
    let mut node = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = node.set_nodelay(true);
    if mark {
        node.write_all(OFFSET_MARKER).await?;
        swallow_one_reply(&mut node).await?;
    }
    if !pending.is_empty() {
        node.write_all(&pending).await?;
    }
    drop(pending);
    tokio::io::copy_bidirectional_with_sizes(&mut client, &mut node, COPY_BUFFER, COPY_BUFFER)
        .await?;
    Ok(())
}

/// Reads and drops exactly one reply; nothing else can be in flight yet.
async fn swallow_one_reply(node: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(64);
    loop {
        if node.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match resp::reply_len(&buf) {
            Ok(Some(len)) if len == buf.len() => return Ok(()),
            Ok(None) => continue,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "unexpected reply to the offset marker",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_stops_at_the_first_command_that_needs_its_own_connection() {
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let multi = b"*1\r\n$5\r\nMULTI\r\n";
        let mut input = get.to_vec();
        input.extend_from_slice(get);
        input.extend_from_slice(multi);
        input.extend_from_slice(get);
        assert_eq!(frame(&input), (2 * get.len(), 2, true));
        // A half-received shareable command is waited for, not pinned.
        assert_eq!(frame(&input[..get.len() + 5]), (get.len(), 1, false));
        assert_eq!(frame(b"PING\r\n"), (0, 0, true));
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
