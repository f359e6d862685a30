//! Connection set-up commands that client libraries send on every new connection.
//!
//! redis-py 8 opens each connection with `HELLO 3`, `CLIENT MAINT_NOTIFICATIONS`
//! and `CLIENT SETINFO` (library name and version); Jedis and node-redis send
//! `CLIENT SETINFO`, often `CLIENT SETNAME` and `SELECT 0`. Treated as
//! connection-scoped, they would give every client its own node connection from
//! the start and multiplexing would never happen. In the forms below they are
//! harmless on the shared connection (HELLO picks the shared connection of that
//! protocol), so they go over it and are remembered: if the client later moves to
//! its own connection, they are replayed there first, and `CLIENT GETNAME`,
//! `CLIENT INFO` and the like then see exactly what the client set.

use crate::mux::{NodeCommands, Protocol};
use crate::resp;

/// How a set-up command travels over the shared connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SetUp {
    /// Sent as is: the node's reply is the one the client would get directly.
    AsIs,
    /// `HELLO 2` / `HELLO 3` (nothing else): served by the shared connection that
    /// speaks that protocol, so the client must move to it first.
    Protocol(Protocol),
    /// `CLIENT SETNAME` with a valid name: the shared connection must not take the
    /// client's name, so `SELECT 0` (same `+OK`, no effect) goes in its place.
    InsteadSend(&'static [u8]),
}

/// Same reply as a valid `CLIENT SETNAME` and no effect on the shared connection.
const SELECT_ZERO: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";

/// Whether `frame` (one complete command) is a set-up command we can share, and how.
/// Anything unusual (another database, an invalid name) is not: it then takes the
/// client's own connection, where the node answers it exactly.
pub(crate) fn set_up(frame: &[u8], node: NodeCommands) -> Option<SetUp> {
    let args = resp::args(frame);
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    if is(0, "SELECT") && args.len() == 2 && args[1] == b"0" {
        return Some(SetUp::AsIs);
    }
    if is(0, "HELLO") && args.len() == 2 {
        match args[1] {
            b"2" => return Some(SetUp::Protocol(Protocol::Resp2)),
            b"3" => return Some(SetUp::Protocol(Protocol::Resp3)),
            _ => return None,
        }
    }
    if !is(0, "CLIENT") {
        return None;
    }
    if is(1, "MAINT_NOTIFICATIONS") && !node.maint_notifications {
        // redis-py 8 sends it on every connection; a node without it answers an
        // error, exactly as it would on the client's own connection.
        return Some(SetUp::AsIs);
    }
    if is(1, "SETINFO") {
        // The node's own reply (an error on Redis before 7.2) is what the client gets.
        return Some(SetUp::AsIs);
    }
    // Redis accepts names of printable characters without spaces; empty clears it.
    let valid_name = |name: &[u8]| name.iter().all(|b| (b'!'..=b'~').contains(b));
    if is(1, "SETNAME") && args.len() == 3 && valid_name(args[2]) {
        return Some(SetUp::InsteadSend(SELECT_ZERO));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::resp::encode_text as cmd;

    const OLD: NodeCommands = NodeCommands {
        maint_notifications: false,
    };
    const NEW: NodeCommands = NodeCommands {
        maint_notifications: true,
    };

    #[test]
    fn maint_notifications_are_shared_only_where_the_node_lacks_them() {
        let on = cmd(&[
            "CLIENT",
            "MAINT_NOTIFICATIONS",
            "ON",
            "moving-endpoint-type",
            "internal-fqdn",
        ]);
        assert_eq!(set_up(&on, OLD), Some(SetUp::AsIs));
        assert_eq!(set_up(&on, NEW), None);
    }

    #[test]
    fn library_handshakes_are_shared() {
        assert_eq!(
            set_up(&cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]), OLD),
            Some(SetUp::AsIs)
        );
        assert_eq!(
            set_up(&cmd(&["client", "setinfo", "lib-ver", "5.0.1"]), OLD),
            Some(SetUp::AsIs)
        );
        assert_eq!(set_up(&cmd(&["select", "0"]), OLD), Some(SetUp::AsIs));
        assert_eq!(
            set_up(&cmd(&["HELLO", "3"]), OLD),
            Some(SetUp::Protocol(Protocol::Resp3))
        );
        assert_eq!(
            set_up(&cmd(&["hello", "2"]), OLD),
            Some(SetUp::Protocol(Protocol::Resp2))
        );
        assert_eq!(
            set_up(&cmd(&["CLIENT", "SETNAME", "worker-1"]), OLD),
            Some(SetUp::InsteadSend(SELECT_ZERO))
        );
        assert_eq!(
            set_up(&cmd(&["CLIENT", "SETNAME", ""]), OLD),
            Some(SetUp::InsteadSend(SELECT_ZERO))
        );
    }

    #[test]
    fn anything_else_is_not() {
        assert_eq!(set_up(&cmd(&["SELECT", "1"]), OLD), None);
        assert_eq!(set_up(&cmd(&["CLIENT", "SETNAME", "has space"]), OLD), None);
        assert_eq!(set_up(&cmd(&["CLIENT", "SETNAME"]), OLD), None);
        assert_eq!(set_up(&cmd(&["CLIENT", "GETNAME"]), OLD), None);
        assert_eq!(set_up(&cmd(&["HELLO", "3", "SETNAME", "x"]), OLD), None);
        assert_eq!(set_up(&cmd(&["HELLO"]), OLD), None);
        assert_eq!(set_up(&cmd(&["HELLO", "4"]), OLD), None);
        assert_eq!(set_up(&cmd(&["GET", "k"]), OLD), None);
    }

    #[test]
    fn the_stand_in_is_one_valid_command() {
        assert!(matches!(
            resp::command(SELECT_ZERO),
            resp::Request::Command {
                name: b"SELECT",
                ..
            }
        ));
    }
}
