//! Runs one Redis primary endpoint standalone, for benchmarks and manual tests:
//!
//! `cargo run --release -p larder-endpoints --example redis_forward -- \
//!     --listen 127.0.0.1:7000 --primary 127.0.0.1:6379 [--multiplexing on|off] [--kernel-splice auto|off]`
//!
//! The endpoint runs on the crate's own data-plane thread, as in the daemon.

use larder_endpoints::{
    EndpointOptions, EndpointRole, KernelSplice, Multiplexing, RedisEndpoint, RedisTargets,
};

fn usage() -> ! {
    eprintln!(
        "usage: redis_forward --listen HOST:PORT --primary HOST:PORT [--multiplexing on|off] [--kernel-splice auto|off]"
    );
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let (mut listen, mut primary) = (None, None);
    let mut options = EndpointOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--primary" => primary = Some(value),
            "--multiplexing" => {
                options.multiplexing = match value.as_str() {
                    "on" => Multiplexing::On,
                    "off" => Multiplexing::Off,
                    _ => usage(),
                }
            }
            "--kernel-splice" => {
                options.kernel_splice = match value.as_str() {
                    "auto" => KernelSplice::Auto,
                    "off" => KernelSplice::Off,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    let (Some(listen), Some(primary)) = (listen, primary) else {
        usage()
    };
    let (host, port) = listen.rsplit_once(':').unwrap_or_else(|| usage());
    let port: u16 = port.parse().unwrap_or_else(|_| usage());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let targets = RedisTargets {
            generation: 1,
            primary: Some(primary.clone()),
            replicas: Vec::new(),
        };
        let endpoint =
            RedisEndpoint::start_with(host, port, EndpointRole::Primary, targets, options).await?;
        println!(
            "forwarding {host}:{} -> {primary} ({options:?}, spliced: {})",
            endpoint.port(),
            endpoint.splice_stats().is_some()
        );
        tokio::signal::ctrl_c().await?;
        endpoint.shutdown();
        Ok(())
    })
}
