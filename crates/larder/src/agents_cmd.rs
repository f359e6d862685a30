//! `larder agents`: asks a running control plane which hosts it knows and prints
//! them, one line each (or as JSON).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use larder_agent_link::{LinkSecret, SignedClient, AGENTS_PATH};
use larder_controller::HostStatus;

use crate::agent_files::AgentFiles;

/// Flags of `larder agents`.
#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// The control plane's API address [default: 127.0.0.1:8500].
    #[arg(long, env = "LARDER_LISTEN", default_value = "127.0.0.1:8500")]
    pub server: String,
    /// The data dir whose `agent/agent.secret` signs the request [default: ./larder-data].
    #[arg(long, env = "LARDER_DATA_DIR", default_value = "larder-data")]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `larder agents`.
pub async fn run(args: AgentsArgs) -> Result<(), String> {
    let addr = crate::agent_join::parse_join(&args.server)?;
    let path = AgentFiles::new(&args.data_dir).secret();
    if !path.exists() {
        return Err(format!("no link secret at {}", path.display()));
    }
    let secret =
        LinkSecret::load_or_create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let body = SignedClient::new(addr, secret)
        .send("GET", AGENTS_PATH, Vec::new(), Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let hosts: Vec<HostStatus> =
        serde_json::from_slice(&body).map_err(|e| format!("unexpected answer: {e}"))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&hosts).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<18} {:<28} {:<22} {:<16} {:<12} {:>6} {:>10}  CERT",
        "HOST", "ZONES", "LINK", "ADDRESS", "HEALTH", "NODES", "CONTACT"
    );
    for h in hosts {
        let zones = if h.zones.is_empty() {
            "(no nodes)".to_string()
        } else {
            h.zones.join(",")
        };
        // The first 16 hex digits tell certificates apart; `--json` has them all.
        let cert = h.fingerprint.get(..16).unwrap_or("-");
        println!(
            "{:<18} {:<28} {:<22} {:<16} {:<12} {:>6} {:>8}ms  {cert}",
            h.id, zones, h.link, h.address, h.health, h.nodes, h.last_contact_ms
        );
    }
    Ok(())
}
