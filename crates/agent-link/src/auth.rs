//! Request signing between the control plane and an agent.
//!
//! Both sides hold the installation's agent secret (a file with mode 0600). Every
//! request carries its time, a fresh nonce and an HMAC-SHA256 over method, path,
//! time, nonce and the SHA-256 of the body, so the secret never travels, a request
//! cannot be altered (body included), and one seen before is refused: the agent
//! remembers nonces for as long as it accepts a request's time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Header with the request's time, seconds since the Unix epoch.
pub const DATE_HEADER: &str = "x-larder-date";
/// Header with the request's nonce.
pub const NONCE_HEADER: &str = "x-larder-nonce";
/// Header with the hex HMAC.
pub const SIGNATURE_HEADER: &str = "x-larder-signature";
/// How far a request's time may be from the agent's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(60);
/// Most nonces remembered at once; beyond it requests are refused until some expire,
/// so a flood cannot grow the agent's memory.
const MAX_NONCES: usize = 200_000;

/// The shared secret of an installation's agents and control plane.
#[derive(Clone)]
pub struct LinkSecret(Vec<u8>);

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

impl LinkSecret {
    /// A secret from its text (the file's content).
    pub fn new(text: &str) -> LinkSecret {
        LinkSecret(text.trim().as_bytes().to_vec())
    }

    /// Reads the secret at `path`, creating it (mode 0600, 256 random bits) if absent.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<LinkSecret> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let secret = larder_agent::AdminSecret::load_or_create(path)?;
        Ok(LinkSecret::new(secret.expose()))
    }

    fn mac(&self, parts: &SignedParts<'_>) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        let body = hex::encode(Sha256::digest(parts.body));
        let text = format!(
            "larder-agent-v1\n{}\n{}\n{}\n{}\n{body}",
            parts.method, parts.path, parts.date, parts.nonce
        );
        mac.update(text.as_bytes());
        mac
    }

    /// The signature of a request.
    pub fn sign(&self, parts: &SignedParts<'_>) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    /// Whether `signature` is this secret's for the request (constant time).
    fn verify(&self, parts: &SignedParts<'_>, signature: &str) -> bool {
        let Ok(raw) = hex::decode(signature) else {
            return false;
        };
        self.mac(parts).verify_slice(&raw).is_ok()
    }
}

/// What a signature covers.
pub struct SignedParts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Seconds since the epoch, as sent.
    pub date: &'a str,
    /// The nonce, as sent.
    pub nonce: &'a str,
    /// The whole body.
    pub body: &'a [u8],
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header is missing or malformed.
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    /// The request's time is too far from the agent's.
    #[error("request time is more than {}s from the agent's clock", MAX_SKEW.as_secs())]
    Skew,
    /// The signature does not match.
    #[error("signature does not match")]
    Signature,
    /// The nonce was used before.
    #[error("request replayed")]
    Replay,
    /// Too many requests in the acceptance window.
    #[error("too many requests")]
    Busy,
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The agent's side: checks signatures and remembers nonces.
#[derive(Debug)]
pub struct Verifier {
    secret: LinkSecret,
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    /// A verifier for `secret`.
    pub fn new(secret: LinkSecret) -> Verifier {
        Verifier {
            secret,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks one request; `now` is the agent's clock in seconds.
    pub fn check(
        &self,
        parts: &SignedParts<'_>,
        signature: &str,
        now: u64,
    ) -> Result<(), AuthError> {
        let date: u64 = parts
            .date
            .parse()
            .map_err(|_| AuthError::Malformed(DATE_HEADER))?;
        if parts.nonce.len() < 16 || parts.nonce.len() > 64 {
            return Err(AuthError::Malformed(NONCE_HEADER));
        }
        if date.abs_diff(now) > MAX_SKEW.as_secs() {
            return Err(AuthError::Skew);
        }
        if !self.secret.verify(parts, signature) {
            return Err(AuthError::Signature);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now.saturating_sub(MAX_SKEW.as_secs());
        if seen.len() >= MAX_NONCES / 2 {
            seen.retain(|_, &mut t| t + MAX_SKEW.as_secs() >= horizon);
        }
        if seen.contains_key(parts.nonce) {
            return Err(AuthError::Replay);
        }
        if seen.len() >= MAX_NONCES {
            return Err(AuthError::Busy);
        }
        seen.insert(parts.nonce.to_string(), date);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(date: &'a str, nonce: &'a str, body: &'a [u8]) -> SignedParts<'a> {
        SignedParts {
            method: "POST",
            path: "/v1/call",
            date,
            nonce,
            body,
        }
    }

    #[test]
    fn a_signed_request_passes_once_and_any_change_fails() {
        let secret = LinkSecret::new("s3cret-s3cret-s3cret-s3cret-s3cret");
        let v = Verifier::new(secret.clone());
        let now = 1_800_000_000u64;
        let date = now.to_string();
        let nonce = "0123456789abcdef0123";
        let sig = secret.sign(&parts(&date, nonce, b"{\"Ping\":1}"));
        assert_eq!(
            v.check(&parts(&date, nonce, b"{\"Ping\":2}"), &sig, now),
            Err(AuthError::Signature)
        );
        assert_eq!(
            v.check(&parts(&date, nonce, b"{\"Ping\":1}"), &sig, now),
            Ok(())
        );
        assert_eq!(
            v.check(&parts(&date, nonce, b"{\"Ping\":1}"), &sig, now),
            Err(AuthError::Replay)
        );
        let other = LinkSecret::new("another-secret-another-secret-xx");
        let n2 = "fedcba9876543210fedc";
        let forged = other.sign(&parts(&date, n2, b"x"));
        assert_eq!(
            v.check(&parts(&date, n2, b"x"), &forged, now),
            Err(AuthError::Signature)
        );
        let old = (now - 61).to_string();
        let sig = secret.sign(&parts(&old, n2, b"x"));
        assert_eq!(
            v.check(&parts(&old, n2, b"x"), &sig, now),
            Err(AuthError::Skew)
        );
        assert_eq!(
            v.check(&parts(&date, "short", b"x"), "00", now),
            Err(AuthError::Malformed(NONCE_HEADER))
        );
    }
}
