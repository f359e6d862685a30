//! Daemon-wide settings the controller needs; filled in by the `larder` binary.

use std::ops::RangeInclusive;
use std::time::Duration;

/// How this host runs clusters.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Region written into ARNs and zone names.
    pub region: String,
    /// Account id written into ARNs.
    pub account_id: String,
    /// Address written into endpoints.
    pub advertise_host: String,
    /// Address node processes and endpoints listen on.
    pub bind_host: String,
    /// Ports for nodes and configuration endpoints.
    pub node_ports: RangeInclusive<u16>,
    /// Availability zone names this host offers.
    pub availability_zones: Vec<String>,
    /// Subnets the operator names, with the zone each stands for (`--subnets`);
    /// other well-formed subnet ids are mapped to a zone by a hash of the id.
    pub subnets: Vec<(String, String)>,
    /// Whether the control plane's own host runs nodes; when not, it serves only the
    /// endpoints and every node goes to a joined agent.
    pub local_nodes: bool,
    /// Most nodes this host runs across all clusters (ElastiCache's per-customer node quota).
    pub max_nodes: u32,
    /// Most clusters (ElastiCache's per-customer cluster quota).
    pub max_clusters: u32,
    /// `reserved-memory-percent` applied to every node type.
    pub reserved_memory_percent: u64,
    /// Test seam: pause before each node-level workflow step, so crash tests can kill the
    /// daemon in the middle of a workflow.
    pub workflow_step_delay: Duration,
    /// How long a node may take to answer after it is spawned.
    pub node_ready_timeout: Duration,
    /// Attempts and backoff of a failing node step (start, retype, reboot, recovery)
    /// before its cluster ends in a failed state.
    pub node_retry: crate::RetryPolicy,
    /// How often replication group primaries are probed.
    pub health_check_interval: Duration,
    /// How long one probe may take.
    pub health_check_timeout: Duration,
    /// Missed probes in a row before a live but silent primary counts as failed.
    pub health_check_failures: u32,
    /// Whether replication group endpoints share node connections between clients.
    pub endpoint_multiplexing: larder_endpoints::Multiplexing,
    /// Whether replication group endpoints splice local clients in the kernel.
    pub endpoint_kernel_splice: larder_endpoints::KernelSplice,
    /// Whether clients may run the commands ElastiCache restricts (a host flag for
    /// test suites); Larder's own connections are privileged either way.
    pub allow_restricted_commands: bool,
    /// Caps on client connections per endpoint and across all endpoints.
    pub endpoint_limits: larder_endpoints::ConnectionLimits,
    /// Where the control plane keeps snapshot files (`<data-dir>/snapshots`).
    pub snapshot_dir: std::path::PathBuf,
    /// How long one snapshot save request waits for the node before the workflow
    /// asks again (the save goes on meanwhile).
    pub snapshot_save_wait: Duration,
    /// Most snapshots kept at once (ElastiCache's snapshot quota): CreateSnapshot and
    /// CopySnapshot beyond it answer SnapshotQuotaExceededFault.
    pub max_snapshots: u32,
    /// The S3 endpoint for exports and SnapshotArns restores (an S3-compatible
    /// server); none: the environment's `AWS_ENDPOINT_URL`, else AWS itself.
    pub s3_endpoint: Option<String>,
    /// The clock maintenance and snapshot windows are read from (a test seam can
    /// shift it; see `clock.rs`).
    pub clock: crate::Clock,
}

impl Settings {
    /// Settings for a region with its default three zones.
    pub fn new(region: &str) -> Settings {
        Settings {
            region: region.to_string(),
            account_id: "000000000000".into(),
            advertise_host: "127.0.0.1".into(),
            bind_host: "127.0.0.1".into(),
            node_ports: 21000..=21999,
            availability_zones: ["a", "b", "c"]
                .iter()
                .map(|s| format!("{region}{s}"))
                .collect(),
            subnets: Vec::new(),
            local_nodes: true,
            max_nodes: 300,
            max_clusters: 300,
            reserved_memory_percent: larder_model::node_type::DEFAULT_RESERVED_MEMORY_PERCENT,
            workflow_step_delay: Duration::ZERO,
            node_ready_timeout: Duration::from_secs(10),
            node_retry: crate::RetryPolicy::default(),
            health_check_interval: Duration::from_millis(100),
            health_check_timeout: Duration::from_millis(250),
            health_check_failures: 3,
            endpoint_multiplexing: larder_endpoints::Multiplexing::On,
            endpoint_kernel_splice: larder_endpoints::KernelSplice::Auto,
            allow_restricted_commands: false,
            endpoint_limits: larder_endpoints::ConnectionLimits::default(),
            snapshot_dir: "snapshots".into(),
            snapshot_save_wait: Duration::from_secs(5),
            max_snapshots: 1000,
            s3_endpoint: None,
            clock: crate::Clock::system(),
        }
    }

    /// The command limits nodes start with.
    pub fn command_limits(&self) -> larder_agent::CommandLimits {
        if self.allow_restricted_commands {
            larder_agent::CommandLimits::Unrestricted
        } else {
            larder_agent::CommandLimits::Restricted
        }
    }

    /// The ARN of a cache cluster.
    pub fn cluster_arn(&self, id: &str) -> String {
        self.arn("cluster", id)
    }

    /// The ARN of any resource kind (`cluster`, `replicationgroup`, ...).
    pub fn arn(&self, resource_type: &str, id: &str) -> String {
        larder_model::Arn::format(&self.region, &self.account_id, resource_type, id)
    }
}
