//! Regression tests of the checks around the signature. Requests are signed here by
//! the documented algorithm (the canonical module, itself checked against AWS's
//! vectors); each test then changes one thing a replaying attacker or a confused
//! client would.

use chrono::{DateTime, Duration, Utc};
use http::HeaderMap;
use larder_model::Fault;

use super::canonical::{self, CanonicalInput, Scope};
use super::{verify_at, Credentials, SignedRequest};

const BODY: &[u8] = b"Action=DescribeCacheClusters&Version=2015-02-02";

fn creds() -> Credentials {
    Credentials {
        access_key_id: "larder".into(),
        secret_access_key: "larder".into(),
    }
}

/// How a test client signs.
struct Signer<'a> {
    region: &'a str,
    when: DateTime<Utc>,
    signed: &'a [&'a str],
    extra: &'a [(&'a str, &'a str)],
    payload_hash: Option<String>,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Signer {
            region: "us-east-1",
            when: Utc::now(),
            signed: &["content-type", "host", "x-amz-date"],
            extra: &[],
            payload_hash: None,
        }
    }
}

impl Signer<'_> {
    fn headers(&self, body: &[u8]) -> HeaderMap {
        let amz_date = self.when.format("%Y%m%dT%H%M%SZ").to_string();
        let date = self.when.format("%Y%m%d").to_string();
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8500".parse().unwrap());
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        h.insert("x-amz-date", amz_date.parse().unwrap());
        for (k, v) in self.extra {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let payload_hash = self
            .payload_hash
            .clone()
            .unwrap_or_else(|| canonical::sha256_hex(body));
        let creq = canonical::canonical_request(&CanonicalInput {
            method: "POST",
            raw_path: "/",
            query: "",
            headers: &h,
            signed_headers: self.signed,
            payload_hash: &payload_hash,
        });
        let scope = Scope {
            date: &date,
            region: self.region,
            service: "elasticache",
        };
        let sig = canonical::signature("larder", &scope, &amz_date, &creq);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=larder/{date}/{}/elasticache/aws4_request, SignedHeaders={}, Signature={sig}",
            self.region,
            self.signed.join(";")
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }
}

fn check(headers: &HeaderMap, body: &[u8]) -> Result<(), Fault> {
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body,
    };
    verify_at(&req, &creds(), "us-east-1", Utc::now())
}

fn refused_as(r: Result<(), Fault>, code: &str) {
    let Err(f) = r else {
        panic!("accepted, expected {code}")
    };
    assert_eq!(crate::faults::wire(&f).0, code, "{f}");
}

#[test]
fn a_correct_signature_is_accepted() {
    check(&Signer::default().headers(BODY), BODY).unwrap();
}

#[test]
fn another_body_under_the_same_signature_is_refused() {
    let h = Signer::default().headers(BODY);
    refused_as(
        check(&h, b"Action=DeleteCacheCluster"),
        "SignatureDoesNotMatch",
    );
}

#[test]
fn a_content_sha256_header_cannot_stand_in_for_the_body() {
    // The client signed the header and its hash of the original body; an attacker
    // replays both with another body. Only our own hash of the body counts.
    let hash = canonical::sha256_hex(BODY);
    let h = Signer {
        signed: &["content-type", "host", "x-amz-content-sha256", "x-amz-date"],
        extra: &[("x-amz-content-sha256", &hash)],
        ..Signer::default()
    }
    .headers(BODY);
    check(&h, BODY).unwrap();
    refused_as(
        check(&h, b"Action=DeleteCacheCluster&CacheClusterId=prod"),
        "SignatureDoesNotMatch",
    );
}

#[test]
fn unsigned_payload_is_refused() {
    for claimed in ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"] {
        let h = Signer {
            extra: &[("x-amz-content-sha256", claimed)],
            payload_hash: Some(claimed.to_string()),
            ..Signer::default()
        }
        .headers(BODY);
        refused_as(check(&h, BODY), "SignatureDoesNotMatch");
        let h = Signer {
            extra: &[("x-amz-content-sha256", claimed)],
            ..Signer::default()
        }
        .headers(BODY);
        refused_as(check(&h, BODY), "SignatureDoesNotMatch");
    }
}

#[test]
fn another_region_is_refused() {
    let h = Signer {
        region: "eu-west-1",
        ..Signer::default()
    }
    .headers(BODY);
    refused_as(check(&h, BODY), "SignatureDoesNotMatch");
}

#[test]
fn skew_is_measured_in_seconds() {
    let at = |d: Duration| {
        Signer {
            when: Utc::now() - d,
            ..Signer::default()
        }
        .headers(BODY)
    };
    let limit = Duration::minutes(15);
    refused_as(
        check(&at(limit + Duration::seconds(59)), BODY),
        "SignatureDoesNotMatch",
    );
    refused_as(
        check(&at(-(limit + Duration::seconds(59))), BODY),
        "SignatureDoesNotMatch",
    );
    check(&at(limit - Duration::seconds(30)), BODY).unwrap();
}

#[test]
fn host_must_be_signed() {
    let h = Signer {
        signed: &["content-type", "x-amz-date"],
        ..Signer::default()
    }
    .headers(BODY);
    refused_as(check(&h, BODY), "IncompleteSignature");
}

#[test]
fn other_keys_and_missing_tokens_get_their_own_codes() {
    let mut h = Signer::default().headers(BODY);
    let auth = h["authorization"]
        .to_str()
        .unwrap()
        .replace("larder/", "other/");
    h.insert("authorization", auth.parse().unwrap());
    refused_as(check(&h, BODY), "InvalidClientTokenId");
    refused_as(check(&HeaderMap::new(), BODY), "MissingAuthenticationToken");
}
