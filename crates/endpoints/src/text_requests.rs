//! The request side of memcached's text and meta protocols, framed exactly as
//! memcached 1.6 frames it (`proto_text.c`): which line is a command, which bytes
//! are a data block. Bytes go on to the node unchanged, except that a `config get
//! cluster` line becomes `mn` (see `fences`). Nothing is buffered beyond one
//! command line (at most memcached's own 16 KiB read buffer), whatever length a
//! command announces: data blocks stream through as they arrive.

use crate::c_number::{safe_strtol, safe_strtoull};
use crate::fences::{ConfigReply, Fence};

/// memcached closes a connection whose buffered input has no newline past this
/// many bytes (unless it is a multi-key get): such bytes go to the node at once,
/// so it can.
const EARLY: usize = 2048;

/// memcached's read buffer; a longer line can only be a get (or gets the client
/// disconnected), so it never has a data block and is not kept.
const KEEP: usize = 16 * 1024;

/// memcached's `KEY_MAX_LENGTH`.
const KEY_MAX: usize = 250;

/// memcached tokenizes at most this many tokens (the last one holds the rest).
const MAX_TOKENS: usize = 24;

/// What memcached does with one complete command line.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// Nothing follows it.
    Plain,
    /// `mn`: the node answers `MN`.
    NoOp,
    /// `config get cluster`: ours to answer.
    ConfigGet,
    /// A storage command memcached accepted: this many bytes (value and CRLF)
    /// follow, stored or swallowed.
    Data(u64),
}

/// Splits a command line as memcached's `tokenize_command` does: on single spaces,
/// up to the first NUL (the C string ends there), at most `MAX_TOKENS - 1` tokens.
/// Returns the tokens and memcached's `ntokens` (which counts a terminal token).
fn tokenize(line: &[u8]) -> (Vec<&[u8]>, usize) {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .take(MAX_TOKENS - 1)
        .collect();
    let ntokens = (tokens.len() + 1).min(MAX_TOKENS);
    (tokens, ntokens)
}

/// The command line without its `\n` and the `\r` memcached strips before it.
fn content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    match line.strip_suffix(b"\r") {
        Some(stripped) if line.len() > 1 => stripped,
        _ => line,
    }
}

/// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]` and
/// `cas … <bytes> <cas unique> [noreply]`, as `process_update_command` accepts them.
fn storage(tokens: &[&[u8]], ntokens: usize, cas: bool) -> Line {
    let counts = if cas { [7, 8] } else { [6, 7] };
    if !counts.contains(&ntokens) || tokens[1].len() > KEY_MAX {
        return Line::Plain;
    }
    let flags = safe_strtoull(tokens[2]).is_some();
    let exptime = safe_strtol(tokens[3]).is_some();
    let Some(len) = safe_strtol(tokens[4]) else {
        return Line::Plain;
    };
    if !flags || !exptime || (cas && safe_strtoull(tokens[5]).is_none()) {
        return Line::Plain;
    }
    data(len)
}

/// `ms <key> <datalen> <flags>*`, as `process_mset_command` accepts it: after
/// these checks memcached reads (or swallows) the data block, even if a flag is bad.
fn meta_set(tokens: &[&[u8]], ntokens: usize) -> Line {
    if ntokens <= 3 || ntokens > 20 || tokens[1].len() > KEY_MAX {
        return Line::Plain;
    }
    safe_strtol(tokens[2]).map_or(Line::Plain, data)
}

/// A data block of `len` bytes plus CRLF, if memcached takes `len` as a length.
fn data(len: i32) -> Line {
    if (0..=i32::MAX - 2).contains(&len) {
        Line::Data(len as u64 + 2)
    } else {
        Line::Plain
    }
}

/// Classifies one complete command line (with its line ending).
fn classify(line: &[u8]) -> Line {
    let (tokens, ntokens) = tokenize(content(line));
    let Some(&name) = tokens.first() else {
        return Line::Plain;
    };
    match name {
        b"mn" => Line::NoOp,
        b"ms" => meta_set(&tokens, ntokens),
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => storage(&tokens, ntokens, false),
        b"cas" => storage(&tokens, ntokens, true),
        b"config" if tokens[1..] == [&b"get"[..], b"cluster"] => Line::ConfigGet,
        _ => Line::Plain,
    }
}

/// Frames one client's text-protocol stream.
#[derive(Default)]
pub(crate) struct TextRequests {
    /// The current command line so far (up to `KEEP` bytes).
    line: Vec<u8>,
    /// How much of `line` has already gone to the node.
    sent: usize,
    /// The current line is longer than `KEEP`: copy it to its end.
    overlong: bool,
    /// Data block bytes still to copy.
    data: u64,
}

