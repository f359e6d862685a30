//! `larder server` settings: flags, `LARDER_*` environment variables and a TOML file,
//! in that order of precedence, then built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// Defaults a user can rely on; documented in the README.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8500";
/// Default access key id (and secret) accepted when none is configured.
pub const DEFAULT_KEY: &str = "larder";

/// Flags of `larder server`. Each is optional here so the config file can fill gaps.
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// TOML file with the same settings (keys as the flag names with underscores).
    #[arg(long, env = "LARDER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the ElastiCache API [default: 127.0.0.1:8500].
    #[arg(long, env = "LARDER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for all state and node data [default: ./larder-data].
    #[arg(long, env = "LARDER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Access key id clients must sign with [default: larder].
    #[arg(long, env = "LARDER_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Secret access key clients must sign with [default: larder].
    #[arg(long, env = "LARDER_SECRET_ACCESS_KEY")]
    pub secret_access_key: Option<String>,
    /// Region in ARNs and zone names [default: us-east-1].
    #[arg(long, env = "LARDER_REGION")]
    pub region: Option<String>,
    /// Account id in ARNs [default: 000000000000].
    #[arg(long, env = "LARDER_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Port range for nodes and endpoints, START-END [default: 21000-21999].
    #[arg(long, env = "LARDER_NODE_PORTS")]
    pub node_ports: Option<String>,
    /// Host written into endpoints [default: 127.0.0.1].
    #[arg(long, env = "LARDER_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,
    /// Address nodes and endpoints listen on [default: 127.0.0.1].
    #[arg(long, env = "LARDER_NODE_BIND")]
    pub node_bind: Option<String>,
    /// Comma-separated availability zone names [default: <region>a,<region>b,<region>c].
    #[arg(long, env = "LARDER_AVAILABILITY_ZONES")]
    pub availability_zones: Option<String>,
    /// Subnets and the availability zone each stands for, for CacheSubnetGroups:
    /// `subnet-ID=ZONE,...` (ids not named here are mapped to a zone by a hash).
    #[arg(long, env = "LARDER_SUBNETS")]
    pub subnets: Option<String>,
    /// Most cache nodes this host runs [default: 300].
    #[arg(long, env = "LARDER_MAX_NODES")]
    pub max_nodes: Option<u32>,
    /// Most cache clusters this host runs [default: 300].
    #[arg(long, env = "LARDER_MAX_CLUSTERS")]
    pub max_clusters: Option<u32>,
    /// Most snapshots kept at once [default: 1000].
    #[arg(long, env = "LARDER_MAX_SNAPSHOTS")]
    pub max_snapshots: Option<u32>,
    /// S3 endpoint for snapshot exports and SnapshotArns restores, e.g. an
    /// S3-compatible server [default: AWS_ENDPOINT_URL, else AWS].
    #[arg(long, env = "LARDER_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// How often replication group primaries are health-checked, in ms [default: 100].
    #[arg(long, env = "LARDER_HEALTH_CHECK_INTERVAL_MS")]
    pub health_check_interval_ms: Option<u64>,
    /// Missed health checks in a row before a live primary is failed over [default: 3].
    #[arg(long, env = "LARDER_HEALTH_CHECK_FAILURES")]
    pub health_check_failures: Option<u32>,
    /// Whether replication group endpoints share node connections between clients
    /// (`on`) or give every client its own (`off`) [default: on].
    #[arg(long, env = "LARDER_ENDPOINT_MULTIPLEXING")]
    pub endpoint_multiplexing: Option<String>,
    /// Whether replication group endpoints splice clients on this host to their node
    /// in the kernel (`auto`: where root, cgroup v2 and Linux 5.15+ allow it) or serve
    /// every client in userspace (`off`) [default: auto].
    #[arg(long, env = "LARDER_ENDPOINT_KERNEL_SPLICE")]
    pub endpoint_kernel_splice: Option<String>,
    /// API requests carried out at once; as many again wait up to a second, the rest
    /// are answered `Throttling` [default: 32].
    #[arg(long, env = "LARDER_API_MAX_CONCURRENT_REQUESTS")]
    pub api_max_concurrent_requests: Option<usize>,
    /// Let clients run the commands ElastiCache restricts (CONFIG, DEBUG, SHUTDOWN,
    /// REPLICAOF, ...) and ACL, MODULE and the like, for test suites that need them.
    /// Applies to nodes as they (re)start.
    #[arg(long, env = "LARDER_ALLOW_RESTRICTED_COMMANDS")]
    pub allow_restricted_commands: bool,
    /// Run no nodes on this host: every node goes to an agent that joined
    /// (`larder agent run --join`); this host still serves the endpoints.
    #[arg(long, env = "LARDER_NO_LOCAL_NODES")]
    pub no_local_nodes: bool,
    /// Most client connections one endpoint serves at once; more are refused with
    /// the engine's own "too many connections" error [default: 65000].
    #[arg(long, env = "LARDER_ENDPOINT_MAX_CONNECTIONS")]
    pub endpoint_max_connections: Option<usize>,
    /// Most client connections all endpoints serve at once [default: half the
    /// daemon's open-file limit, less 256].
    #[arg(long, env = "LARDER_ENDPOINT_MAX_CONNECTIONS_TOTAL")]
    pub endpoint_max_connections_total: Option<usize>,
    /// Attempts a node step (start, node type change, reboot) gets before its cluster
    /// turns `create-failed` or `incompatible-parameters` [default: 8].
    #[arg(long, env = "LARDER_NODE_STEP_ATTEMPTS")]
    pub node_step_attempts: Option<u32>,
    /// Pause after a node step's first failed attempt, in ms; it doubles after each
    /// further failure [default: 2000].
    #[arg(long, env = "LARDER_NODE_STEP_BACKOFF_MS")]
    pub node_step_backoff_ms: Option<u64>,
    /// Longest pause between two attempts of a node step, in ms [default: 60000].
    #[arg(long, env = "LARDER_NODE_STEP_BACKOFF_MAX_MS")]
    pub node_step_backoff_max_ms: Option<u64>,
    /// Test seam: pause before each node-level workflow step.
    #[arg(long, env = "LARDER_WORKFLOW_STEP_DELAY_MS", hide = true)]
    pub workflow_step_delay_ms: Option<u64>,
    /// Test seam: a file holding a number of seconds by which maintenance and snapshot
    /// windows see the clock shifted (re-read while running), so tests can let days pass.
    #[arg(long, env = "LARDER_CLOCK_OFFSET_FILE", hide = true)]
    pub clock_offset_file: Option<PathBuf>,
    /// On a clean stop, also stop this host's agent and with it every node and
    /// endpoint (otherwise they keep serving until `larder agent stop`).
    #[arg(long, env = "LARDER_STOP_AGENT_ON_EXIT")]
    pub stop_agent_on_exit: bool,
    /// Log file of the local agent this command starts [default:
    /// <data-dir>/agent/agent.log].
    #[arg(long, env = "LARDER_AGENT_LOG")]
    pub agent_log: Option<PathBuf>,
}

