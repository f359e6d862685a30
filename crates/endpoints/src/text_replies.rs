//! The reply side of memcached's text and meta protocols: copies the node's bytes
//! to the client, skipping over value blocks (`VALUE … <bytes>`, `VA <bytes>`) so
//! their contents are never mistaken for lines, and answers each `MN` that fences
//! a `config get cluster` (see `fences`).

use crate::fences::{Fence, Fences};
use crate::DiscoveryConfig;

/// Reply lines are short (a key is at most 250 bytes); a longer one is copied
/// without being looked at.
const KEEP: usize = 4096;

/// Scans one node connection's text replies.
#[derive(Default)]
pub(crate) struct TextReplies {
    line: Vec<u8>,
    overlong: bool,
    data: u64,
}

/// The `index`-th space-separated token of `line` as a decimal length.
fn length(line: &[u8], index: usize) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let token = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .nth(index)?;
    std::str::from_utf8(token).ok()?.parse().ok()
}

impl TextReplies {
    /// Moves `input` into `out` for the client.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        fences: &Fences,
        cfg: &DiscoveryConfig,
    ) {
        while !input.is_empty() {
            if self.data > 0 {
                let n = input
                    .len()
                    .min(usize::try_from(self.data).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..n]);
                input = &input[n..];
                self.data -= n as u64;
                continue;
            }
            let newline = input.iter().position(|&b| b == b'\n');
            let take = newline.map_or(input.len(), |i| i + 1);
            let (chunk, rest) = input.split_at(take);
            input = rest;
            if self.overlong {
                out.extend_from_slice(chunk);
                self.overlong = newline.is_none();
                continue;
            }
            self.line.extend_from_slice(chunk);
            if newline.is_none() {
                if self.line.len() > KEEP {
                    out.append(&mut self.line);
                    self.overlong = true;
                }
                continue;
            }
            self.complete_line(out, fences, cfg);
        }
    }

    /// The node closed: the bytes of an unfinished line still go to the client.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.line);
    }

    fn complete_line(&mut self, out: &mut Vec<u8>, fences: &Fences, cfg: &DiscoveryConfig) {
        let line = std::mem::take(&mut self.line);
        if line == b"MN\r\n" {
            match fences.pop() {
                Some(Fence::Config(reply)) => out.extend_from_slice(&reply.render(cfg)),
                Some(Fence::Client) | None => out.extend_from_slice(&line),
            }
        } else {
            let block = if line.starts_with(b"VALUE ") {
                length(&line, 3)
            } else if line.starts_with(b"VA ") {
                length(&line, 1)
            } else {
                None
            };
            self.data = block.map_or(0, |n| n + 2);
            out.extend_from_slice(&line);
        }
        self.line = line;
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_get_cluster_reply;
    use crate::fences::ConfigReply;

    fn scan(input: &[u8], fences: &Fences, split: usize) -> Vec<u8> {
        let mut replies = TextReplies::default();
        let mut out = Vec::new();
        let cfg = DiscoveryConfig::default();
        for piece in input.chunks(split) {
            replies.feed(piece, &mut out, fences, &cfg);
        }
        replies.finish(&mut out);
        out
    }

    #[test]
    fn values_that_look_like_mn_are_data() {
        let fences = Fences::default();
        fences.push(&mut vec![Fence::Config(ConfigReply::Text)]);
        let input = b"VALUE k 0 4\r\nMN\r\n\r\nEND\r\nVA 4 f\r\nMN\r\n\r\nMN\r\nHD\r\n";
        for split in 1..input.len() {
            let out = scan(input, &fences, split);
            let mut expected = input[..input.len() - 8].to_vec();
            expected.extend_from_slice(&config_get_cluster_reply(&DiscoveryConfig::default()));
            expected.extend_from_slice(b"HD\r\n");
            assert_eq!(out, expected, "split {split}");
            fences.push(&mut vec![Fence::Config(ConfigReply::Text)]);
        }
    }

    #[test]
    fn the_clients_own_mn_passes() {
        let fences = Fences::default();
        fences.push(&mut vec![Fence::Client]);
        assert_eq!(scan(b"MN\r\nMN\r\n", &fences, 3), b"MN\r\nMN\r\n");
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn without_our_fences_replies_pass_byte_for_byte(
            input in proptest::collection::vec(prop_oneof![
                Just(b"VALUE k 0 3\r\n".to_vec()),
                Just(b"VA 2 f\r\n".to_vec()),
                Just(b"MN\r\n".to_vec()),
                Just(b"END\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..30),
            ], 0..40),
            split in 1usize..50,
        ) {
            let input = input.concat();
            let fences = Fences::default();
            prop_assert_eq!(scan(&input, &fences, split), input);
        }
    }
}