impl TextRequests {
    /// Moves `input` into `out` as the node should get it, noting a fence for each
    /// no-op sent. True if `out` got anything besides stand-ins for `config get
    /// cluster`, i.e. if the node is needed.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        fences: &mut Vec<Fence>,
    ) -> bool {
        let mut needs_node = false;
        while !input.is_empty() {
            if self.data > 0 {
                let n = input
                    .len()
                    .min(usize::try_from(self.data).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..n]);
                input = &input[n..];
                self.data -= n as u64;
                needs_node = true;
                continue;
            }
            let newline = input.iter().position(|&b| b == b'\n');
            let take = newline.map_or(input.len(), |i| i + 1);
            let (chunk, rest) = input.split_at(take);
            input = rest;
            needs_node |= self.line_bytes(chunk, newline.is_some(), out, fences);
        }
        needs_node
    }

    /// The client closed: the bytes of an unfinished line still go to the node.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.line[self.sent..]);
        self.line.clear();
        self.sent = 0;
    }

    /// Takes the next bytes of a command line; `complete` if they end it.
    fn line_bytes(
        &mut self,
        chunk: &[u8],
        complete: bool,
        out: &mut Vec<u8>,
        fences: &mut Vec<Fence>,
    ) -> bool {
        if self.overlong {
            out.extend_from_slice(chunk);
            self.overlong = !complete;
            return true;
        }
        self.line.extend_from_slice(chunk);
        if !complete {
            if self.line.len() > KEEP {
                out.extend_from_slice(&self.line[self.sent..]);
                self.line.clear();
                self.sent = 0;
                self.overlong = true;
                return true;
            }
            if self.line.len() > EARLY {
                out.extend_from_slice(&self.line[self.sent..]);
                self.sent = self.line.len();
                return true;
            }
            return false;
        }
        let kind = if self.line.len() > KEEP {
            Line::Plain
        } else {
            classify(&self.line)
        };
        let needs_node = match kind {
            // Part of it already went to the node: it can only be relayed.
            Line::ConfigGet if self.sent == 0 => {
                out.extend_from_slice(b"mn\r\n");
                fences.push(Fence::Config(ConfigReply::Text));
                false
            }
            Line::NoOp => {
                fences.push(Fence::Client);
                true
            }
            Line::Data(n) => {
                self.data = n;
                true
            }
            Line::ConfigGet | Line::Plain => true,
        };
        if needs_node {
            out.extend_from_slice(&self.line[self.sent..]);
        }
        self.line.clear();
        self.sent = 0;
        needs_node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_lines_as_memcached_takes_them() {
        assert_eq!(classify(b"set k 0 0 5\r\n"), Line::Data(7));
        assert_eq!(classify(b"set k 0 0 5 noreply\r\n"), Line::Data(7));
        // memcached does not check the sixth token is "noreply".
        assert_eq!(classify(b"set k 0 0 2 foo\r\n"), Line::Data(4));
        assert_eq!(classify(b"set k 0 0 +2\n"), Line::Data(4));
        assert_eq!(classify(b"set k 0 0 4294967298\r\n"), Line::Data(4));
        assert_eq!(classify(b"set k 0 0 2147483646\r\n"), Line::Plain);
        assert_eq!(classify(b"set k 0 0 -1\r\n"), Line::Plain);
        assert_eq!(classify(b"set k -1 0 2\r\n"), Line::Plain);
        assert_eq!(classify(b"set k 0 0\r\n"), Line::Plain);
        assert_eq!(classify(b"set k 0 0 5\0 9\r\n"), Line::Data(7));
        let long_key = format!("set {} 0 0 1\r\n", "k".repeat(251));
        assert_eq!(classify(long_key.as_bytes()), Line::Plain);
        assert_eq!(classify(b"cas k 0 0 2\r\n"), Line::Plain);
        assert_eq!(classify(b"cas k 0 0 2 7\r\n"), Line::Data(4));
        assert_eq!(classify(b"cas k 0 0 2 x\r\n"), Line::Plain);
    }

    #[test]
    fn meta_and_intercepted_lines() {
        assert_eq!(classify(b"ms k 2 T0\r\n"), Line::Data(4));
        assert_eq!(classify(b"ms k 2 q q\r\n"), Line::Data(4));
        assert_eq!(classify(b"ms k\r\n"), Line::Plain);
        assert_eq!(classify(b"mn\r\n"), Line::NoOp);
        assert_eq!(classify(b"mn foo\r\n"), Line::NoOp);
        assert_eq!(classify(b"config get cluster\r\n"), Line::ConfigGet);
        assert_eq!(classify(b"config  get cluster \r\n"), Line::ConfigGet);
        assert_eq!(classify(b"config get cluster x\r\n"), Line::Plain);
        assert_eq!(classify(b"\r\n"), Line::Plain);
    }

    #[test]
    fn config_get_becomes_a_no_op_and_data_passes() {
        let mut f = TextRequests::default();
        let (mut out, mut fences) = (Vec::new(), Vec::new());
        let input = b"set k 0 0 20\r\nconfig get cluster\r\n\r\nconfig get cluster\r\nmn\r\n";
        assert!(f.feed(input, &mut out, &mut fences));
        let mut expected = input[..input.len() - 24].to_vec();
        expected.extend_from_slice(b"mn\r\nmn\r\n");
        assert_eq!(out, expected);
        assert_eq!(
            fences,
            vec![Fence::Config(ConfigReply::Text), Fence::Client]
        );
    }

    #[test]
    fn lone_config_gets_need_no_node_and_lines_wait_for_their_end() {
        let mut f = TextRequests::default();
        let (mut out, mut fences) = (Vec::new(), Vec::new());
        assert!(!f.feed(b"config get clu", &mut out, &mut fences));
        assert!(out.is_empty());
        assert!(!f.feed(b"ster\r\n", &mut out, &mut fences));
        assert_eq!(out, b"mn\r\n");
        assert_eq!(fences.len(), 1);
    }

    #[test]
    fn a_huge_announced_length_is_streamed_not_held() {
        let mut f = TextRequests::default();
        let (mut out, mut fences) = (Vec::new(), Vec::new());
        f.feed(b"set k 0 0 1073741823\r\n", &mut out, &mut fences);
        assert_eq!(f.data, 1073741825);
        assert!(out.capacity() < 4096);
        out.clear();
        f.feed(&[b'x'; 1000], &mut out, &mut fences);
        assert_eq!(out.len(), 1000);
        assert!(f.line.capacity() < 4096);
    }

    use proptest::prelude::*;

    /// Pieces of client input: commands, data, garbage, no-ops and config gets.
    fn fragment() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"set k 0 0 5\r\n".to_vec()),
            Just(b"cas k 0 0 1\r\n".to_vec()),
            Just(b"ms k 3 q\r\n".to_vec()),
            Just(b"set k 0 0 2147483645\r\n".to_vec()),
            Just(b"mn\r\n".to_vec()),
            Just(b"get a b\r\n".to_vec()),
            Just(b"config get cluster\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(vec![0]),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    /// Feeds `input` cut at `cuts` and returns what the node gets and the fences.
    fn feed_cut(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Fence>, usize) {
        let mut f = TextRequests::default();
        let (mut out, mut fences, mut held) = (Vec::new(), Vec::new(), 0);
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            let cut = cut.clamp(at, input.len());
            f.feed(&input[at..cut], &mut out, &mut fences);
            held = held.max(f.line.len());
            at = cut;
        }
        (out, fences, held)
    }

    proptest! {
        #[test]
        fn framing_does_not_depend_on_where_the_input_is_cut(
            parts in proptest::collection::vec(fragment(), 0..40),
            mut cuts in proptest::collection::vec(0usize..2000, 0..30),
        ) {
            let input = parts.concat();
            cuts.sort_unstable();
            let whole = feed_cut(&input, &[]);
            let cut = feed_cut(&input, &cuts);
            prop_assert_eq!(&cut.0, &whole.0);
            prop_assert_eq!(&cut.1, &whole.1);
            // Nothing is held beyond the line being read.
            prop_assert!(cut.2 <= KEEP + 2000);
        }

        #[test]
        fn without_config_gets_the_node_gets_exactly_the_clients_bytes(
            input in proptest::collection::vec(any::<u8>(), 0..5000),
            mut cuts in proptest::collection::vec(0usize..5000, 0..30),
        ) {
            prop_assume!(!input.windows(6).any(|w| w == b"config"));
            cuts.sort_unstable();
            let (out, _, held) = feed_cut(&input, &cuts);
            // Bytes of an unfinished line wait for their end; everything else is sent.
            let unfinished = input.len() - input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            prop_assert!(out.len() + unfinished >= input.len());
            prop_assert_eq!(&out[..], &input[..out.len()]);
            prop_assert!(held <= KEEP + 5000);
        }
    }
}