/// The same settings as read from the TOML file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    node_ports: Option<String>,
    advertise_host: Option<String>,
    node_bind: Option<String>,
    availability_zones: Option<String>,
    subnets: Option<String>,
    max_nodes: Option<u32>,
    max_clusters: Option<u32>,
    max_snapshots: Option<u32>,
    s3_endpoint: Option<String>,
    health_check_interval_ms: Option<u64>,
    health_check_failures: Option<u32>,
    endpoint_multiplexing: Option<String>,
    endpoint_kernel_splice: Option<String>,
    api_max_concurrent_requests: Option<usize>,
    allow_restricted_commands: Option<bool>,
    no_local_nodes: Option<bool>,
    endpoint_max_connections: Option<usize>,
    endpoint_max_connections_total: Option<usize>,
    node_step_attempts: Option<u32>,
    node_step_backoff_ms: Option<u64>,
    node_step_backoff_max_ms: Option<u64>,
    workflow_step_delay_ms: Option<u64>,
    clock_offset_file: Option<PathBuf>,
    stop_agent_on_exit: Option<bool>,
    agent_log: Option<PathBuf>,
}

/// Fully resolved daemon settings.
#[derive(Debug)]
pub struct ServerConfig {
    /// API address.
    pub listen: SocketAddr,
    /// State and node data.
    pub data_dir: PathBuf,
    /// Accepted credentials.
    pub credentials: larder_api::Credentials,
    /// Controller settings.
    pub settings: larder_controller::Settings,
    /// Bounds on API requests.
    pub api_limits: larder_api::Limits,
    /// Stop the local agent (and its nodes) on a clean stop.
    pub stop_agent_on_exit: bool,
    /// The local agent's log file, when not the default.
    pub agent_log: Option<PathBuf>,
}

