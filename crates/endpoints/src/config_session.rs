//! One client of a memcached configuration endpoint.
//!
//! On ElastiCache the configuration endpoint is a DNS name for one of the nodes,
//! so a client talks to a real node that also knows `config get cluster`. Here
//! the client is relayed to the first node that accepts, byte for byte in both
//! directions: whatever the node answers, and whenever it closes the connection
//! (`quit`, HTTP-looking garbage, an overlong line), the client sees exactly
//! that. Only `config get cluster` (text, or binary opcode 0x60) is answered here,
//! in its place in the stream (see `fences`). Until the client sends anything
//! else, no node connection is opened, so discovery-only clients cost no node a
//! connection. Memory per client is bounded by the read buffers and one command
//! line, whatever lengths the commands announce.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::binary_frames::{BinaryReplies, BinaryRequests, REQUEST_MAGIC};
use crate::fences::{Fence, Fences};
use crate::text_replies::TextReplies;
use crate::text_requests::TextRequests;
use crate::{upstream, DiscoveryConfig};

/// Read size in both directions; 1 MB values pass in a few reads.
const READ: usize = 64 * 1024;

/// What memcached clients get when the cluster has no node to relay to.
const NO_NODE: &[u8] = b"SERVER_ERROR no cache node reachable\r\n";

/// memcached decides a connection's protocol from its first byte; so do we.
enum Requests {
    Text(TextRequests),
    Binary(BinaryRequests),
}

enum Replies {
    Text(TextReplies),
    Binary(BinaryReplies),
}

impl Requests {
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Requests::Text(r) => r.finish(out),
            Requests::Binary(r) => r.finish(out),
        }
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, fences: &mut Vec<Fence>) -> bool {
        match self {
            Requests::Text(r) => r.feed(input, out, fences),
            Requests::Binary(r) => r.feed(input, out, fences),
        }
    }
}

impl Replies {
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Replies::Text(r) => r.finish(out),
            Replies::Binary(r) => r.finish(out),
        }
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, fences: &Fences, cfg: &DiscoveryConfig) {
        match self {
            Replies::Text(r) => r.feed(input, out, fences, cfg),
            Replies::Binary(r) => r.feed(input, out, fences, cfg),
        }
    }
}

/// Which side of the relay failed.
enum Broken {
    Client(io::Error),
    Node,
}

/// Serves one client connection until either side closes it.
pub(crate) async fn serve(
    stream: TcpStream,
    cfg: watch::Receiver<DiscoveryConfig>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let mut input = Vec::with_capacity(READ);
    if rd.read_buf(&mut input).await? == 0 {
        return Ok(());
    }
    let binary = input[0] == REQUEST_MAGIC;
    let (mut requests, mut replies) = if binary {
        (
            Requests::Binary(BinaryRequests::default()),
            Replies::Binary(BinaryReplies::default()),
        )
    } else {
        (
            Requests::Text(TextRequests::default()),
            Replies::Text(TextReplies::default()),
        )
    };
    let (mut out, mut fences) = (Vec::new(), Vec::new());
    // Discovery alone needs no node: answer config gets here until something else comes.
    while !requests.feed(&input, &mut out, &mut fences) {
        let cfg_now = cfg.borrow().clone();
        let mut answers = Vec::new();
        for fence in fences.drain(..) {
            if let Fence::Config(reply) = fence {
                answers.extend_from_slice(&reply.render(&cfg_now));
            }
        }
        wr.write_all(&answers).await?;
        out.clear();
        input.clear();
        if rd.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
    let nodes = cfg.borrow().clone();
    let Some(node) = upstream::connect(&nodes).await else {
        if !binary {
            wr.write_all(NO_NODE).await?;
        }
        return Ok(());
    };
    let (mut node_rd, mut node_wr) = node.into_split();
    let shared = Fences::default();
    shared.push(&mut fences);

    let up = async {
        node_wr.write_all(&out).await.map_err(|_| Broken::Node)?;
        loop {
            shared.room().await;
            input.clear();
            match rd.read_buf(&mut input).await {
                Ok(0) => {
                    // Half-close, as the client did: the node answers what it got, then closes.
                    out.clear();
                    requests.finish(&mut out);
                    node_wr.write_all(&out).await.map_err(|_| Broken::Node)?;
                    let _ = node_wr.shutdown().await;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(Broken::Client(e)),
            }
            out.clear();
            requests.feed(&input, &mut out, &mut fences);
            shared.push(&mut fences);
            node_wr.write_all(&out).await.map_err(|_| Broken::Node)?;
        }
    };
    let down = async {
        let (mut buf, mut relayed) = (Vec::with_capacity(READ), Vec::with_capacity(READ));
        loop {
            buf.clear();
            if node_rd.read_buf(&mut buf).await? == 0 {
                relayed.clear();
                replies.finish(&mut relayed);
                return wr.write_all(&relayed).await;
            }
            relayed.clear();
            replies.feed(&buf, &mut relayed, &shared, &cfg.borrow());
            wr.write_all(&relayed).await?;
        }
    };
    tokio::pin!(up, down);
    tokio::select! {
        done = &mut down => done,
        ended = &mut up => match ended {
            // The node's last replies (and its close) still go to the client.
            Ok(()) | Err(Broken::Node) => down.await,
            Err(Broken::Client(e)) => Err(e),
        },
    }
}
