//! Runs one Redis primary endpoint standalone, for benchmarks and manual tests:
//!
//! `cargo run --release -p larder-endpoints --example redis_forward -- \
//!     --listen 127.0.0.1:7000 --primary 127.0.0.1:6379 [--multiplexing on|off]`
//!
//! The endpoint runs on the crate's own data-plane thread, as in the daemon.

use larder_endpoints::{EndpointRole, Multiplexing, RedisEndpoint, RedisTargets};

fn usage() -> ! {
    eprintln!(
        "usage: redis_forward --listen HOST:PORT --primary HOST:PORT [--multiplexing on|off]"
    );
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let (mut listen, mut primary, mut multiplexing) = (None, None, Multiplexing::On);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--primary" => primary = Some(value),
            "--multiplexing" => {
                multiplexing = match value.as_str() {
                    "on" => Multiplexing::On,
                    "off" => Multiplexing::Off,
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
            RedisEndpoint::start_with(host, port, EndpointRole::Primary, targets, multiplexing)
                .await?;
        println!(
            "forwarding {host}:{} -> {primary} (multiplexing {multiplexing:?})",
            endpoint.port()
        );
        tokio::signal::ctrl_c().await?;
        endpoint.shutdown();
        Ok(())
    })
}
