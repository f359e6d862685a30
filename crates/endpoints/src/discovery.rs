//! The auto discovery document, byte for byte as ElastiCache serves it.

use serde::{Deserialize, Serialize};

/// One cache node as listed by auto discovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryNode {
    /// DNS name of the node.
    pub host: String,
    /// IP address of the node; clients prefer it over `host`.
    pub ip: String,
    /// Port of the node.
    pub port: u16,
}

/// The cluster membership clients discover; `version` grows with every change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryConfig {
    /// Config version; clients re-read the node list when it changes.
    pub version: u64,
    /// Current nodes, in the order clients will hash over them.
    pub nodes: Vec<DiscoveryNode>,
}

/// The data block: `<version>\n<host>|<ip>|<port> <host>|<ip>|<port>\n`.
pub fn discovery_payload(cfg: &DiscoveryConfig) -> Vec<u8> {
    let nodes: Vec<String> = cfg
        .nodes
        .iter()
        .map(|n| format!("{}|{}|{}", n.host, n.ip, n.port))
        .collect();
    format!("{}\n{}\n", cfg.version, nodes.join(" ")).into_bytes()
}

/// The full `config get cluster` reply: header, payload, blank line, `END`.
pub fn config_get_cluster_reply(cfg: &DiscoveryConfig) -> Vec<u8> {
    let payload = discovery_payload(cfg);
    let mut out = format!("CONFIG cluster 0 {}\r\n", payload.len()).into_bytes();
    out.extend_from_slice(&payload);
    out.extend_from_slice(b"\r\nEND\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16) -> DiscoveryNode {
        DiscoveryNode {
            host: host.into(),
            ip: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn reply_is_byte_exact() {
        let cfg = DiscoveryConfig {
            version: 12,
            nodes: vec![node("a", 11211), node("b", 11212)],
        };
        let payload = discovery_payload(&cfg);
        assert_eq!(payload, b"12\na|127.0.0.1|11211 b|127.0.0.1|11212\n");
        // "12\n" is 3 bytes, each node 17, one separating space, final newline.
        assert_eq!(payload.len(), 3 + 17 + 1 + 17 + 1);
        assert_eq!(
            config_get_cluster_reply(&cfg),
            b"CONFIG cluster 0 39\r\n12\na|127.0.0.1|11211 b|127.0.0.1|11212\n\r\nEND\r\n"
        );
    }

    #[test]
    fn empty_cluster_still_has_both_lines() {
        let cfg = DiscoveryConfig::default();
        assert_eq!(discovery_payload(&cfg), b"0\n\n");
        assert_eq!(
            config_get_cluster_reply(&cfg),
            b"CONFIG cluster 0 3\r\n0\n\n\r\nEND\r\n"
        );
    }

    #[test]
    fn single_node_has_no_trailing_space() {
        let cfg = DiscoveryConfig {
            version: 1,
            nodes: vec![node("mc.example.com", 11211)],
        };
        assert_eq!(
            discovery_payload(&cfg),
            b"1\nmc.example.com|127.0.0.1|11211\n"
        );
    }
}
