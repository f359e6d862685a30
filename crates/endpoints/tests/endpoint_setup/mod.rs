//! Starting Redis endpoints for the shared cases the way the including test
//! binary serves clients (`crate::endpoint_options`), and checking that clients
//! the kernel splice should carry really were spliced.

use std::sync::atomic::Ordering;

use larder_endpoints::{EndpointRole, KernelSplice, RedisEndpoint, RedisTargets};

use crate::redis_support::{wait_until, Redis};

/// Targets naming these nodes.
pub fn targets(generation: u64, primary: Option<&Redis>, replicas: &[&Redis]) -> RedisTargets {
    RedisTargets {
        generation,
        primary: primary.map(Redis::addr),
        replicas: replicas.iter().map(|r| r.addr()).collect(),
    }
}

/// A settled primary endpoint for `node`.
pub async fn primary_endpoint(node: &Redis) -> RedisEndpoint {
    start(EndpointRole::Primary, targets(1, Some(node), &[])).await
}

/// An endpoint of `role`, settled (see `settle`).
pub async fn start(role: EndpointRole, t: RedisTargets) -> RedisEndpoint {
    let ep = start_unsettled(role, t).await;
    settle(&ep).await;
    ep
}

/// As `start`, for targets no standby can be opened to.
pub async fn start_unsettled(role: EndpointRole, t: RedisTargets) -> RedisEndpoint {
    let options = crate::endpoint_options();
    let ep = RedisEndpoint::start_with("127.0.0.1", 0, role, t, options)
        .await
        .unwrap();
    if options.kernel_splice == KernelSplice::Auto {
        assert!(
            ep.splice_stats().is_some(),
            "the kernel splice must be available where the tests run (root, cgroup v2)"
        );
    }
    ep
}

/// With the kernel splice, waits until standbys for the current targets are on
/// offer, so the clients a case connects next are really spliced; without it (or
/// with no target to connect to) returns at once.
pub async fn settle(ep: &RedisEndpoint) {
    let Some(stats) = ep.splice_stats() else {
        return;
    };
    let generation = ep.targets().generation;
    if ep.targets().primary.is_none() {
        return;
    }
    wait_until(|| {
        stats.generation.load(Ordering::Relaxed) == generation
            && stats.standby.load(Ordering::Relaxed) >= 8
    })
    .await;
}

/// With the kernel splice, waits until the endpoint has spliced at least `clients`
/// clients in all; without it, checks nothing.
pub async fn expect_spliced(ep: &RedisEndpoint, clients: u64) {
    if crate::endpoint_options().kernel_splice == KernelSplice::Off {
        return;
    }
    let stats = ep.splice_stats().expect("kernel splice available");
    wait_until(|| stats.connections.load(Ordering::Relaxed) >= clients).await;
}
