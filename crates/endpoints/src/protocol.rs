//! Classifies memcached text-protocol command lines: how many data bytes follow
//! and what shape of reply the node will send. Parsing only; no I/O.

/// Largest data block we accept, matching memcached's own `-I` ceiling of 1 GiB.
pub(crate) const MAX_DATA: usize = 1 << 30;

/// The shape of a node's reply to one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// One line (`STORED`, `DELETED`, `VERSION 1.6`, a number, an error...).
    Line,
    /// `VALUE <key> <flags> <bytes> [<cas>]` blocks, then `END` (get, gets, gat, gats).
    Values,
    /// Lines until `END` or a terminal status line (stats, lru_crawler metadump).
    UntilEnd,
    /// One meta reply; `VA <n>` carries n bytes of data.
    Meta,
    /// Quiet or noreply: we append `mn` and relay meta replies until `MN`.
    Fenced,
}

/// What to do with one client command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `config get cluster`: answered by the endpoint itself.
    ConfigGetCluster,
    /// `quit`: close the connection.
    Quit,
    /// Send to a node; `data` bytes (plus CRLF) of the request follow the line.
    Forward { data: Option<usize>, reply: Reply },
    /// Answer locally with this line (without CRLF), forwarding nothing.
    Reject(&'static str),
}

const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";

/// Classifies a command line given without its trailing CRLF.
pub(crate) fn parse(line: &[u8]) -> Command {
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let Some(&name) = tokens.first() else {
        return Command::Reject("ERROR");
    };
    let last_is_noreply = tokens.len() > 1 && tokens.last() == Some(&&b"noreply"[..]);
    let plain = |reply: Reply| Command::Forward { data: None, reply };
    let maybe_noreply = if last_is_noreply {
        Reply::Fenced
    } else {
        Reply::Line
    };
    match name {
        b"config" if tokens[1..] == [&b"get"[..], b"cluster"] => Command::ConfigGetCluster,
        b"quit" => Command::Quit,
        b"get" | b"gets" if tokens.len() >= 2 => plain(Reply::Values),
        b"gat" | b"gats" if tokens.len() >= 3 => plain(Reply::Values),
        b"get" | b"gets" | b"gat" | b"gats" => Command::Reject("ERROR"),
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => storage(&tokens, 5),
        b"cas" => storage(&tokens, 6),
        b"delete" | b"incr" | b"decr" | b"touch" | b"flush_all" | b"verbosity" => {
            plain(maybe_noreply)
        }
        b"stats" | b"lru_crawler" => plain(Reply::UntilEnd),
        b"ms" => meta_set(&tokens),
        b"mg" | b"md" | b"ma" | b"me" | b"mn" => plain(meta_reply(&tokens[1..])),
        // Streams forever; it cannot be relayed one reply per command.
        b"watch" => {
            Command::Reject("SERVER_ERROR watch is not supported on the configuration endpoint")
        }
        _ => plain(Reply::Line),
    }
}

/// `<cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]`; `fields` counts up to bytes/cas.
fn storage(tokens: &[&[u8]], fields: usize) -> Command {
    let noreply = tokens.len() == fields + 1 && tokens[fields] == b"noreply";
    if tokens.len() != fields && !noreply {
        return Command::Reject(BAD_FORMAT);
    }
    match parse_len(tokens[4]) {
        Some(n) => Command::Forward {
            data: Some(n),
            reply: if noreply { Reply::Fenced } else { Reply::Line },
        },
        None => Command::Reject(BAD_FORMAT),
    }
}

/// `ms <key> <datalen> <flags>*`.
fn meta_set(tokens: &[&[u8]]) -> Command {
    match tokens.get(2).and_then(|t| parse_len(t)) {
        Some(n) if tokens.len() >= 3 => Command::Forward {
            data: Some(n),
            reply: meta_reply(&tokens[3..]),
        },
        _ => Command::Reject(BAD_FORMAT),
    }
}

/// Meta commands with the `q` flag stay silent on the common outcome, so fence them.
fn meta_reply(flags: &[&[u8]]) -> Reply {
    if flags.iter().any(|f| *f == b"q") {
        Reply::Fenced
    } else {
        Reply::Meta
    }
}

/// A data length: decimal, within [`MAX_DATA`].
pub(crate) fn parse_len(token: &[u8]) -> Option<usize> {
    if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(data: Option<usize>, reply: Reply) -> Command {
        Command::Forward { data, reply }
    }

    #[test]
    fn classic_commands() {
        assert_eq!(parse(b"config get cluster"), Command::ConfigGetCluster);
        assert_eq!(parse(b"config  get cluster"), Command::ConfigGetCluster);
        assert_eq!(parse(b"CONFIG get cluster"), fwd(None, Reply::Line));
        assert_eq!(parse(b"config get other"), fwd(None, Reply::Line));
        assert_eq!(parse(b"get a b c"), fwd(None, Reply::Values));
        assert_eq!(parse(b"gat 10 a"), fwd(None, Reply::Values));
        assert_eq!(parse(b"get"), Command::Reject("ERROR"));
        assert_eq!(parse(b""), Command::Reject("ERROR"));
        assert_eq!(parse(b"set k 0 0 5"), fwd(Some(5), Reply::Line));
        assert_eq!(parse(b"set k 0 0 5 noreply"), fwd(Some(5), Reply::Fenced));
        assert_eq!(parse(b"cas k 0 0 5 99"), fwd(Some(5), Reply::Line));
        assert_eq!(
            parse(b"cas k 0 0 5 99 noreply"),
            fwd(Some(5), Reply::Fenced)
        );
        assert_eq!(parse(b"set k 0 0 x"), Command::Reject(BAD_FORMAT));
        assert_eq!(parse(b"set k 0 0"), Command::Reject(BAD_FORMAT));
        assert_eq!(parse(b"delete k noreply"), fwd(None, Reply::Fenced));
        assert_eq!(parse(b"incr k 1"), fwd(None, Reply::Line));
        assert_eq!(parse(b"stats slabs"), fwd(None, Reply::UntilEnd));
        assert_eq!(parse(b"version"), fwd(None, Reply::Line));
        assert_eq!(parse(b"quit"), Command::Quit);
    }

    #[test]
    fn meta_commands() {
        assert_eq!(parse(b"mg k v f"), fwd(None, Reply::Meta));
        assert_eq!(parse(b"mg k v q"), fwd(None, Reply::Fenced));
        assert_eq!(parse(b"ms k 3 T0"), fwd(Some(3), Reply::Meta));
        assert_eq!(parse(b"ms k 3 q"), fwd(Some(3), Reply::Fenced));
        assert_eq!(parse(b"ms k"), Command::Reject(BAD_FORMAT));
        assert_eq!(parse(b"mn"), fwd(None, Reply::Meta));
    }

    #[test]
    fn lengths() {
        assert_eq!(parse_len(b"0"), Some(0));
        assert_eq!(parse_len(b"1048576"), Some(1 << 20));
        assert_eq!(parse_len(b"-1"), None);
        assert_eq!(parse_len(b""), None);
    }
}
