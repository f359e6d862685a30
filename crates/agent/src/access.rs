//! Who may do what on a redis node: Larder's own privileged user, and the limits
//! on the `default` user that every client gets, as ElastiCache has them.
//!
//! Checked on redis-server 7.0: ACL rules name commands by their original names
//! even after `rename-command` (a rule naming the new name refuses to load), a
//! renamed command answers `ERR unknown command` under its old name (also in
//! `MULTI` and scripts), and `COMMAND LIST` keeps listing the original name, so the
//! new one is not revealed to clients.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::CommandLimits;

/// The ACL user Larder's own connections authenticate as.
pub const ADMIN_USER: &str = "larder-admin";

/// The ACL user replicas' links authenticate as (the default user cannot sync).
/// It may only replicate, and its password is derived one-way from the admin
/// secret: `masterauth` is readable with `CONFIG GET` wherever clients may run
/// `CONFIG` (the host flag, a node from an older config), and what it gives away
/// there must not include managing nodes.
pub const REPLICA_USER: &str = "larder-replica";

/// ACL rules of [`REPLICA_USER`] after its password: a replica's handshake only.
pub const REPLICA_RULES: [&str; 6] = [
    "resetkeys",
    "resetchannels",
    "-@all",
    "+psync",
    "+replconf",
    "+ping",
];

/// Commands ElastiCache makes unavailable to clients ("Restricted commands").
/// Restricted nodes rename them to [`admin_name`], so clients get exactly the
/// `ERR unknown command` users of ElastiCache know.
pub const RESTRICTED_COMMANDS: [&str; 10] = [
    "bgrewriteaof",
    "bgsave",
    "config",
    "debug",
    "migrate",
    "replicaof",
    "save",
    "slaveof",
    "shutdown",
    "sync",
];

/// Further ACL rules for the `default` user: commands that would lift the limits
/// or break Larder's control, refused with `NOPERM`.
/// - `ACL` could grant the restricted commands or switch Larder's user off; only
///   the read-only, harmless subcommands stay.
/// - `MODULE` loads code into the server; `FAILOVER` swaps roles behind Larder's back.
/// - `PSYNC`/`REPLCONF`: a client posing as a replica would be counted by `WAIT` and
///   in `INFO replication`, which Larder's failover decisions rely on.
/// - `CLIENT KILL` could cut Larder's connections and the replicas' links
///   (`CLIENT KILL USER larder-admin`); `CLIENT PAUSE` holds every command,
///   including Larder's health probes (a needless failover), and `CLIENT UNPAUSE`
///   would lift the write pause that keeps a planned failover from losing writes.
const CONTROL_RULES: &str = "-psync -replconf -module -failover -acl +acl|whoami +acl|cat \
    +acl|genpass";

/// The CLIENT subcommands clients keep. Redis 7 takes `kill`, `pause` and `unpause`
/// away with `-client|…`; Redis 6 cannot remove a subcommand, so there CLIENT is
/// denied and these are added back, which leaves out the same three.
const CLIENT_RULES_7: &str = "-client|kill -client|pause -client|unpause";
const CLIENT_RULES_6: &str = "-client +client|caching +client|getname +client|getredir \
    +client|id +client|info +client|list +client|no-evict +client|reply +client|setname \
    +client|tracking +client|trackinginfo +client|unblock +client|help";

/// How the node's ACL rules are written: Redis 7 (and Valkey) or Redis 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclDialect {
    /// Redis 6.x.
    Redis6,
    /// Redis 7 and Valkey.
    Redis7,
}

/// The name a restricted command has on a restricted node; only Larder's user may run it.
pub fn admin_name(command: &str) -> String {
    format!("larder-{}", command.to_ascii_lowercase())
}

/// Larder's per-installation secret for [`ADMIN_USER`]. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSecret(String);

impl fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminSecret(..)")
    }
}

impl AdminSecret {
    /// The secret text, for AUTH and for rendering node configs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password of [`REPLICA_USER`]: SHA-256 of the admin secret, so that
    /// knowing it does not reveal the admin secret.
    pub fn replica_password(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{REPLICA_USER}\n{}", self.0).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fixed secret for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(secret: &str) -> AdminSecret {
        AdminSecret(secret.to_string())
    }

    /// Reads the secret kept at `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> std::io::Result<AdminSecret> {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                let secret = random_hex(32)?;
                f.write_all(secret.as_bytes())?;
                f.sync_all()?;
                return Ok(AdminSecret(secret));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let text = std::fs::read_to_string(path)?;
        let secret = text.trim();
        if secret.len() < 32 || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} does not hold a Larder admin secret", path.display()),
            ));
        }
        Ok(AdminSecret(secret.to_string()))
    }
}

