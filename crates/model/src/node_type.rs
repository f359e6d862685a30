//! The catalogue of cache node types and the memory each one gives a node.

/// A node type with the memory ElastiCache gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeType {
    /// API name, e.g. `cache.r7g.large`.
    pub name: &'static str,
    /// Memory of the instance in GiB, as ElastiCache publishes it.
    pub memory_gib: f64,
}

/// Share of memory ElastiCache keeps back for overhead (`reserved-memory-percent`).
pub const DEFAULT_RESERVED_MEMORY_PERCENT: u64 = 25;

const fn t(name: &'static str, memory_gib: f64) -> NodeType {
    NodeType { name, memory_gib }
}

/// Current-generation node types, smallest to largest within each family.
pub const NODE_TYPES: &[NodeType] = &[
    t("cache.t4g.micro", 0.5),
    t("cache.t4g.small", 1.37),
    t("cache.t4g.medium", 3.09),
    t("cache.t3.micro", 0.5),
    t("cache.t3.small", 1.37),
    t("cache.t3.medium", 3.09),
    t("cache.m5.large", 6.38),
    t("cache.m5.xlarge", 12.93),
    t("cache.m5.2xlarge", 26.04),
    t("cache.m5.4xlarge", 52.26),
    t("cache.m5.12xlarge", 157.12),
    t("cache.m5.24xlarge", 314.32),
    t("cache.m6g.large", 6.38),
    t("cache.m6g.xlarge", 12.93),
    t("cache.m6g.2xlarge", 26.04),
    t("cache.m6g.4xlarge", 52.26),
    t("cache.m6g.8xlarge", 103.68),
    t("cache.m6g.12xlarge", 157.12),
    t("cache.m6g.16xlarge", 209.55),
    t("cache.m7g.large", 6.38),
    t("cache.m7g.xlarge", 12.93),
    t("cache.m7g.2xlarge", 26.04),
    t("cache.m7g.4xlarge", 52.26),
    t("cache.m7g.8xlarge", 103.68),
    t("cache.m7g.12xlarge", 157.12),
    t("cache.m7g.16xlarge", 209.55),
    t("cache.r5.large", 13.07),
    t("cache.r5.xlarge", 26.32),
    t("cache.r5.2xlarge", 52.82),
    t("cache.r5.4xlarge", 105.81),
    t("cache.r5.12xlarge", 317.77),
    t("cache.r5.24xlarge", 635.61),
    t("cache.r6g.large", 13.07),
    t("cache.r6g.xlarge", 26.32),
    t("cache.r6g.2xlarge", 52.82),
    t("cache.r6g.4xlarge", 105.81),
    t("cache.r6g.8xlarge", 209.55),
    t("cache.r6g.12xlarge", 317.77),
    t("cache.r6g.16xlarge", 419.09),
    t("cache.r7g.large", 13.07),
    t("cache.r7g.xlarge", 26.32),
    t("cache.r7g.2xlarge", 52.82),
    t("cache.r7g.4xlarge", 105.81),
    t("cache.r7g.8xlarge", 209.55),
    t("cache.r7g.12xlarge", 317.77),
    t("cache.r7g.16xlarge", 419.09),
];

impl NodeType {
    /// Looks a node type up by its API name.
    pub fn find(name: &str) -> Option<NodeType> {
        NODE_TYPES.iter().copied().find(|n| n.name == name)
    }

    /// The instance memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        (self.memory_gib * 1024.0 * 1024.0 * 1024.0).round() as u64
    }

    /// The engine's memory limit: instance memory less the reserved share.
    pub fn maxmemory_bytes(&self, reserved_percent: u64) -> u64 {
        (self.memory_bytes() as u128 * (100 - reserved_percent.min(100)) as u128 / 100) as u64
    }

    /// Node types a cluster of this type can move to, split into (scale up, scale down).
    /// Like ElastiCache we offer every current type with more memory as a scale-up and
    /// every type with less as a scale-down.
    pub fn allowed_modifications(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let up = NODE_TYPES
            .iter()
            .filter(|n| n.memory_gib > self.memory_gib)
            .map(|n| n.name)
            .collect();
        let down = NODE_TYPES
            .iter()
            .filter(|n| n.memory_gib < self.memory_gib)
            .map(|n| n.name)
            .collect();
        (up, down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_maxmemory_is_three_quarters_of_half_a_gib() {
        let micro = NodeType::find("cache.t4g.micro").unwrap();
        assert_eq!(micro.maxmemory_bytes(25), 402_653_184);
    }

    #[test]
    fn unknown_type_is_none() {
        assert!(NodeType::find("cache.x1.huge").is_none());
    }

    #[test]
    fn modifications_split_by_memory() {
        let large = NodeType::find("cache.r7g.large").unwrap();
        let (up, down) = large.allowed_modifications();
        assert!(up.contains(&"cache.r7g.xlarge"));
        assert!(!up.contains(&"cache.m7g.large"));
        assert!(down.contains(&"cache.t4g.micro"));
        assert!(!down.contains(&"cache.r6g.large"));
    }
}
