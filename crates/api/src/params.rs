//! Query API parameters: the flat `Name=value` pairs of a form body or query string,
//! with the list encodings the AWS SDKs use (`Tags.Tag.1.Key`,
//! `CacheNodeIdsToRemove.CacheNodeId.1`, `TagKeys.member.1`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use larder_model::{Fault, Tag};

/// The decoded parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` bytes. Later duplicates win.
    pub fn parse(raw: &[u8]) -> Params {
        Params {
            map: form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// Every parameter name of the request, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// The raw value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Whether any parameter with this name or starting with `name.` is present.
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name) || self.map.keys().any(|k| k.starts_with(&format!("{name}.")))
    }

    /// A string; empty counts as absent, as on the service.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// A required string.
    pub fn required(&self, name: &str) -> Result<String, Fault> {
        self.string(name).ok_or_else(|| Fault::missing(name))
    }

    /// An integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Fault> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Fault::invalid(name, v, "must be an integer")),
        }
    }

    /// A boolean (`true`/`false`, any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Fault> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(Fault::invalid(name, v, "must be true or false")),
        }
    }

    /// An ISO 8601 timestamp.
    pub fn timestamp(&self, name: &str) -> Result<Option<DateTime<Utc>>, Fault> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
                        .map(|t| Some(t.and_utc()))
                })
                .map_err(|_| Fault::invalid(name, v, "must be an ISO 8601 timestamp")),
        }
    }

    /// A list sent as `Name.Member.N` (or `Name.member.N`), in N order.
    pub fn list(&self, name: &str, member: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = Vec::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((m, idx)) = rest.split_once('.') else {
                continue;
            };
            if (m == member || m == "member") && !idx.contains('.') {
                if let Ok(n) = idx.parse() {
                    items.push((n, v.clone()));
                }
            }
        }
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Tags sent as `Tags.Tag.N.Key` / `Tags.Tag.N.Value`.
    pub fn tags(&self, name: &str) -> Vec<Tag> {
        let keys = self.list_field(name, "Tag", "Key");
        let values = self.list_field(name, "Tag", "Value");
        keys.into_iter()
            .map(|(n, key)| {
                let value = values
                    .iter()
                    .find(|(m, _)| *m == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                Tag { key, value }
            })
            .collect()
    }

    /// One field of a structure list sent as `Name.Member.N.Field`, as (N, value) in
    /// N order.
    pub fn list_field(&self, name: &str, member: &str, field: &str) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(name)?.strip_prefix('.')?;
                let (m, rest) = rest.split_once('.')?;
                let (idx, f) = rest.split_once('.')?;
                ((m == member || m == "member") && f == field)
                    .then(|| Some((idx.parse().ok()?, v.clone())))?
            })
            .collect();
        out.sort_by_key(|(n, _)| *n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_follow_index_order_and_location_names() {
        let p = Params::parse(
            b"CacheNodeIdsToRemove.CacheNodeId.2=0004&CacheNodeIdsToRemove.CacheNodeId.1=0002&TagKeys.member.1=a&CacheNodeIdsToRemove.CacheNodeId.10=0010",
        );
        assert_eq!(
            p.list("CacheNodeIdsToRemove", "CacheNodeId"),
            ["0002", "0004", "0010"]
        );
        assert_eq!(p.list("TagKeys", "TagKey"), ["a"]);
        assert!(p.list("SecurityGroupIds", "SecurityGroupId").is_empty());
    }

    #[test]
    fn tags_pair_keys_and_values() {
        let p = Params::parse(b"Tags.Tag.1.Key=team&Tags.Tag.1.Value=cache&Tags.Tag.2.Key=empty");
        let t = p.tags("Tags");
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0],
            Tag {
                key: "team".into(),
                value: "cache".into()
            }
        );
        assert_eq!(t[1].value, "");
    }

    #[test]
    fn typed_values_are_checked() {
        let p = Params::parse(b"NumCacheNodes=three&ApplyImmediately=yes&MaxRecords=20&Flag=TRUE");
        assert!(p.int("NumCacheNodes").is_err());
        assert!(p.bool("ApplyImmediately").is_err());
        assert_eq!(p.int("MaxRecords").unwrap(), Some(20));
        assert_eq!(p.bool("Flag").unwrap(), Some(true));
        assert!(p.required("Missing").is_err());
    }

    #[test]
    fn timestamps_parse_with_and_without_zone() {
        let p = Params::parse(b"A=2026-11-24T10:00:00Z&B=2026-11-24T10:00:00&C=yesterday");
        assert!(p.timestamp("A").unwrap().is_some());
        assert!(p.timestamp("B").unwrap().is_some());
        assert!(p.timestamp("C").is_err());
    }
}
