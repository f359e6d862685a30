"""Memcached cache clusters: nodes, auto discovery, scaling out and in, pending changes."""

from __future__ import annotations

import time

from pymemcache.client.base import Client as Memcache

from harness import (
    describe,
    maintenance_window,
    node_endpoints,
    pid_alive,
    pids_listening_on,
    wait_event,
    wait_status,
    wait_until,
)
from memcache_wire import config_get_cluster, get_cluster_key, memcached_raw


def mc(addr: tuple[str, int]) -> Memcache:
    return Memcache(addr, connect_timeout=5, timeout=5)


def config_endpoint(c: dict) -> tuple[str, int]:
    ep = c["ConfigurationEndpoint"]
    return ep["Address"], ep["Port"]


def assert_discovery_matches(c: dict) -> int:
    """Configuration endpoint and every node agree with DescribeCacheClusters; returns version."""
    version, nodes, data = config_get_cluster(*config_endpoint(c))
    described = sorted((a, p) for a, p in node_endpoints(c).values())
    assert sorted((host, port) for host, _ip, port in nodes) == described
    for host, ip, _port in nodes:
        assert ip.count(".") == 3 and all(part.isdigit() for part in ip.split(".")), ip
    for addr in node_endpoints(c).values():
        assert wait_until(lambda: get_cluster_key(*addr) == data, 8,
                          what=f"AmazonElastiCache:cluster on {addr} to match the config endpoint")
    return version


def test_memcached_cluster_with_auto_discovery(larder, ec, aws):
    out = aws("create-cache-cluster", "--cache-cluster-id", "sessions", "--engine", "memcached",
              "--cache-node-type", "cache.t4g.micro", "--num-cache-nodes", "3")
    assert out["CacheCluster"]["CacheClusterStatus"] == "creating"
    c = wait_status(ec, "sessions", timeout=30)
    assert c["NumCacheNodes"] == 3
    assert sorted(node_endpoints(c)) == ["0001", "0002", "0003"]
    assert all(n["CacheNodeStatus"] == "available" for n in c["CacheNodes"])
    assert len({p for _, p in node_endpoints(c).values()} | {config_endpoint(c)[1]}) == 4

    # Every node is a working memcached of its own.
    for node_id, addr in node_endpoints(c).items():
        client = mc(addr)
        client.set(f"k-{node_id}", f"v-{node_id}".encode())
        assert client.get(f"k-{node_id}") == f"v-{node_id}".encode()
        for other_id, other in node_endpoints(c).items():
            if other_id != node_id:
                assert mc(other).get(f"k-{node_id}") is None, "nodes must not share data"

    # Auto discovery, byte-exact, and the same block on each node.
    v1 = assert_discovery_matches(c)
    assert len(config_get_cluster(*config_endpoint(c))[1]) == 3

    # Ordinary commands through the configuration endpoint reach a node.
    cfg = mc(config_endpoint(c))
    cfg.set("via-config", b"yes")
    assert cfg.get("via-config") == b"yes"
    assert sum(mc(a).get("via-config") == b"yes" for a in node_endpoints(c).values()) == 1
    assert memcached_raw(*config_endpoint(c), b"version\r\n", b"\r\n").startswith(b"VERSION ")

    # The discovery key comes back after someone deletes it.
    first = node_endpoints(c)["0001"]
    mc(first).delete("AmazonElastiCache:cluster")
    assert wait_until(lambda: get_cluster_key(*first) is not None, 8,
                      what="AmazonElastiCache:cluster restored")

    # --- scale out to 5
    resp = ec.modify_cache_cluster(CacheClusterId="sessions", NumCacheNodes=5, ApplyImmediately=True)
    assert resp["CacheCluster"]["CacheClusterStatus"] == "modifying"
    c = wait_status(ec, "sessions", timeout=60)
    assert c["NumCacheNodes"] == 5
    assert sorted(node_endpoints(c)) == ["0001", "0002", "0003", "0004", "0005"]
    v2 = assert_discovery_matches(c)
    assert v2 > v1
    wait_event(ec, "sessions", r"Added cache node 0005 in availability zone us-east-1")
    # Data on the surviving nodes is untouched by scaling.
    assert mc(node_endpoints(c)["0003"]).get("k-0003") == b"v-0003"

    # --- remove two particular nodes
    doomed = {nid: addr for nid, addr in node_endpoints(c).items() if nid in ("0002", "0004")}
    doomed_pids = {nid: larder.node_pid(c, nid) for nid in doomed}
    resp = ec.modify_cache_cluster(CacheClusterId="sessions", NumCacheNodes=3,
                                   CacheNodeIdsToRemove=["0002", "0004"], ApplyImmediately=True)
    assert resp["CacheCluster"]["CacheClusterStatus"] == "modifying"
    c = wait_status(ec, "sessions", timeout=60)
    assert c["NumCacheNodes"] == 3
    assert sorted(node_endpoints(c)) == ["0001", "0003", "0005"]
    v3 = assert_discovery_matches(c)
    assert v3 > v2
    for nid, (_host, port) in doomed.items():
        assert not pid_alive(doomed_pids[nid]), f"node {nid} process still running"
        assert pids_listening_on(port) == set(), f"something still listens on {nid}'s port {port}"
        assert not larder.node_dir("sessions", nid).exists()
    removed = [m for m in _events(ec, "sessions") if "Removed cache nodes" in m]
    assert any("0002" in m for m in removed) and any("0004" in m for m in removed), removed
    assert mc(node_endpoints(c)["0001"]).get("k-0001") == b"v-0001"


