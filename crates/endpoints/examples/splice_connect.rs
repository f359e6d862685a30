//! What the kernel splice costs a TCP connection that has nothing to do with Larder:
//! connect() latency to a plain loopback listener while 0, 10 and 50 spliced primary
//! endpoints run in this process (the splice's `sock_ops` program sees every TCP
//! connection on the host, so this is a cost every process on the host pays).
//!
//! `cargo run --release -p larder-endpoints --example splice_connect -- \
//!     --primary 127.0.0.1:6379 [--connects 5000] [--endpoints 0,10,50,0]`
//!
//! Prints one line per configuration: endpoints, median and p99 in microseconds.
//! Needs root for the splice (without it the endpoints serve in userspace and the
//! numbers show no splice at all; the output says which).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use larder_endpoints::{EndpointOptions, EndpointRole, KernelSplice, RedisEndpoint, RedisTargets};

fn usage() -> ! {
    eprintln!("usage: splice_connect --primary HOST:PORT [--connects N] [--endpoints 0,10,50,0]");
    std::process::exit(2);
}

/// Closes with a reset, so thousands of connects leave no TIME_WAIT sockets behind
/// to slow the later ones down.
fn close_with_reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the stated size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Microseconds per connect() to `port`, sorted.
fn measure(port: u16, connects: usize) -> io::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(connects);
    for _ in 0..connects {
        let t0 = Instant::now();
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        samples.push(t0.elapsed().as_secs_f64() * 1e6);
        close_with_reset(stream);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() -> io::Result<()> {
    let (mut primary, mut connects, mut counts) = (None, 5000usize, vec![0usize, 10, 50, 0]);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--primary" => primary = Some(value),
            "--connects" => connects = value.parse().unwrap_or_else(|_| usage()),
            "--endpoints" => {
                counts = value
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            _ => usage(),
        }
    }
    let primary = primary.unwrap_or_else(|| usage());
    // The unrelated service: accepts and forgets.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = EndpointOptions {
        kernel_splice: KernelSplice::Auto,
        ..EndpointOptions::default()
    };
    // Warm-up: the first connects pay for page faults and caches.
    measure(port, connects / 5)?;
    for &count in &counts {
        let endpoints = runtime.block_on(async {
            let mut endpoints = Vec::new();
            for _ in 0..count {
                let targets = RedisTargets {
                    generation: 1,
                    primary: Some(primary.clone()),
                    replicas: Vec::new(),
                };
                endpoints.push(
                    RedisEndpoint::start_with(
                        "127.0.0.1",
                        0,
                        EndpointRole::Primary,
                        targets,
                        options,
                    )
                    .await?,
                );
            }
            // Let the standby pools fill, as on a daemon that has been up a while.
            tokio::time::sleep(Duration::from_millis(500 + 20 * count as u64)).await;
            io::Result::Ok(endpoints)
        })?;
        let spliced = endpoints
            .iter()
            .filter(|e| e.splice_stats().is_some())
            .count();
        let samples = measure(port, connects)?;
        println!(
            "endpoints {count} spliced {spliced} median_us {:.2} p99_us {:.2}",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
        drop(endpoints);
        // Dropped endpoints detach in the background; give that a moment.
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}
