//! `larder`: the self-hosted ElastiCache daemon and its helper commands.

mod config;
mod fd_limit;
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
    /// Run the control plane: the ElastiCache API, the controller and the node agent.
    Server(config::ServerArgs),
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
        Command::Server(args) => {
            // Before the config is resolved: the endpoints' default caps read it.
            let fds = fd_limit::raise_to_hard();
            tracing::debug!(open_file_limit = ?fds, "open-file limit");
            let config = match args.resolve() {
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
