//! Just enough RESP to know where one command or one reply ends. The endpoint never
//! interprets values; it only needs boundaries, so that commands from many clients
//! can share one node connection and each reply can be handed back to its client.

/// Largest bulk string Redis accepts by default (`proto-max-bulk-len`).
const MAX_BULK: usize = 512 * 1024 * 1024;

/// Most arguments we frame in one command; Redis itself allows more, such commands
/// simply take the client's own connection.
const MAX_ARGS: usize = 1024 * 1024;

/// What is at the start of a client's input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// The command is not complete yet.
    Incomplete,
    /// A complete multibulk command of `len` bytes whose first argument is `name`.
    Command { len: usize, name: &'a [u8] },
    /// An inline command, an empty multibulk, or bytes Redis would refuse: we leave
    /// all of these to Redis on the client's own connection, so it answers exactly
    /// as it would without us.
    Other,
}

/// A reply that is not valid RESP: the node connection cannot be trusted any more.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Finds the `\r\n`-terminated line at `buf[at..]`; returns its content and the
/// offset just past it, or None if the line is not complete.
fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let content = rest[..nl].strip_suffix(b"\r")?;
    Some((content, at + nl + 1))
}

/// Parses a RESP integer (`-1` included); None if it is not one.
fn integer(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Frames the command at the start of `buf`.
pub(crate) fn command(buf: &[u8]) -> Request<'_> {
    if buf.is_empty() {
        return Request::Incomplete;
    }
    if buf[0] != b'*' {
        return Request::Other;
    }
    let Some((header, mut at)) = line(buf, 1) else {
        return incomplete_unless_garbage(buf, 1);
    };
    let args = match integer(header) {
        Some(n) if n >= 1 && n as usize <= MAX_ARGS => n as usize,
        _ => return Request::Other,
    };
    let mut name: &[u8] = &[];
    for i in 0..args {
        if at >= buf.len() {
            return Request::Incomplete;
        }
        if buf[at] != b'$' {
            return Request::Other;
        }
        let Some((header, data)) = line(buf, at + 1) else {
            return incomplete_unless_garbage(buf, at + 1);
        };
        let len = match integer(header) {
            Some(n) if n >= 0 && n as usize <= MAX_BULK => n as usize,
            _ => return Request::Other,
        };
        let end = data + len;
        if buf.len() < end + 2 {
            return Request::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Request::Other;
        }
        if i == 0 {
            name = &buf[data..end];
        }
        at = end + 2;
    }
    Request::Command { len: at, name }
}

/// Reads exactly `n` replies from a connection with nothing else in flight and
/// returns their bytes.
pub(crate) async fn read_replies<R>(node: &mut R, mut n: usize) -> std::io::Result<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let (mut buf, mut at) = (Vec::with_capacity(256), 0);
    while n > 0 {
        if node.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        while n > 0 {
            match reply_len(&buf[at..]) {
                Ok(Some(len)) => {
                    at += len;
                    n -= 1;
                }
                Ok(None) => break,
                Err(Malformed) => return Err(bad("malformed reply")),
            }
        }
    }
    if at == buf.len() {
        Ok(buf)
    } else {
        Err(bad("more replies than commands"))
    }
}

/// The arguments of one complete command as framed by `command`; empty if `frame`
/// is not one.
pub(crate) fn args(frame: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some((header, mut at)) = line(frame, 1) else {
        return out;
    };
    let count = integer(header).unwrap_or(0).max(0) as usize;
    for _ in 0..count {
        let Some((len, data)) = line(frame, at + 1).and_then(|(h, d)| Some((integer(h)?, d)))
        else {
            return Vec::new();
        };
        let Some(arg) = frame.get(data..data + len.max(0) as usize) else {
            return Vec::new();
        };
        out.push(arg);
        at = data + arg.len() + 2;
    }
    out
}

/// A header line still being received is only worth waiting for while it could
/// become a number; anything else goes to Redis to reject.
fn incomplete_unless_garbage(buf: &[u8], from: usize) -> Request<'_> {
    let partial = &buf[from..];
    let plausible = partial.len() <= 20
        && partial
            .iter()
            .enumerate()
            .all(|(i, &b)| b.is_ascii_digit() || (i == 0 && b == b'-') || b == b'\r');
    if plausible {
        Request::Incomplete
    } else {
        Request::Other
    }
}

/// Length of the complete reply at the start of `buf`, or None while it is still
/// arriving. Covers RESP2 and RESP3, including nested aggregates.
pub(crate) fn reply_len(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    let mut at = 0;
    // Values still owed by the aggregates opened so far; the reply itself is one.
    let mut owed: usize = 1;
    while owed > 0 {
        let Some(&kind) = buf.get(at) else {
            return Ok(None);
        };
        let Some((header, next)) = line(buf, at + 1) else {
            return if buf.len() - at > 64 * 1024 && !matches!(kind, b'+' | b'-') {
                Err(Malformed)
            } else {
                Ok(None)
            };
        };
        owed -= 1;
        at = next;
        match kind {
            // Simple string, error, integer, null, boolean, double, big number.
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
            // Bulk string, bulk error, verbatim string.
            b'$' | b'!' | b'=' => match integer(header).ok_or(Malformed)? {
                -1 => {}
                n if n >= 0 => {
                    let end = at + n as usize;
                    if buf.len() < end + 2 {
                        return Ok(None);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(Malformed);
                    }
                    at = end + 2;
                }
                _ => return Err(Malformed),
            },
            // Array, set, push; map and attribute carry key/value pairs, and an
            // attribute is followed by the value it describes.
            b'*' | b'~' | b'>' | b'%' | b'|' => match integer(header).ok_or(Malformed)? {
                -1 if kind == b'*' => {}
                n if n >= 0 => {
                    let n = n as usize;
                    owed += match kind {
                        b'%' => 2 * n,
                        b'|' => 2 * n + 1,
                        _ => n,
                    };
                }
                _ => return Err(Malformed),
            },
            _ => return Err(Malformed),
        }
    }
    Ok(Some(at))
}