fn parse_ports(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("--node-ports {s}: expected START-END"))?;
    let start: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("--node-ports {s}: bad start"))?;
    let end: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("--node-ports {s}: bad end"))?;
    if start == 0 || start > end {
        return Err(format!("--node-ports {s}: START must be 1..=END"));
    }
    Ok(start..=end)
}

/// `subnet-ID=ZONE,...`: each id once, lower-cased, with a non-empty zone.
fn parse_subnets(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, zone) = item
            .split_once('=')
            .ok_or_else(|| format!("--subnets {item}: expected SUBNET-ID=ZONE"))?;
        let (id, zone) = (id.trim().to_ascii_lowercase(), zone.trim().to_string());
        if !id.starts_with("subnet-") || id.len() <= "subnet-".len() || zone.is_empty() {
            return Err(format!(
                "--subnets {item}: expected subnet-<id>=<availability zone>"
            ));
        }
        if out.iter().any(|(known, _)| *known == id) {
            return Err(format!("--subnets: {id} is named twice"));
        }
        out.push((id, zone));
    }
    Ok(out)
}

impl ServerArgs {
    /// Merges flags, environment, file and defaults.
    pub fn resolve(self) -> Result<ServerConfig, String> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let region = self
            .region
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        let mut settings = larder_controller::Settings::new(&region);
        if let Some(a) = self.account_id.or(file.account_id) {
            settings.account_id = a;
        }
        if let Some(h) = self.advertise_host.or(file.advertise_host) {
            settings.advertise_host = h;
        }
        if let Some(b) = self.node_bind.or(file.node_bind) {
            settings.bind_host = b;
        }
        if let Some(p) = self.node_ports.or(file.node_ports) {
            settings.node_ports = parse_ports(&p)?;
        }
        if let Some(z) = self.availability_zones.or(file.availability_zones) {
            settings.availability_zones = z
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if settings.availability_zones.is_empty() {
                return Err("--availability-zones needs at least one zone".into());
            }
        }
        if let Some(list) = self.subnets.or(file.subnets) {
            settings.subnets = parse_subnets(&list)?;
        }
        if let Some(m) = self.max_nodes.or(file.max_nodes) {
            settings.max_nodes = m;
        }
        if let Some(m) = self.max_clusters.or(file.max_clusters) {
            settings.max_clusters = m;
        }
        if let Some(m) = self.max_snapshots.or(file.max_snapshots) {
            settings.max_snapshots = m;
        }
        settings.s3_endpoint = self.s3_endpoint.clone().or(file.s3_endpoint.clone());
        if let Some(ms) = self
            .health_check_interval_ms
            .or(file.health_check_interval_ms)
        {
            if ms == 0 {
                return Err("--health-check-interval-ms must be at least 1".into());
            }
            settings.health_check_interval = Duration::from_millis(ms);
        }
        if let Some(n) = self.health_check_failures.or(file.health_check_failures) {
            settings.health_check_failures = n.max(1);
        }
        if let Some(m) = self.endpoint_multiplexing.or(file.endpoint_multiplexing) {
            settings.endpoint_multiplexing = match m.as_str() {
                "on" => larder_endpoints::Multiplexing::On,
                "off" => larder_endpoints::Multiplexing::Off,
                other => {
                    return Err(format!(
                        "--endpoint-multiplexing must be on or off, not {other}"
                    ))
                }
            };
        }
        if let Some(k) = self.endpoint_kernel_splice.or(file.endpoint_kernel_splice) {
            settings.endpoint_kernel_splice = match k.as_str() {
                "auto" => larder_endpoints::KernelSplice::Auto,
                "off" => larder_endpoints::KernelSplice::Off,
                other => {
                    return Err(format!(
                        "--endpoint-kernel-splice must be auto or off, not {other}"
                    ))
                }
            };
        }
        settings.allow_restricted_commands =
            self.allow_restricted_commands || file.allow_restricted_commands.unwrap_or(false);
        settings.local_nodes = !(self.no_local_nodes || file.no_local_nodes.unwrap_or(false));
        let limits = &mut settings.endpoint_limits;
        if let Some(n) = self
            .endpoint_max_connections
            .or(file.endpoint_max_connections)
        {
            limits.per_endpoint = n.max(1);
        }
        if let Some(n) = self
            .endpoint_max_connections_total
            .or(file.endpoint_max_connections_total)
        {
            limits.total = n.max(1);
        }
        let retry = &mut settings.node_retry;
        if let Some(n) = self.node_step_attempts.or(file.node_step_attempts) {
            if n == 0 {
                return Err("--node-step-attempts must be at least 1".into());
            }
            retry.max_attempts = n;
        }
        if let Some(ms) = self.node_step_backoff_ms.or(file.node_step_backoff_ms) {
            retry.first_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = self
            .node_step_backoff_max_ms
            .or(file.node_step_backoff_max_ms)
        {
            retry.max_backoff = Duration::from_millis(ms);
        }
        if retry.max_backoff < retry.first_backoff {
            return Err(format!(
                "--node-step-backoff-max-ms ({} ms) is below --node-step-backoff-ms ({} ms)",
                retry.max_backoff.as_millis(),
                retry.first_backoff.as_millis()
            ));
        }
        if let Some(ms) = self.workflow_step_delay_ms.or(file.workflow_step_delay_ms) {
            settings.workflow_step_delay = Duration::from_millis(ms);
        }
        if let Some(path) = self
            .clock_offset_file
            .clone()
            .or(file.clock_offset_file.clone())
        {
            settings.clock = larder_controller::Clock::offset_file(path);
        }
        let mut api_limits = larder_api::Limits::default();
        if let Some(n) = self
            .api_max_concurrent_requests
            .or(file.api_max_concurrent_requests)
        {
            if n == 0 {
                return Err("--api-max-concurrent-requests must be at least 1".into());
            }
            api_limits.max_concurrent = n;
        }
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse().expect("valid default");
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("larder-data"));
        // Snapshot files live with the store: one data dir to back up or move.
        let snapshots = data_dir.join("snapshots");
        settings.snapshot_dir = std::path::absolute(&snapshots).unwrap_or(snapshots);
        Ok(ServerConfig {
            stop_agent_on_exit: self.stop_agent_on_exit || file.stop_agent_on_exit.unwrap_or(false),
            agent_log: self.agent_log.or(file.agent_log),
            listen: self.listen.or(file.listen).unwrap_or(default_listen),
            data_dir,
            credentials: larder_api::Credentials {
                access_key_id: self
                    .access_key_id
                    .or(file.access_key_id)
                    .unwrap_or_else(|| DEFAULT_KEY.into()),
                secret_access_key: self
                    .secret_access_key
                    .or(file.secret_access_key)
                    .unwrap_or_else(|| DEFAULT_KEY.into()),
            },
            settings,
            api_limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_defaults_fill_gaps() {
        let dir = std::env::temp_dir().join(format!("larder-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("larder.toml");
        std::fs::write(
            &path,
            "region = \"eu-west-1\"\nnode_ports = \"30000-30010\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(path),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.settings.region, "eu-west-1");
        assert_eq!(c.settings.availability_zones[0], "eu-west-1a");
        assert_eq!(c.settings.node_ports, 30000..=30010);
        assert_eq!(c.credentials.access_key_id, "larder");
    }

    #[test]
    fn restricted_commands_stay_restricted_unless_asked() {
        let c = ServerArgs::default().resolve().unwrap();
        assert!(!c.settings.allow_restricted_commands);
        let flag = ServerArgs {
            allow_restricted_commands: true,
            ..Default::default()
        };
        assert!(flag.resolve().unwrap().settings.allow_restricted_commands);
        let dir = tempfile_dir("restricted");
        let path = dir.join("larder.toml");
        std::fs::write(&path, "allow_restricted_commands = true\n").unwrap();
        let file = ServerArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(file.resolve().unwrap().settings.allow_restricted_commands);
    }

    fn tempfile_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("larder-cfg-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn node_step_attempts_and_backoff_reach_the_settings() {
        let c = ServerArgs::default().resolve().unwrap();
        assert_eq!(
            c.settings.node_retry,
            larder_controller::RetryPolicy::default()
        );
        let dir = tempfile_dir("retry");
        let path = dir.join("larder.toml");
        std::fs::write(&path, "node_step_attempts = 3\nnode_step_backoff_ms = 10\n").unwrap();
        let c = ServerArgs {
            config: Some(path),
            node_step_backoff_max_ms: Some(40),
            ..Default::default()
        };
        let retry = c.resolve().unwrap().settings.node_retry;
        assert_eq!(retry.max_attempts, 3);
        assert_eq!(retry.first_backoff, Duration::from_millis(10));
        assert_eq!(retry.max_backoff, Duration::from_millis(40));
        for bad in [
            ServerArgs {
                node_step_attempts: Some(0),
                ..Default::default()
            },
            ServerArgs {
                node_step_backoff_ms: Some(5000),
                node_step_backoff_max_ms: Some(100),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve().is_err());
        }
    }

    #[test]
    fn endpoint_connection_caps_reach_the_settings() {
        let default = ServerArgs::default().resolve().unwrap();
        assert_eq!(
            default.settings.endpoint_limits,
            larder_endpoints::ConnectionLimits::default()
        );
        let capped = ServerArgs {
            endpoint_max_connections: Some(2),
            endpoint_max_connections_total: Some(0),
            ..Default::default()
        };
        let limits = capped.resolve().unwrap().settings.endpoint_limits;
        assert_eq!((limits.per_endpoint, limits.total), (2, 1));
    }

    #[test]
    fn endpoint_kernel_splice_is_auto_or_off() {
        let auto = ServerArgs::default().resolve().unwrap();
        assert_eq!(
            auto.settings.endpoint_kernel_splice,
            larder_endpoints::KernelSplice::Auto
        );
        let off = ServerArgs {
            endpoint_kernel_splice: Some("off".into()),
            ..Default::default()
        };
        assert_eq!(
            off.resolve().unwrap().settings.endpoint_kernel_splice,
            larder_endpoints::KernelSplice::Off
        );
        let bad = ServerArgs {
            endpoint_kernel_splice: Some("on".into()),
            ..Default::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn endpoint_multiplexing_is_on_or_off() {
        let on = ServerArgs::default().resolve().unwrap();
        assert_eq!(
            on.settings.endpoint_multiplexing,
            larder_endpoints::Multiplexing::On
        );
        let off = ServerArgs {
            endpoint_multiplexing: Some("off".into()),
            ..Default::default()
        };
        assert_eq!(
            off.resolve().unwrap().settings.endpoint_multiplexing,
            larder_endpoints::Multiplexing::Off
        );
        let bad = ServerArgs {
            endpoint_multiplexing: Some("maybe".into()),
            ..Default::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn api_concurrency_cap_defaults_and_must_be_positive() {
        let d = ServerArgs::default().resolve().unwrap();
        assert_eq!(
            d.api_limits.max_concurrent,
            larder_api::gate::DEFAULT_MAX_CONCURRENT
        );
        let set = ServerArgs {
            api_max_concurrent_requests: Some(4),
            ..Default::default()
        };
        assert_eq!(set.resolve().unwrap().api_limits.max_concurrent, 4);
        let zero = ServerArgs {
            api_max_concurrent_requests: Some(0),
            ..Default::default()
        };
        assert!(zero.resolve().is_err());
    }

    #[test]
    fn bad_port_ranges_are_refused() {
        assert!(parse_ports("10-5").is_err());
        assert!(parse_ports("abc").is_err());
        assert!(parse_ports("0-10").is_err());
    }

    #[test]
    fn subnets_name_a_zone_each() {
        let s = parse_subnets("subnet-Lab1=us-east-1a, subnet-lab2=us-east-1b,").unwrap();
        assert_eq!(
            s,
            vec![
                ("subnet-lab1".to_string(), "us-east-1a".to_string()),
                ("subnet-lab2".to_string(), "us-east-1b".to_string()),
            ]
        );
        assert!(parse_subnets("subnet-a").is_err());
        assert!(parse_subnets("net-a=us-east-1a").is_err());
        assert!(parse_subnets("subnet-a=").is_err());
        assert!(parse_subnets("subnet-a=z1,subnet-A=z2").is_err());
    }
}
