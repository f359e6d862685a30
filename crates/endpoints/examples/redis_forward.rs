//! Runs one Redis primary endpoint standalone, for benchmarks and manual tests:
//!
//! `cargo run --release -p larder-endpoints --example redis_forward -- \
//!     --listen 127.0.0.1:7000 --primary 127.0.0.1:6379 [--threads N]`
//!
//! `--threads 1` (the default) uses a current-thread runtime: on a small box the
//! load generator and the engine need the other cores, and one thread avoids
//! cross-thread wake-ups.

use larder_endpoints::{EndpointRole, RedisEndpoint, RedisTargets};

fn usage() -> ! {
    eprintln!("usage: redis_forward --listen HOST:PORT --primary HOST:PORT [--threads N]");
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let (mut listen, mut primary, mut threads) = (None, None, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--primary" => primary = Some(value),
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (Some(listen), Some(primary)) = (listen, primary) else {
        usage()
    };
    let (host, port) = listen.rsplit_once(':').unwrap_or_else(|| usage());
    let port: u16 = port.parse().unwrap_or_else(|_| usage());
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let targets = RedisTargets {
            generation: 1,
            primary: Some(primary.clone()),
            replicas: Vec::new(),
        };
        let endpoint = RedisEndpoint::start(host, port, EndpointRole::Primary, targets).await?;
        println!(
            "forwarding {host}:{} -> {primary} ({threads} thread(s))",
            endpoint.port()
        );
        tokio::signal::ctrl_c().await?;
        endpoint.shutdown();
        Ok(())
    })
}
