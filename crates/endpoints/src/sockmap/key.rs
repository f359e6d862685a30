//! How the splice programs name a socket: by its own four-tuple, as the socket sees it.

use std::net::{SocketAddr, SocketAddrV4};

/// Sixteen bytes, laid out exactly as the programs store the context fields: the local
/// and remote IPv4 addresses in network order, the local port as a host-order word and
/// the remote port as the kernel exposes it (network order, in the upper half of the
/// word on little-endian machines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketKey(pub [u8; 16]);

impl SocketKey {
    /// The key of the socket whose own address is `local` and whose peer is `remote`.
    pub fn of(local: SocketAddrV4, remote: SocketAddrV4) -> SocketKey {
        let mut k = [0u8; 16];
        k[0..4].copy_from_slice(&local.ip().octets());
        k[4..8].copy_from_slice(&remote.ip().octets());
        k[8..12].copy_from_slice(&u32::from(local.port()).to_ne_bytes());
        k[12..16].copy_from_slice(&(u32::from(remote.port().to_be()) << 16).to_ne_bytes());
        SocketKey(k)
    }

    /// `of` for addresses that may not be IPv4; the splice handles IPv4 only.
    pub fn of_any(local: SocketAddr, remote: SocketAddr) -> Option<SocketKey> {
        match (local, remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(SocketKey::of(l, r)),
            _ => None,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> SocketKey {
        let mut k = [0u8; 16];
        k.copy_from_slice(bytes);
        SocketKey(k)
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn remote_port_sits_in_network_order_in_the_upper_half() {
        let k = SocketKey::of(
            "127.0.0.1:6379".parse().unwrap(),
            "10.1.2.3:4660".parse().unwrap(),
        );
        assert_eq!(&k.0[0..4], &[127, 0, 0, 1]);
        assert_eq!(&k.0[4..8], &[10, 1, 2, 3]);
        assert_eq!(u32::from_ne_bytes(k.0[8..12].try_into().unwrap()), 6379);
        // 4660 = 0x1234: the bytes 0x12 0x34 follow two zero bytes.
        assert_eq!(&k.0[12..16], &[0, 0, 0x12, 0x34]);
    }
}
