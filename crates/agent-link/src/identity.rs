//! Who an agent is on the link: a self-signed certificate it makes on first start and
//! keeps (`link.crt`, and `link.key` with mode 0600, in `<data-dir>/agent/`), and the
//! SHA-256 fingerprint of that certificate, which the control plane pins.
//!
//! No certificate authority is involved: the control plane learns the fingerprint
//! from a place only the installation can write (the local agent's `agent.json`, or a
//! join request signed with the installation's secret) and accepts exactly that
//! certificate. The names in the certificate (the agent's addresses) are for people
//! and tools reading it; the pin, not a name, is what is checked.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER bytes, written as 64 lower-case hex digits
/// (`openssl x509 -noout -fingerprint -sha256` prints the same bytes with colons).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert` (DER).
    pub fn of(cert: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(cert).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why a text is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a certificate fingerprint is 64 hex digits (the SHA-256 of the certificate)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Fingerprint, BadFingerprint> {
        // Also take openssl's form (upper case, colons) so an operator can paste it.
        let bare: String = text.trim().chars().filter(|c| *c != ':').collect();
        if bare.len() != 64 {
            return Err(BadFingerprint);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(bare.to_ascii_lowercase(), &mut out).map_err(|_| BadFingerprint)?;
        Ok(Fingerprint(out))
    }
}

/// An agent's certificate and key.
pub struct LinkIdentity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for LinkIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkIdentity({})", self.fingerprint())
    }
}

/// The certificate's file in `dir`.
pub fn cert_path(dir: &Path) -> PathBuf {
    dir.join("link.crt")
}

/// The key's file in `dir`.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("link.key")
}

impl LinkIdentity {
    /// Reads the identity kept in `dir`, or makes one naming `names` (addresses or
    /// host names) and keeps it. A kept one is used as it is even if `names` changed:
    /// a new key would be a new fingerprint that every control plane must learn again.
    pub fn load_or_create(dir: &Path, names: &[String]) -> std::io::Result<LinkIdentity> {
        let (cert, key) = (cert_path(dir), key_path(dir));
        if cert.exists() && key.exists() {
            return LinkIdentity::load(&cert, &key);
        }
        std::fs::create_dir_all(dir)?;
        let mut names: Vec<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
        if names.is_empty() {
            names.push("larder-agent".into());
        }
        names.dedup();
        let made = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
        // Key first, certificate last: a crash in between leaves no certificate, so
        // the next start makes a new pair instead of pairing a key with another's
        // certificate.
        write_new(&key, made.key_pair.serialize_pem().as_bytes(), 0o600)?;
        write_new(&cert, made.cert.pem().as_bytes(), 0o644)?;
        Ok(LinkIdentity {
            cert: made.cert.der().clone(),
            key: PrivateKeyDer::try_from(made.key_pair.serialize_der())
                .map_err(std::io::Error::other)?,
        })
    }

    fn load(cert: &Path, key: &Path) -> std::io::Result<LinkIdentity> {
        let bad = |p: &Path, e: rustls::pki_types::pem::Error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", p.display()),
            )
        };
        Ok(LinkIdentity {
            cert: CertificateDer::from_pem_file(cert).map_err(|e| bad(cert, e))?,
            key: PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e))?,
        })
    }

    /// The fingerprint the control plane pins.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }

    /// The TLS configuration of the agent's listener: TLS 1.3 only (both ends are
    /// Larder), the `ring` provider, no client certificates (requests are signed).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let config = rustls::ServerConfig::builder_with_provider(crate::pinning::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}

/// Writes `bytes` to `path` through a temporary file created with `mode`, so the
/// key is never readable by others, not even for an instant, and never half written.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_identity_is_made_once_and_kept_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["10.0.0.12".to_string(), "host-a".to_string()];
        let first = LinkIdentity::load_or_create(dir.path(), &names).unwrap();
        let mode = std::fs::metadata(key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = LinkIdentity::load_or_create(dir.path(), &["other".into()]).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        again.server_config().unwrap();
        // A lost certificate means a new pair, not the old key with a new certificate.
        std::fs::remove_file(cert_path(dir.path())).unwrap();
        let fresh = LinkIdentity::load_or_create(dir.path(), &names).unwrap();
        assert_ne!(fresh.fingerprint(), first.fingerprint());
    }

    #[test]
    fn fingerprints_read_back_in_either_form() {
        let fp = Fingerprint::of(b"certificate bytes");
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
        let openssl: Vec<String> = text
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert_eq!(openssl.join(":").parse::<Fingerprint>().unwrap(), fp);
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    }
}
