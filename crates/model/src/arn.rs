//! ElastiCache ARNs and tags.

use serde::{Deserialize, Serialize};

use crate::Fault;

/// Resource kinds that can carry tags, with the word their ARNs use.
pub const ARN_RESOURCE_TYPES: &[&str] = &[
    "cluster",
    "replicationgroup",
    "parametergroup",
    "securitygroup",
    "subnetgroup",
    "snapshot",
    "reserved-instance",
    "user",
    "usergroup",
    "serverlesscache",
    "serverlesscachesnapshot",
];

/// Most tags one resource may carry.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// A parsed `arn:aws:elasticache:<region>:<account>:<type>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// The region part.
    pub region: String,
    /// The account part.
    pub account_id: String,
    /// One of [`ARN_RESOURCE_TYPES`].
    pub resource_type: String,
    /// The resource's id.
    pub name: String,
}

impl Arn {
    /// Builds the ARN string for a resource.
    pub fn format(region: &str, account_id: &str, resource_type: &str, name: &str) -> String {
        format!("arn:aws:elasticache:{region}:{account_id}:{resource_type}:{name}")
    }

    /// Parses an ARN, answering `InvalidARN` for anything that is not an ElastiCache ARN.
    pub fn parse(s: &str) -> Result<Arn, Fault> {
        let invalid = || Fault::InvalidArn(format!("{s} is not a valid ElastiCache ARN."));
        let parts: Vec<&str> = s.splitn(7, ':').collect();
        if parts.len() != 7 || parts[0] != "arn" || parts[2] != "elasticache" {
            return Err(invalid());
        }
        if !parts[1].starts_with("aws") || parts[3].is_empty() || parts[4].is_empty() {
            return Err(invalid());
        }
        if !ARN_RESOURCE_TYPES.contains(&parts[5]) || parts[6].is_empty() {
            return Err(invalid());
        }
        Ok(Arn {
            region: parts[3].to_string(),
            account_id: parts[4].to_string(),
            resource_type: parts[5].to_string(),
            name: parts[6].to_string(),
        })
    }
}

/// A key/value tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key, 1..=128 characters.
    pub key: String,
    /// Tag value, 0..=256 characters.
    pub value: String,
}

/// Checks one tag's syntax: a key of 1-128 characters not starting with `aws:`, a
/// value of at most 256. (The api checks every tag of a request with this.)
pub fn check_tag(t: &Tag) -> Result<(), Fault> {
    if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
        return Err(Fault::InvalidParameterValue(format!(
            "Tag key must be 1-128 characters and value at most 256: '{}'",
            t.key
        )));
    }
    if t.key.starts_with("aws:") {
        return Err(Fault::InvalidParameterValue(
            "Tag keys may not start with 'aws:'.".into(),
        ));
    }
    Ok(())
}

/// Merges `add` (tags `check_tag` accepted) into `tags`, the same key replacing, and
/// checks the per-resource limit.
pub fn merge_tags(tags: &mut Vec<Tag>, add: Vec<Tag>) -> Result<(), Fault> {
    for t in add {
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(existing) => existing.value = t.value,
            None => tags.push(t),
        }
    }
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(Fault::TagQuotaPerResourceExceeded(format!(
            "A resource can have at most {MAX_TAGS_PER_RESOURCE} tags."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Arn::format("us-east-1", "000000000000", "cluster", "demo");
        let a = Arn::parse(&s).unwrap();
        assert_eq!(a.name, "demo");
        assert_eq!(a.resource_type, "cluster");
    }

    #[test]
    fn rejects_other_services_and_types() {
        assert!(Arn::parse("arn:aws:s3:::bucket").is_err());
        assert!(Arn::parse("arn:aws:elasticache:us-east-1:1:table:x").is_err());
        assert!(Arn::parse("not-an-arn").is_err());
    }

    #[test]
    fn merge_replaces_and_limits() {
        let mut tags = vec![Tag {
            key: "a".into(),
            value: "1".into(),
        }];
        merge_tags(
            &mut tags,
            vec![Tag {
                key: "a".into(),
                value: "2".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            tags,
            vec![Tag {
                key: "a".into(),
                value: "2".into()
            }]
        );
        let many = (0..50).map(|i| Tag {
            key: format!("k{i}"),
            value: String::new(),
        });
        assert!(merge_tags(&mut tags, many.collect()).is_err());
    }
}
