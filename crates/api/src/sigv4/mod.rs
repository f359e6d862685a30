//! Verifies AWS Signature Version 4 on incoming requests: we rebuild the canonical
//! request from what arrived, hash the body ourselves, sign with the configured
//! secret and compare. The checks around the signature (scope, time, signed headers,
//! payload hash) follow what AWS answers for each mistake.

mod authorization;
pub mod canonical;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::HeaderMap;
use larder_model::Fault;

use canonical::{CanonicalInput, Scope};

/// The one key pair the daemon accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// The signing name of the service; a credential scoped to another is refused.
pub const SERVICE: &str = "elasticache";

/// How far a request's `X-Amz-Date` may be from our clock, as on AWS.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as sent.
    pub path: &'a str,
    /// Raw query string (may be empty).
    pub query: &'a str,
    /// Headers as received.
    pub headers: &'a HeaderMap,
    /// Body bytes.
    pub body: &'a [u8],
}

fn mismatch(why: impl Into<String>) -> Fault {
    Fault::SignatureDoesNotMatch(why.into())
}

/// The request time, within the allowed skew of `now`.
fn request_time(amz_date: &str, now: DateTime<Utc>) -> Result<(), Fault> {
    let when = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            Fault::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
            ))
        })?
        .and_utc();
    // Whole seconds: 15 min 59 s is past a 15-minute limit.
    let skew = (now - when).num_seconds();
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let limit = chrono::Duration::seconds(MAX_SKEW_SECONDS);
    if skew > MAX_SKEW_SECONDS {
        return Err(mismatch(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            fmt(now - limit),
            fmt(now)
        )));
    }
    if skew < -MAX_SKEW_SECONDS {
        return Err(mismatch(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            fmt(now + limit),
            fmt(now)
        )));
    }
    Ok(())
}

/// The hash the signature must cover: always our own hash of the body. A client's
/// `x-amz-content-sha256` may only confirm it, never replace it, so a captured
/// signature cannot be replayed with another body.
fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<String, Fault> {
    let hash = canonical::sha256_hex(body);
    let Some(claimed) = headers.get("x-amz-content-sha256") else {
        return Ok(hash);
    };
    let claimed = String::from_utf8_lossy(claimed.as_bytes());
    if claimed.starts_with("UNSIGNED-PAYLOAD") || claimed.starts_with("STREAMING-") {
        return Err(mismatch(format!(
            "x-amz-content-sha256 '{claimed}' is not accepted by this service; sign the request body."
        )));
    }
    if claimed != hash {
        return Err(mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    Ok(hash)
}

/// Checks the request's signature against our clock.
pub fn verify(req: &SignedRequest<'_>, creds: &Credentials, region: &str) -> Result<(), Fault> {
    verify_at(req, creds, region, Utc::now())
}

/// Checks the request's signature; `Ok` means it was signed with our secret, for our
/// region and service, within 15 minutes of `now`, over this very body.
pub fn verify_at(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    region: &str,
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(auth_value) = header("authorization") else {
        return Err(Fault::MissingAuthenticationToken(
            "Request is missing Authentication Token".into(),
        ));
    };
    let auth = authorization::parse(auth_value)?;
    if auth.access_key_id != creds.access_key_id {
        return Err(Fault::InvalidClientTokenId(
            "The security token included in the request is invalid.".into(),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        Fault::IncompleteSignature(
            "Authorization header requires existence of a 'X-Amz-Date' header.".into(),
        )
    })?;
    request_time(amz_date, now)?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(mismatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'.",
            auth.date,
            &amz_date[..amz_date.len().min(8)]
        )));
    }
    if auth.region != region {
        return Err(mismatch(format!(
            "Credential should be scoped to a valid region, not '{}'; this endpoint serves '{region}'.",
            auth.region
        )));
    }
    if auth.service != SERVICE {
        return Err(mismatch(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(Fault::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let payload_hash = payload_hash(req.headers, req.body)?;
    let canonical = canonical::canonical_request(&CanonicalInput {
        method: req.method,
        raw_path: req.path,
        query: req.query,
        headers: req.headers,
        signed_headers: &auth.signed_headers,
        payload_hash: &payload_hash,
    });
    let scope = Scope {
        date: auth.date,
        region: auth.region,
        service: auth.service,
    };
    let expected = canonical::signature(&creds.secret_access_key, &scope, amz_date, &canonical);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(mismatch(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
