//! `larder agent`: the process that owns a host's nodes and endpoints and serves the
//! agent interface to the control plane. It outlives `larder server`: a control
//! plane that stops, crashes or is upgraded leaves every node running and every
//! endpoint routing to the last primary it was told.
//!
//! SIGTERM or SIGINT stop the agent alone (nodes keep running and are adopted by the
//! next agent). `larder agent stop` (or `larder server --stop-agent-on-exit`) stops
//! every node and endpoint first, as ElastiCache stops nodes it replaces.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use larder_agent::LocalAgent;
use larder_agent_link::{AgentInfo, Fingerprint, LinkIdentity, LinkSecret, RemoteAgent, Verifier};

use crate::agent_files::{AgentFiles, Announced};

/// `larder agent …`.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Run this host's agent in the foreground.
    Run(RunArgs),
    /// Stop this host's agent and every node and endpoint it runs.
    Stop(DirArgs),
    /// Print what this host's agent says about itself.
    Status(DirArgs),
}

/// Flags of `larder agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directory for node data and the agent's files [default: ./larder-data].
    #[arg(long, env = "LARDER_DATA_DIR", default_value = "larder-data")]
    pub data_dir: PathBuf,
    /// Address the agent serves the control plane on (port 0: any free port, written
    /// to <data-dir>/agent/agent.json).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The availability zone of this host.
    #[arg(long, default_value = "local")]
    pub zone: String,
    /// The address nodes and endpoints on this host are reached at.
    #[arg(long, default_value = "127.0.0.1")]
    pub advertise_host: String,
    /// Join the control plane whose API listens at ADDR:PORT (an agent on another
    /// host). Copy `<data-dir>/agent/agent.secret` and `<data-dir>/nodes/larder-admin.secret`
    /// of the control plane's host into this agent's data dir first.
    #[arg(long, value_name = "ADDR:PORT")]
    pub join: Option<String>,
}

/// The data dir of the agent a command is about.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// Directory of the agent's data [default: ./larder-data].
    #[arg(long, env = "LARDER_DATA_DIR", default_value = "larder-data")]
    pub data_dir: PathBuf,
}

/// Runs an `larder agent` subcommand.
pub async fn run(command: AgentCommand) -> Result<(), String> {
    match command {
        AgentCommand::Run(args) => serve(args).await,
        AgentCommand::Stop(args) => stop(&args.data_dir).await,
        AgentCommand::Status(args) => {
            let agent = connect(&args.data_dir)
                .await?
                .ok_or("no agent runs on this data dir")?;
            let info = agent.info().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&info).unwrap_or_default()
            );
            Ok(())
        }
    }
}

/// The agent announced in `data_dir`, if one answers there.
pub async fn connect(data_dir: &std::path::Path) -> Result<Option<RemoteAgent>, String> {
    let files = AgentFiles::new(data_dir);
    let Some(announced) = files.announced() else {
        return Ok(None);
    };
    let pin: Fingerprint = announced.fingerprint.parse().map_err(|_| {
        format!(
            "the agent at {} (pid {}) serves the link without TLS (an older larder): stop it \
             with SIGTERM (its nodes keep running) and start again",
            announced.listen, announced.pid
        )
    })?;
    let secret = LinkSecret::load_or_create(&files.secret()).map_err(|e| e.to_string())?;
    match RemoteAgent::connect(announced.listen, secret, pin).await {
        Ok(agent) => Ok(Some(agent)),
        Err(e) => {
            tracing::debug!(listen = %announced.listen, error = %e, "announced agent does not answer");
            Ok(None)
        }
    }
}

