//! `larder`: the self-hosted ElastiCache daemon and its helper commands.

mod agent_daemon;
mod agent_files;
mod agent_join;
mod agents_cmd;
mod config;
mod fd_limit;
mod hosts_route;
mod local_agent;
mod server;

use clap::{Parser, Subcommand};

/// Larder: ElastiCache on your own machines.
#[derive(Parser)]
#[command(name = "larder", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: the ElastiCache API and the controller. It joins this
    /// host's agent, or starts it as a process of its own.
    Server(Box<config::ServerArgs>),
    /// This host's node agent: runs nodes and endpoints, outlives the server.
    #[command(subcommand)]
    Agent(agent_daemon::AgentCommand),
    /// List the hosts (agents) a running control plane knows, with their zones,
    /// addresses and health.
    Agents(agents_cmd::AgentsArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LARDER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Agents(args) => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(agents_cmd::run(args)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("larder: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Agent(command) => {
            // Endpoints hold two descriptors per client.
            let fds = fd_limit::raise_to_hard();
            tracing::debug!(open_file_limit = ?fds, "open-file limit");
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(agent_daemon::run(command)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("larder: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Server(args) => {
            // Before the config is resolved: the endpoints' default caps read it.
            let fds = fd_limit::raise_to_hard();
            tracing::debug!(open_file_limit = ?fds, "open-file limit");
            let config = match (*args).resolve() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("larder: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(server::run(config)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("larder: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
