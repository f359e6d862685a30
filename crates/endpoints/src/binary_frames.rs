//! memcached's binary protocol, both directions: every packet is a 24-byte header
//! whose total body length says where the next one starts, so framing is exact.
//! Packets are copied as they are, except ElastiCache's `config get cluster`
//! (opcode 0x60, key `cluster`), which becomes a NOOP on the way to the node and
//! gets the cluster config in place of the NOOP's reply (see `fences`).

use crate::fences::{ConfigReply, Fence, Fences, BINARY_CONFIG_GET};
use crate::DiscoveryConfig;

/// The first byte of every request; a connection starting with it is binary.
pub(crate) const REQUEST_MAGIC: u8 = 0x80;

const RESPONSE_MAGIC: u8 = 0x81;
const NOOP: u8 = 0x0a;
const HEADER: usize = 24;

/// Where one direction of a binary stream is.
#[derive(Default)]
struct Packets {
    header: Vec<u8>,
    /// Body bytes still to copy.
    body: u64,
}

/// The header's total body length.
fn body_len(header: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes([
        header[8], header[9], header[10], header[11],
    ]))
}

impl Packets {
    /// The stream ended: a partial header (or held config get) is passed on as it is.
    fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.header);
    }

    /// Splits `input` into header and body pieces: `on_header` gets each complete
    /// header and returns the bytes to send for it (and how much body it keeps back).
    fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        mut on_header: impl FnMut(&[u8], &[u8], &mut Vec<u8>) -> Option<u64>,
    ) {
        while !input.is_empty() {
            if self.body > 0 {
                let n = input
                    .len()
                    .min(usize::try_from(self.body).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..n]);
                input = &input[n..];
                self.body -= n as u64;
                continue;
            }
            let need = HEADER - self.header.len().min(HEADER);
            if need > 0 {
                let n = need.min(input.len());
                self.header.extend_from_slice(&input[..n]);
                input = &input[n..];
                if self.header.len() < HEADER {
                    return;
                }
            }
            // The whole packet is wanted only for a config get; keep its body.
            let held = &self.header[HEADER..];
            match on_header(&self.header[..HEADER], held, out) {
                None => {
                    let body = body_len(&self.header);
                    let wanted = body as usize - held.len();
                    let n = wanted.min(input.len());
                    self.header.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if n < wanted {
                        return;
                    }
                    let packet = std::mem::take(&mut self.header);
                    on_header(&packet[..HEADER], &packet[HEADER..], out);
                }
                Some(body) => {
                    self.body = body;
                    self.header.clear();
                }
            }
        }
    }
}

/// Frames one client's binary requests.
#[derive(Default)]
pub(crate) struct BinaryRequests {
    packets: Packets,
}

impl BinaryRequests {
    /// As `TextRequests::finish`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.packets.finish(out);
    }

    /// As `TextRequests::feed`, for the binary protocol.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        fences: &mut Vec<Fence>,
    ) -> bool {
        let mut needs_node = false;
        self.packets.feed(input, out, |header, body, out| {
            let len = body_len(header);
            let config_get =
                header[1] == BINARY_CONFIG_GET && len == 7 && header[2..5] == [0, 7, 0];
            if config_get && (body.len() as u64) < len {
                return None;
            }
            if config_get && body == b"cluster" {
                let opaque = [header[12], header[13], header[14], header[15]];
                out.extend_from_slice(&[REQUEST_MAGIC, NOOP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                out.extend_from_slice(&opaque);
                out.extend_from_slice(&[0; 8]);
                fences.push(Fence::Config(ConfigReply::Binary { opaque }));
                return Some(0);
            }
            if header[1] == NOOP {
                fences.push(Fence::Client);
            }
            needs_node = true;
            out.extend_from_slice(header);
            out.extend_from_slice(body);
            Some(len - body.len() as u64)
        });
        needs_node
    }
}

/// Scans one node connection's binary responses.
#[derive(Default)]
pub(crate) struct BinaryReplies {
    packets: Packets,
}

impl BinaryReplies {
    /// As `TextReplies::finish`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.packets.finish(out);
    }

    /// As `TextReplies::feed`, for the binary protocol.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        fences: &Fences,
        cfg: &DiscoveryConfig,
    ) {
        self.packets.feed(input, out, |header, _, out| {
            let noop = header[0] == RESPONSE_MAGIC && header[1] == NOOP && body_len(header) == 0;
            match noop.then(|| fences.pop()).flatten() {
                Some(Fence::Config(reply)) => out.extend_from_slice(&reply.render(cfg)),
                _ => out.extend_from_slice(header),
            }
            Some(body_len(header))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(opcode: u8, key: &[u8], value: &[u8], opaque: u8) -> Vec<u8> {
        let body = (key.len() + value.len()) as u32;
        let mut p = vec![REQUEST_MAGIC, opcode, 0, key.len() as u8, 0, 0, 0, 0];
        p.extend_from_slice(&body.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, opaque]);
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(key);
        p.extend_from_slice(value);
        p
    }

    #[test]
    fn config_get_becomes_a_noop_at_any_split() {
        let get = request(0x00, b"k", b"", 1);
        let config = request(BINARY_CONFIG_GET, b"cluster", b"", 9);
        let other = request(BINARY_CONFIG_GET, b"other!!", b"", 2);
        let input = [&get[..], &config, &other, &request(NOOP, b"", b"", 3)].concat();
        for split in 1..input.len() {
            let mut f = BinaryRequests::default();
            let (mut out, mut fences) = (Vec::new(), Vec::new());
            for piece in input.chunks(split) {
                f.feed(piece, &mut out, &mut fences);
            }
            let noop9 = [&[REQUEST_MAGIC, NOOP][..], &[0; 10], &[0, 0, 0, 9], &[0; 8]].concat();
            let expected = [&get[..], &noop9, &other, &request(NOOP, b"", b"", 3)].concat();
            assert_eq!(out, expected, "split {split}");
            assert_eq!(
                fences,
                vec![
                    Fence::Config(ConfigReply::Binary {
                        opaque: [0, 0, 0, 9]
                    }),
                    Fence::Client
                ]
            );
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packets_other_than_config_get_pass_byte_for_byte(
            packets in proptest::collection::vec(
                (0u8..0x5f, proptest::collection::vec(any::<u8>(), 0..8), proptest::collection::vec(any::<u8>(), 0..300)),
                0..20,
            ),
            split in 1usize..100,
        ) {
            let input: Vec<u8> = packets.iter().map(|(op, k, v)| request(*op, k, v, 1)).collect::<Vec<_>>().concat();
            let mut f = BinaryRequests::default();
            let (mut out, mut fences) = (Vec::new(), Vec::new());
            for piece in input.chunks(split) {
                f.feed(piece, &mut out, &mut fences);
                // Only a header is ever held back.
                prop_assert!(f.packets.header.len() <= HEADER);
            }
            prop_assert_eq!(out, input);
        }

        #[test]
        fn a_huge_announced_body_is_streamed(body in 1u32..u32::MAX, data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut header = request(0x01, b"", b"", 0);
            header[8..12].copy_from_slice(&body.to_be_bytes());
            let mut f = BinaryRequests::default();
            let (mut out, mut fences) = (Vec::new(), Vec::new());
            f.feed(&header, &mut out, &mut fences);
            f.feed(&data, &mut out, &mut fences);
            let sent = header.len() + data.len().min(body as usize);
            prop_assert_eq!(out.len(), sent);
            prop_assert!(f.packets.header.capacity() <= 2 * HEADER);
        }
    }
}