/// Encodes a command as clients send it, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `encode` for text arguments.
#[cfg(test)]
pub(crate) fn encode_text(args: &[&str]) -> Vec<u8> {
    encode(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_a_command_and_names_it() {
        let mut buf = encode(&[b"SET", b"k", b"v\r\n"]);
        let len = buf.len();
        buf.extend_from_slice(b"*1\r\n$4\r\nPING");
        assert_eq!(command(&buf), Request::Command { len, name: b"SET" });
        assert_eq!(command(&buf[len..]), Request::Incomplete);
    }

    #[test]
    fn splits_a_command_into_its_arguments() {
        let buf = encode(&[b"CLIENT", b"SETNAME", b"", b"a\r\nb"]);
        assert_eq!(args(&buf), vec![&b"CLIENT"[..], b"SETNAME", b"", b"a\r\nb"]);
    }

    #[test]
    fn leaves_inline_empty_and_malformed_commands_to_redis() {
        assert_eq!(command(b"PING\r\n"), Request::Other);
        assert_eq!(command(b"*0\r\n"), Request::Other);
        assert_eq!(command(b"*-1\r\n"), Request::Other);
        assert_eq!(command(b"*1\r\n:3\r\n"), Request::Other);
        assert_eq!(command(b"*1\r\n$1\r\nabc\r\n"), Request::Other);
        assert_eq!(command(b"*x"), Request::Other);
        assert_eq!(command(b"*1\r\n$4"), Request::Incomplete);
        assert_eq!(command(b"*1\r\n$4\r"), Request::Incomplete);
    }

    #[test]
    fn measures_nested_and_resp3_replies() {
        let replies: [&[u8]; 9] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$-1\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"*-1\r\n",
            b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n",
            b"%1\r\n+k\r\n*0\r\n",
            b"|1\r\n+a\r\n:1\r\n#t\r\n",
        ];
        for r in replies {
            let mut buf = r.to_vec();
            buf.extend_from_slice(b"+next\r\n");
            assert_eq!(
                reply_len(&buf),
                Ok(Some(r.len())),
                "{:?}",
                String::from_utf8_lossy(r)
            );
            for cut in 0..r.len() {
                assert_eq!(reply_len(&r[..cut]), Ok(None), "cut {cut} of {r:?}");
            }
        }
        assert_eq!(reply_len(b"?what\r\n"), Err(Malformed));
        assert_eq!(reply_len(b"$3\r\nabcd\r\n"), Err(Malformed));
    }

    #[test]
    fn deep_nesting_and_huge_counts_cost_nothing() {
        // A million nested arrays: measured without recursion, still incomplete.
        let deep = b"*1\r\n".repeat(1_000_000);
        assert_eq!(reply_len(&deep), Ok(None));
        assert_eq!(command(b"*2147483647\r\n"), Request::Other);
        assert_eq!(command(b"*1\r\n$536870913\r\n"), Request::Other);
        assert_eq!(command(b"*1\r\n$536870912\r\n"), Request::Incomplete);
    }

    proptest! {
        #[test]
        fn adversarial_input_never_panics_or_claims_more_than_it_has(
            input in proptest::collection::vec(prop_oneof![
                Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b"\r\n".to_vec()),
                Just(b"536870000".to_vec()), Just(b"-1".to_vec()), Just(b"99999999999999999999".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8),
            ], 0..60),
        ) {
            let input = input.concat();
            if let Request::Command { len, .. } = command(&input) {
                prop_assert!(len <= input.len());
            }
            if let Ok(Some(len)) = reply_len(&input) {
                prop_assert!(len <= input.len());
            }
        }

        #[test]
        fn any_command_frames_exactly_and_never_early(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6),
            tail in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let encoded = encode(&refs);
            let mut buf = encoded.clone();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(command(&buf), Request::Command { len: encoded.len(), name: &args[0][..] });
            for cut in 0..encoded.len() {
                prop_assert_eq!(command(&encoded[..cut]), Request::Incomplete);
            }
        }

        #[test]
        fn bulk_replies_frame_whatever_their_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = format!("*2\r\n${}\r\n", data.len()).into_bytes();
            buf.extend_from_slice(&data);
            buf.extend_from_slice(b"\r\n:7\r\n");
            let len = buf.len();
            buf.extend_from_slice(b"$3\r\nnext\r\n");
            prop_assert_eq!(reply_len(&buf), Ok(Some(len)));
        }
    }
}
