//! Names of S3 things the API takes: a bucket (CopySnapshot's TargetBucket) and an
//! object ARN (`arn:aws:s3:::bucket/key`, CreateCacheCluster's SnapshotArns). Only
//! the syntax is checked here; whether they exist is asked of S3 later.

use crate::Fault;

/// An object in a bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct S3Object {
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
}

/// Refuses a name S3 would not accept for a bucket: 3 to 63 lower-case letters,
/// digits, dots and hyphens, beginning and ending with a letter or digit.
pub fn check_bucket_name(param: &str, name: &str) -> Result<(), Fault> {
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&b| edge(b) || b == b'.' || b == b'-')
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Fault::InvalidParameterValue(format!(
            "The S3 bucket name {name:?} given as {param} is not valid: 3-63 lower-case letters, digits, dots and hyphens."
        )))
    }
}

impl S3Object {
    /// Parses `arn:aws:s3:::bucket/key` (InvalidParameterValue otherwise).
    pub fn from_arn(arn: &str) -> Result<S3Object, Fault> {
        let bad = |why: &str| {
            Fault::InvalidParameterValue(format!(
                "Invalid SnapshotArns value {arn:?}: {why} (expected arn:aws:s3:::bucket/key.rdb)."
            ))
        };
        let rest = arn
            .strip_prefix("arn:aws:s3:::")
            .ok_or_else(|| bad("not an S3 object ARN"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no object"))?;
        check_bucket_name("SnapshotArns", bucket)
            .map_err(|_| bad("the bucket name is not valid"))?;
        if key.is_empty() || key.len() > 1024 || key.chars().any(char::is_control) {
            return Err(bad("the object key is not valid"));
        }
        Ok(S3Object {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.backups", "0bucket9"] {
            assert!(check_bucket_name("TargetBucket", ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "sp ace",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name("TargetBucket", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_arns_name_a_bucket_and_a_key() {
        let o = S3Object::from_arn("arn:aws:s3:::backups/nightly/seed-0001.rdb").unwrap();
        assert_eq!(o.bucket, "backups");
        assert_eq!(o.key, "nightly/seed-0001.rdb");
        for bad in [
            "backups/seed.rdb",
            "arn:aws:s3:::backups",
            "arn:aws:s3:::backups/",
            "arn:aws:elasticache:us-east-1:0:snapshot:x",
            "arn:aws:s3:::B/seed.rdb",
        ] {
            let e = S3Object::from_arn(bad).unwrap_err();
            assert!(matches!(e, Fault::InvalidParameterValue(_)), "{bad}");
        }
    }
}
