//! Identifier rules shared by cache clusters and replication groups.

use crate::Fault;

/// Longest CacheClusterId the service accepts.
pub const CACHE_CLUSTER_ID_MAX: usize = 50;
/// Longest ReplicationGroupId the service accepts.
pub const REPLICATION_GROUP_ID_MAX: usize = 40;

/// Checks an identifier against ElastiCache's rules and returns it lower-cased, as the
/// service stores it: 1..=max characters, ASCII letters, digits and hyphens, starting
/// with a letter, with no `--` and no trailing hyphen.
pub fn normalize_identifier(param: &str, value: &str, max: usize) -> Result<String, Fault> {
    let bad = |why: &str| Fault::InvalidParameterValue(format!("Invalid {param} '{value}': {why}"));
    if value.is_empty() {
        return Err(Fault::missing(param));
    }
    if value.len() > max {
        return Err(bad(&format!("must contain from 1 to {max} characters")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(bad("only ASCII letters, digits and hyphens are allowed"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad("the first character must be a letter"));
    }
    if value.ends_with('-') || value.contains("--") {
        return Err(bad(
            "it cannot end with a hyphen or contain two consecutive hyphens",
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Formats a node id the way ElastiCache numbers nodes: 0001, 0002, ...
pub fn cache_node_id(n: u32) -> String {
    format!("{n:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> bool {
        normalize_identifier("CacheClusterId", v, CACHE_CLUSTER_ID_MAX).is_ok()
    }

    #[test]
    fn accepts_and_lowers() {
        assert_eq!(
            normalize_identifier("CacheClusterId", "My-Cache1", 50).unwrap(),
            "my-cache1"
        );
    }

    #[test]
    fn rejects_each_rule() {
        assert!(!ok("1abc"));
        assert!(!ok("-abc"));
        assert!(!ok("ab--c"));
        assert!(!ok("abc-"));
        assert!(!ok("ab_c"));
        assert!(!ok(&"a".repeat(51)));
        assert!(ok(&"a".repeat(50)));
        assert!(!ok(""));
    }

    #[test]
    fn node_ids_are_four_digits() {
        assert_eq!(cache_node_id(1), "0001");
        assert_eq!(cache_node_id(40), "0040");
    }
}
