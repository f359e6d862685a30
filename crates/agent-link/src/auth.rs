//! Request signing between the control plane and an agent.
//!
//! Both sides hold the installation's agent secret (a file with mode 0600). Every
//! request carries its time, a fresh nonce and an HMAC-SHA256 over method, path,
//! time, nonce and the SHA-256 of the body, so the secret never travels, a request
//! cannot be altered (body included), and one seen before is refused: the agent
//! remembers nonces for as long as it accepts a request's time.

use std::collections::{HashSet, VecDeque};
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

/// The nonces of accepted requests, forgotten in the order they were accepted.
///
/// A nonce must be remembered while its request's time is still acceptable: until
/// `date + MAX_SKEW`. A request is accepted only while `date <= now + MAX_SKEW`, so
/// keeping it until `accepted + 2 * MAX_SKEW` is enough, and those instants
/// grow with acceptance order: expiry pops from the front and never scans (a full
/// scan on every call made the agent's cost grow with its call rate).
#[derive(Debug, Default)]
struct Nonces {
    set: HashSet<String>,
    /// (forget at, nonce), in acceptance order.
    order: VecDeque<(u64, String)>,
}

impl Nonces {
    fn expire(&mut self, now: u64) {
        while let Some((at, _)) = self.order.front() {
            // `at` is the last second the nonce must be remembered.
            if *at >= now {
                break;
            }
            if let Some((_, nonce)) = self.order.pop_front() {
                self.set.remove(&nonce);
            }
        }
    }

    fn insert(&mut self, nonce: &str, now: u64) {
        // A clock that stepped back must not put an entry before an earlier one's
        // expiry: keep the order monotonic (it only keeps the nonce longer).
        let at = (now + 2 * MAX_SKEW.as_secs()).max(self.order.back().map_or(0, |b| b.0));
        self.set.insert(nonce.to_string());
        self.order.push_back((at, nonce.to_string()));
    }
}

/// The agent's side: checks signatures and remembers nonces.
#[derive(Debug)]
pub struct Verifier {
    secret: LinkSecret,
    seen: Mutex<Nonces>,
}

impl Verifier {
    /// A verifier for `secret`.
    pub fn new(secret: LinkSecret) -> Verifier {
        Verifier {
            secret,
            seen: Mutex::new(Nonces::default()),
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
        seen.expire(now);
        if seen.set.contains(parts.nonce) {
            return Err(AuthError::Replay);
        }
        if seen.set.len() >= MAX_NONCES {
            return Err(AuthError::Busy);
        }
        seen.insert(parts.nonce, now);
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

    #[test]
    fn nonces_are_kept_while_their_time_is_acceptable_and_then_forgotten() {
        let secret = LinkSecret::new("s3cret-s3cret-s3cret-s3cret-s3cret");
        let v = Verifier::new(secret.clone());
        let now = 1_800_000_000u64;
        // Dated as far ahead as the skew allows: acceptable until now + 120.
        let ahead = (now + 60).to_string();
        let nonce = "0123456789abcdef0123";
        let sig = secret.sign(&parts(&ahead, nonce, b"x"));
        assert_eq!(v.check(&parts(&ahead, nonce, b"x"), &sig, now), Ok(()));
        for later in [now + 1, now + 119, now + 120] {
            assert_eq!(
                v.check(&parts(&ahead, nonce, b"x"), &sig, later),
                Err(AuthError::Replay),
                "replayed at +{}",
                later - now
            );
        }
        let mut seen = v.seen.lock().unwrap();
        seen.expire(now + 120);
        assert_eq!(seen.set.len(), 1);
        seen.expire(now + 121);
        assert!(seen.set.is_empty() && seen.order.is_empty());
    }

    #[test]
    fn a_clock_stepping_back_keeps_the_expiry_order() {
        let mut n = Nonces::default();
        n.insert("a", 1000);
        n.insert("b", 900);
        n.expire(1120);
        assert_eq!(n.set.len(), 2);
        n.expire(1121);
        assert!(
            n.set.is_empty(),
            "b expires no earlier than a, never before it"
        );
    }
}
