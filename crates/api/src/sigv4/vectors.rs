//! Runs the AWS SigV4 test-suite vectors in `tests/sigv4-vectors` (see its README for
//! their origin and which ones apply) through our canonicalization and signing.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::authorization;
use super::canonical::{self, CanonicalInput, Scope};

/// The suite's secret for `AKIDEXAMPLE`.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Vector {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-vectors")
}

/// Reads `header-signed-request.txt`: request line, `Name:value` lines, a blank
/// line, the body.
fn read_request(case: &Path) -> Vector {
    let text = std::fs::read_to_string(case.join("header-signed-request.txt")).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let target = request_line.next().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    Vector {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

#[test]
fn aws_test_suite_vectors() {
    let mut checked = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let v = read_request(&case);
        let expected_canonical =
            std::fs::read_to_string(case.join("header-canonical-request.txt")).unwrap();
        let Ok(expected_signature) = std::fs::read_to_string(case.join("header-signature.txt"))
        else {
            // The two double-encoding cases: their canonical request carries another
            // date than their request, so only the path line is comparable.
            let line = expected_canonical.lines().nth(1).unwrap();
            assert_eq!(canonical::canonical_path(&v.path), line, "{name}");
            checked += 1;
            continue;
        };
        let auth_value = v.headers["authorization"].to_str().unwrap().to_string();
        let auth = authorization::parse(&auth_value).unwrap();
        let amz_date = v.headers["x-amz-date"].to_str().unwrap();
        let creq = canonical::canonical_request(&CanonicalInput {
            method: &v.method,
            raw_path: &v.path,
            query: &v.query,
            headers: &v.headers,
            signed_headers: &auth.signed_headers,
            payload_hash: &canonical::sha256_hex(&v.body),
        });
        assert_eq!(creq, expected_canonical, "{name}: canonical request");
        let scope = Scope {
            date: auth.date,
            region: auth.region,
            service: auth.service,
        };
        let sig = canonical::signature(SECRET, &scope, amz_date, &creq);
        assert_eq!(sig, expected_signature.trim(), "{name}: signature");
        assert_eq!(sig, auth.signature, "{name}: signature in the request");
        checked += 1;
    }
    assert_eq!(checked, 27, "every vector in the directory ran");
}
