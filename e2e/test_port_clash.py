"""A node port that another program grabs between CreateCacheCluster and the node's
start: the node moves to a free port instead of failing forever."""

from __future__ import annotations

import socket

import pytest
import redis

from harness import describe, wait_status


@pytest.mark.larder_args("--workflow-step-delay-ms", "600")
def test_node_moves_off_a_port_taken_by_someone_else(larder, ec):
    ec.create_cache_cluster(CacheClusterId="clash", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    taken = describe(ec, "clash")["CacheNodes"][0]["Endpoint"]["Port"]
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", taken))
    squatter.listen(1)
    try:
        c = wait_status(ec, "clash", timeout=60)
        port = c["CacheNodes"][0]["Endpoint"]["Port"]
        assert port != taken
        r = redis.Redis(host=c["CacheNodes"][0]["Endpoint"]["Address"], port=port, socket_timeout=5)
        assert r.set("k", "v") and r.get("k") == b"v"
    finally:
        squatter.close()
