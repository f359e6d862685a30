//! The canonical request and the signature over it, as the SigV4 specification and
//! the AWS SDKs build them for services other than S3. Pure functions: the verifier
//! and the AWS test-suite vectors both call them.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The hex SHA-256 of some bytes, as SigV4 writes hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the rest is %XX.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query string with every name and value decoded the way the API decodes them
/// (form rules, so `+` is a space), then encoded and sorted. Decoding as the
/// parameter parser does keeps the signature bound to the values the API acts on.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 dot-segment removal plus the collapse of empty segments AWS services do.
fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing = if path.ends_with('/') && !out.is_empty() {
        "/"
    } else {
        ""
    };
    format!("/{}{trailing}", out.join("/"))
}

/// The path as the SDKs sign it for every service but S3: the path as sent (already
/// percent-encoded once by the client), normalized, then encoded once more.
pub fn canonical_path(raw_path: &str) -> String {
    uri_encode(&normalize_path(raw_path), true)
}

/// `name:value\n` for each signed header: values of repeated headers joined by
/// commas in arrival order, each trimmed with inner runs of spaces collapsed.
pub fn canonical_headers(headers: &HeaderMap, signed_headers: &[&str]) -> String {
    let mut out = String::new();
    for name in signed_headers {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    out
}

/// What the signature covers, apart from the credential scope and the time.
pub struct CanonicalInput<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as sent.
    pub raw_path: &'a str,
    /// Raw query string (may be empty).
    pub query: &'a str,
    /// Headers as received.
    pub headers: &'a HeaderMap,
    /// The header names the client listed in `SignedHeaders`, in its order.
    pub signed_headers: &'a [&'a str],
    /// Hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// The canonical request, line by line as the specification orders it.
pub fn canonical_request(input: &CanonicalInput<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        canonical_path(input.raw_path),
        canonical_query(input.query),
        canonical_headers(input.headers, input.signed_headers),
        input.signed_headers.join(";"),
        input.payload_hash
    )
}

/// The credential scope: `date/region/service/aws4_request`.
pub struct Scope<'a> {
    /// `YYYYMMDD`.
    pub date: &'a str,
    /// Region name.
    pub region: &'a str,
    /// Signing name of the service.
    pub service: &'a str,
}

/// The hex signature over a canonical request for a secret, a scope and the request's
/// `X-Amz-Date`.
pub fn signature(secret: &str, scope: &Scope<'_>, amz_date: &str, canonical: &str) -> String {
    let scope_text = format!(
        "{}/{}/{}/aws4_request",
        scope.date, scope.region, scope.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope_text}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_sorted_and_encoded() {
        assert_eq!(canonical_query("b=2&a=x y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_query("a=x+y"), canonical_query("a=x%20y"));
        assert_eq!(canonical_query("Flag"), "Flag=");
    }

    #[test]
    fn path_is_normalized_then_encoded_once_more() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("//a//b/./../c/"), "/a/c/");
        assert_eq!(canonical_path("/a%3Db@c"), "/a%253Db%40c");
    }
}