/// `bytes` random bytes from the kernel, hex-encoded.
fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut raw = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// redis.conf directives for users, replication authentication and renamed commands.
pub(crate) fn access_directives(
    limits: CommandLimits,
    secret: &AdminSecret,
    dialect: AclDialect,
) -> Vec<(String, String)> {
    let s = secret.expose();
    let replica = secret.replica_password();
    let mut out = vec![
        // Replicas authenticate to their primary: the default user cannot PSYNC.
        ("masteruser".to_string(), REPLICA_USER.to_string()),
        ("masterauth".to_string(), replica.clone()),
        (
            "user".to_string(),
            format!("{ADMIN_USER} on >{s} ~* &* +@all"),
        ),
        (
            "user".to_string(),
            format!("{REPLICA_USER} on >{replica} {}", REPLICA_RULES.join(" ")),
        ),
    ];
    match limits {
        CommandLimits::Unrestricted => {
            out.push(("user".into(), "default on nopass ~* &* +@all".into()));
            // Redis 7 refuses DEBUG to everyone unless enabled; test suites need it.
            // Redis 6 allows it and does not know the directive.
            if dialect == AclDialect::Redis7 {
                out.push(("enable-debug-command".into(), "yes".into()));
            }
        }
        CommandLimits::Restricted => {
            let denied: Vec<String> = RESTRICTED_COMMANDS
                .iter()
                .map(|c| format!("-{c}"))
                .collect();
            out.push((
                "user".into(),
                format!(
                    "default on nopass ~* &* +@all {} {CONTROL_RULES} {}",
                    denied.join(" "),
                    match dialect {
                        AclDialect::Redis6 => CLIENT_RULES_6,
                        AclDialect::Redis7 => CLIENT_RULES_7,
                    }
                ),
            ));
            for c in RESTRICTED_COMMANDS {
                out.push(("rename-command".into(), format!("{c} {}", admin_name(c))));
            }
        }
    }
    out
}

/// Whether a rendered redis.conf defines Larder's user (configs from before the
/// command limits do not; such a node is managed as its default user until restart).
pub(crate) fn config_has_admin(conf: &str) -> bool {
    let prefix = format!("user {ADMIN_USER} ");
    conf.lines().any(|l| l.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.secret");
        let a = AdminSecret::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(a.expose().len(), 64);
        assert_eq!(AdminSecret::load_or_create(&path).unwrap(), a);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_eq!(a.replica_password().len(), 64);
        assert!(!a.replica_password().contains(a.expose()));
        std::fs::write(&path, "x").unwrap();
        assert!(AdminSecret::load_or_create(&path).is_err());
    }

    #[test]
    fn restricted_default_user_denies_every_restricted_command() {
        let secret = AdminSecret::for_tests(&"s".repeat(40));
        let d = access_directives(CommandLimits::Restricted, &secret, AclDialect::Redis7);
        let default = &d
            .iter()
            .find(|(n, v)| n == "user" && v.starts_with("default "))
            .unwrap()
            .1;
        for c in RESTRICTED_COMMANDS {
            assert!(default.contains(&format!(" -{c} ")), "{c}: {default}");
            assert!(d.contains(&("rename-command".into(), format!("{c} larder-{c}"))));
        }
        let open = access_directives(CommandLimits::Unrestricted, &secret, AclDialect::Redis7);
        assert!(!open.iter().any(|(n, _)| n == "rename-command"));
        assert!(config_has_admin(&format!(
            "port 1\nuser {ADMIN_USER} on >x\n"
        )));
        assert!(!config_has_admin("port 1\nuser default on nopass\n"));
    }

    #[test]
    fn redis_6_rules_leave_out_the_same_client_subcommands_without_removing_any() {
        let secret = AdminSecret::for_tests(&"s".repeat(40));
        let six = access_directives(CommandLimits::Restricted, &secret, AclDialect::Redis6);
        let default_user = |d: &[(String, String)]| {
            d.iter()
                .find(|(k, v)| k == "user" && v.starts_with("default "))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let rules = default_user(&six);
        assert!(!rules.contains("-client|"), "{rules}");
        assert!(rules.contains(" -client +client|"), "{rules}");
        for kept in [
            "+client|list",
            "+client|setname",
            "+client|getname",
            "+client|id",
        ] {
            assert!(rules.contains(kept), "{kept}: {rules}");
        }
        for gone in ["+client|kill", "+client|pause", "+client|unpause"] {
            assert!(!rules.contains(gone), "{gone}: {rules}");
        }
        let open = access_directives(CommandLimits::Unrestricted, &secret, AclDialect::Redis6);
        assert!(!open.iter().any(|(k, _)| k == "enable-debug-command"));
    }
}