async fn serve(args: RunArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let data_dir = std::path::absolute(&args.data_dir).map_err(|e| e.to_string())?;
    let files = AgentFiles::new(&data_dir);
    let _lock = files.lock()?;
    let secret = LinkSecret::load_or_create(&files.secret())
        .map_err(|e| format!("{}: {e}", files.secret().display()))?;
    let agent = LocalAgent::new(data_dir.join("nodes"));
    // Before the first request: watch the nodes that survived, restart the dead ones
    // the control plane asked to keep alive.
    agent.resume().await;
    // Replication state is pushed with the observations, not asked for on every pass.
    agent.watch_replication();
    // Clients of the last routes are served before any control plane says anything.
    agent.restore_endpoints().await;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let listen = listener.local_addr().map_err(|e| e.to_string())?;
    let identity = LinkIdentity::load_or_create(files.dir(), &certificate_names(&args, listen))
        .map_err(|e| format!("the link's certificate in {}: {e}", files.dir().display()))?;
    let fingerprint = identity.fingerprint().to_string();
    let tls = identity
        .server_config()
        .map_err(|e| format!("the link's certificate: {e}"))?;
    let pid = std::process::id();
    let info = AgentInfo {
        pid,
        zone: args.zone.clone(),
        advertise_host: args.advertise_host.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        epoch: uuid::Uuid::new_v4().simple().to_string(),
        fingerprint: fingerprint.clone(),
        handshakes: 0,
        refused_handshakes: 0,
    };
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel(1);
    let secret_for_join = secret.clone();
    let stats = std::sync::Arc::new(larder_agent_link::LinkStats::default());
    let app = larder_agent_link::router(
        agent.clone(),
        Verifier::new(secret),
        info,
        stop_tx,
        stats.clone(),
    );
    files
        .announce(&Announced {
            listen,
            pid,
            fingerprint: fingerprint.clone(),
        })
        .map_err(|e| format!("cannot write {}: {e}", files.dir().display()))?;
    tracing::info!(%listen, zone = %args.zone, %fingerprint, data_dir = %data_dir.display(), "larder agent serving (TLS)");
    let server = tokio::spawn(larder_agent_link::serve_tls(listener, tls, app, stats));
    if let Some(join) = &args.join {
        let control_plane = crate::agent_join::parse_join(join)?;
        let request = larder_agent_link::JoinRequest {
            link: crate::agent_join::link_address(listen, &args.advertise_host),
            zone: args.zone.clone(),
            address: args.advertise_host.clone(),
            fingerprint,
        };
        tokio::spawn(crate::agent_join::announce_forever(
            control_plane,
            secret_for_join,
            request,
        ));
    }
    let stop_nodes = tokio::select! {
        _ = terminate_signal() => false,
        _ = stop_rx.recv() => true,
        r = server => {
            files.withdraw(pid);
            return Err(format!("agent service ended: {r:?}"));
        }
    };
    files.withdraw(pid);
    if stop_nodes {
        tracing::info!("stopping every node and endpoint, as asked");
        agent.stop_all().await;
    } else {
        tracing::info!("agent stopping; nodes keep running");
    }
    // Long polls of a control plane may still be open: leave without waiting for them.
    std::process::exit(0);
}

/// The names the agent's certificate carries: the advertised address and the
/// address it listens on (for a person or `openssl s_client` reading it; the control
/// plane checks the fingerprint, not a name).
fn certificate_names(args: &RunArgs, listen: SocketAddr) -> Vec<String> {
    let mut names = vec![args.advertise_host.clone()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.dedup();
    names
}

async fn terminate_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Stops the agent of `data_dir` and waits for it to exit.
pub async fn stop(data_dir: &std::path::Path) -> Result<(), String> {
    let files = AgentFiles::new(data_dir);
    let Some(announced) = files.announced() else {
        println!("no agent runs on {}", data_dir.display());
        return Ok(());
    };
    let Some(agent) = connect(data_dir).await? else {
        return Err(format!(
            "the agent announced at {} (pid {}) does not answer",
            announced.listen, announced.pid
        ));
    };
    agent.stop().await.map_err(|e| e.to_string())?;
    for _ in 0..600 {
        if !larder_agent::process_is_alive(announced.pid) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!("agent pid {} did not exit", announced.pid))
}
