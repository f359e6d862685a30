"""A single-node Redis cache cluster through its whole life: create, use, scale, reboot, delete."""

from __future__ import annotations

import botocore.exceptions
import pytest
import redis

from harness import (
    describe,
    error_code,
    event_messages,
    node_endpoints,
    pid_alive,
    pids_listening_on,
    pids_under,
    wait_event,
    wait_gone,
    wait_status,
    wait_until,
)

GIB = 1024 ** 3
# Memory ElastiCache publishes for these node types (GiB); Redis gets 75% as maxmemory.
MEMORY_GIB = {"cache.t4g.micro": 0.5, "cache.t4g.small": 1.37, "cache.t4g.medium": 3.09}


def expected_maxmemory(node_type: str) -> int:
    return int(MEMORY_GIB[node_type] * GIB * 0.75)


def connect(cluster: dict) -> redis.Redis:
    host, port = node_endpoints(cluster)["0001"]
    return redis.Redis(host=host, port=port, socket_timeout=5, decode_responses=True)


def maxmemory(r: redis.Redis) -> int:
    return int(r.info("memory")["maxmemory"])


def test_redis_lifecycle(larder, ec):
    resp = ec.create_cache_cluster(CacheClusterId="shop", Engine="redis",
                                   CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    assert resp["CacheCluster"]["CacheClusterStatus"] == "creating"
    assert resp["CacheCluster"]["Engine"] == "redis"

    c = wait_status(ec, "shop", timeout=30)
    assert c["NumCacheNodes"] == 1
    assert c["CacheNodeType"] == "cache.t4g.micro"
    (node,) = c["CacheNodes"]
    assert node["CacheNodeId"] == "0001"
    assert node["CacheNodeStatus"] == "available"
    assert node["CacheNodeCreateTime"] is not None
    assert node["CustomerAvailabilityZone"].startswith("us-east-1")
    assert node["Endpoint"]["Address"] == "127.0.0.1"
    lo, hi = larder.node_ports
    assert lo <= node["Endpoint"]["Port"] <= hi
    assert "ConfigurationEndpoint" not in c or c["ConfigurationEndpoint"] is None
    assert any("Cache cluster created" in m for m in event_messages(ec, "shop"))

    r = connect(c)
    assert r.set("basket:1", "apples")
    assert r.get("basket:1") == "apples"
    assert maxmemory(r) == expected_maxmemory("cache.t4g.micro") == 402653184

    # --- scale up the node type
    allowed = ec.list_allowed_node_type_modifications(CacheClusterId="shop")
    assert "cache.t4g.medium" in allowed["ScaleUpModifications"]
    assert "cache.t4g.micro" not in allowed["ScaleUpModifications"]
    resp = ec.modify_cache_cluster(CacheClusterId="shop", CacheNodeType="cache.t4g.medium",
                                   ApplyImmediately=True)
    assert resp["CacheCluster"]["CacheClusterStatus"] == "modifying"
    c = wait_status(ec, "shop", timeout=60)
    assert c["CacheNodeType"] == "cache.t4g.medium"
    assert not c.get("PendingModifiedValues"), c.get("PendingModifiedValues")
    r = connect(c)
    assert wait_until(lambda: maxmemory(r) == expected_maxmemory("cache.t4g.medium"), 10,
                      what="maxmemory of cache.t4g.medium")

    # --- reboot the node: a new process on the same port
    old_pid = larder.node_pid(c, "0001")
    resp = ec.reboot_cache_cluster(CacheClusterId="shop", CacheNodeIdsToReboot=["0001"])
    assert resp["CacheCluster"]["CacheClusterStatus"] == "rebooting cache cluster nodes"
    c = wait_status(ec, "shop", timeout=60)
    wait_event(ec, "shop", r"Cache node 0001 restarted")
    new_pid = larder.node_pid(c, "0001")
    assert new_pid != old_pid and not pid_alive(old_pid)
    r = connect(c)
    assert r.ping()
    assert maxmemory(r) == expected_maxmemory("cache.t4g.medium")

    # --- delete: process, data and record all gone
    node_dir = larder.node_dir("shop", "0001")
    assert node_dir.is_dir(), f"expected node directory {node_dir}"
    port = node_endpoints(c)["0001"][1]
    resp = ec.delete_cache_cluster(CacheClusterId="shop")
    assert resp["CacheCluster"]["CacheClusterStatus"] == "deleting"
    wait_gone(ec, "shop", timeout=60)
    assert not pid_alive(new_pid)
    assert pids_listening_on(port) == set()
    assert pids_under(node_dir) == set()
    assert not node_dir.exists()
    with pytest.raises(botocore.exceptions.ClientError) as info:
        describe(ec, "shop")
    assert error_code(info.value) == "CacheClusterNotFound"
    wait_event(ec, "shop", r"Cache cluster deleted")


def test_redis_cli_create_and_describe(larder, aws):
    out = aws("create-cache-cluster", "--cache-cluster-id", "cli-redis", "--engine", "redis",
              "--cache-node-type", "cache.t4g.small", "--num-cache-nodes", "1")
    assert out["CacheCluster"]["CacheClusterId"] == "cli-redis"
    wait_status(larder.client(), "cli-redis", timeout=30)
    out = aws("describe-cache-clusters", "--cache-cluster-id", "cli-redis", "--show-cache-node-info")
    (c,) = out["CacheClusters"]
    assert c["CacheClusterStatus"] == "available"
    r = connect(c)
    assert maxmemory(r) == expected_maxmemory("cache.t4g.small")
    assert r.incr("hits") == 1