def _events(ec, cid):
    return [e["Message"] for e in ec.describe_events(SourceType="cache-cluster",
                                                       SourceIdentifier=cid, Duration=60)["Events"]]


def test_apply_later_is_pending_until_maintenance(larder, ec):
    # A window that starts in two hours, so the change cannot be due while the test runs.
    ec.create_cache_cluster(CacheClusterId="later", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=2,
                            PreferredMaintenanceWindow=maintenance_window(120))
    c = wait_status(ec, "later", timeout=30)
    version, _, _ = config_get_cluster(*config_endpoint(c))
    resp = ec.modify_cache_cluster(CacheClusterId="later", NumCacheNodes=4, ApplyImmediately=False)
    assert resp["CacheCluster"]["PendingModifiedValues"].get("NumCacheNodes") == 4
    time.sleep(2)
    c = wait_status(ec, "later", timeout=5)
    assert c["PendingModifiedValues"].get("NumCacheNodes") == 4
    assert c["NumCacheNodes"] == 2
    assert sorted(node_endpoints(c)) == ["0001", "0002"]
    assert config_get_cluster(*config_endpoint(c))[0] == version
    assert c.get("PreferredMaintenanceWindow"), "a pending change needs a maintenance window"

    # Move the window over now: the change is applied by itself.
    ec.modify_cache_cluster(CacheClusterId="later", PreferredMaintenanceWindow=maintenance_window(-10))
    wait_until(lambda: describe(ec, "later")["NumCacheNodes"] == 4, 30, what="pending change applied in the window")
    c = wait_status(ec, "later", timeout=30)
    assert not c["PendingModifiedValues"].get("NumCacheNodes")
    assert sorted(node_endpoints(c)) == ["0001", "0002", "0003", "0004"]
    assert config_get_cluster(*config_endpoint(c))[0] > version


def test_cli_remove_nodes(larder, ec, aws):
    aws("create-cache-cluster", "--cache-cluster-id", "shrink", "--engine", "memcached",
        "--cache-node-type", "cache.t4g.micro", "--num-cache-nodes", "3")
    wait_status(ec, "shrink", timeout=30)
    out = aws("modify-cache-cluster", "--cache-cluster-id", "shrink", "--num-cache-nodes", "2",
              "--cache-node-ids-to-remove", "0001", "--apply-immediately")
    assert out["CacheCluster"]["CacheClusterStatus"] == "modifying"
    c = wait_status(ec, "shrink", timeout=60)
    assert sorted(node_endpoints(c)) == ["0002", "0003"]
    assert len(config_get_cluster(*config_endpoint(c))[1]) == 2
