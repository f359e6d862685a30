"""Crashes: engine processes dying, the daemon dying mid-workflow, adoption and clean shutdown."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from pymemcache.client.base import Client as Memcache

from harness import (
    node_endpoints,
    pid_alive,
    pids_listening_on,
    wait_event,
    wait_gone,
    wait_status,
    wait_until,
)


def _redis(addr) -> redis.Redis:
    return redis.Redis(host=addr[0], port=addr[1], socket_timeout=3, decode_responses=True)


def _node_pids(larder, c) -> dict[str, int]:
    return {nid: larder.node_pid(c, nid) for nid in node_endpoints(c)}


def test_killed_node_is_recovered_on_the_same_port(larder, ec):
    ec.create_cache_cluster(CacheClusterId="fragile", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "fragile", timeout=30)
    addr = node_endpoints(c)["0001"]
    old = larder.node_pid(c, "0001")
    assert _redis(addr).set("before", "1")

    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old), 5, what="killed node to exit")
    new = wait_until(lambda: (pids_listening_on(addr[1]) - {larder.pid, larder.agent_pid}) or None, 15,
                     what="node process back on its port")
    assert old not in new and len(new) == 1
    r = _redis(addr)
    assert wait_until(lambda: r.ping(), 10, what="PING after recovery")
    assert r.set("after", "2") and r.get("after") == "2"

    wait_event(ec, "fragile", r"Recovering cache nodes 0001")
    wait_event(ec, "fragile", r"Finished recovery for cache nodes 0001")
    c = wait_status(ec, "fragile", timeout=15)
    assert [n["CacheNodeStatus"] for n in c["CacheNodes"]] == ["available"]


def test_killed_memcached_node_recovers_and_discovery_is_unchanged(larder, ec):
    ec.create_cache_cluster(CacheClusterId="mcfrag", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    c = wait_status(ec, "mcfrag", timeout=30)
    addr = node_endpoints(c)["0002"]
    old = larder.node_pid(c, "0002")
    os.kill(old, signal.SIGKILL)
    wait_event(ec, "mcfrag", r"Finished recovery for cache nodes 0002")
    client = Memcache(addr, connect_timeout=3, timeout=3)
    assert wait_until(lambda: client.set("x", b"1") and client.get("x") == b"1", 10,
                      what="memcached node 0002 answering again")
    assert larder.node_pid(wait_status(ec, "mcfrag"), "0002") != old


@pytest.mark.larder_args("--workflow-step-delay-ms", "400")
def test_daemon_killed_during_create_resumes(larder, ec):
    ec.create_cache_cluster(CacheClusterId="halfborn", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=3)
    # Kill the daemon once the first node runs: node steps are 400 ms apart, so the
    # create is then between two of them.
    wait_until(lambda: larder.owned_pids() or None, 15, what="the first node process")
    assert ec.describe_cache_clusters(CacheClusterId="halfborn")["CacheClusters"][0][
        "CacheClusterStatus"] == "creating"
    larder.kill9()
    half = larder.owned_pids()
    assert 1 <= len(half) < 3, f"create was not interrupted between nodes: {half}"

    larder.restart(kill9=True, extra_args=[])
    ec = larder.client()
    c = wait_status(ec, "halfborn", timeout=60)
    assert sorted(node_endpoints(c)) == ["0001", "0002", "0003"]
    pids = _node_pids(larder, c)
    assert len(set(pids.values())) == 3
    # The nodes running before the crash were adopted (same processes), not replaced.
    assert half <= set(pids.values()), (half, pids)
    # Exactly the three node processes, nothing orphaned (any half-started node was
    # adopted or replaced, not duplicated).
    time.sleep(1)
    assert larder.owned_pids() == set(pids.values()), (larder.owned_pids(), pids)
    for addr in node_endpoints(c).values():
        client = Memcache(addr, connect_timeout=3, timeout=3)
        assert client.set("k", b"v") and client.get("k") == b"v"


@pytest.mark.larder_args("--workflow-step-delay-ms", "400")
def test_daemon_killed_during_delete_resumes(larder, ec):
    ec.create_cache_cluster(CacheClusterId="doomed", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=3)
    c = wait_status(ec, "doomed", timeout=60)
    node_dirs = [larder.node_dir("doomed", nid) for nid in node_endpoints(c)]
    assert all(d.is_dir() for d in node_dirs), node_dirs
    ec.delete_cache_cluster(CacheClusterId="doomed")
    time.sleep(0.5)
    larder.kill9()
    # The last node stop cannot have happened yet (three steps, 400 ms apart).
    assert larder.owned_pids(), "delete finished before the daemon was killed"

    larder.restart(kill9=True, extra_args=[])
    ec = larder.client()
    wait_gone(ec, "doomed", timeout=60)
    wait_until(lambda: not larder.owned_pids(), 10, what="no node processes left")
    assert [d for d in node_dirs if d.exists()] == []
    assert ec.describe_cache_clusters()["CacheClusters"] == []


def test_daemon_sigkill_leaves_nodes_and_restart_adopts_them(larder, ec):
    ec.create_cache_cluster(CacheClusterId="keeper", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "keeper", timeout=30)
    addr = node_endpoints(c)["0001"]
    pid = larder.node_pid(c, "0001")
    r = _redis(addr)
    r.set("precious", "cargo")

    larder.kill9()
    assert pid_alive(pid), "SIGKILL of the daemon must not take the node down"
    assert r.get("precious") == "cargo"

    larder.restart(kill9=True, extra_args=[])
    ec = larder.client()
    c = wait_status(ec, "keeper", timeout=30)
    time.sleep(2)  # give a wrongly-restarting controller time to show itself
    c = wait_status(ec, "keeper", timeout=5)
    assert larder.node_pid(c, "0001") == pid
    assert node_endpoints(c)["0001"] == addr
    assert _redis(addr).get("precious") == "cargo"
    assert larder.owned_pids() == {pid}
    # still managed: a delete after adoption really removes the adopted process
    ec.delete_cache_cluster(CacheClusterId="keeper")
    wait_gone(ec, "keeper", timeout=30)
    assert wait_until(lambda: not pid_alive(pid), 10, what="adopted node stopped by delete")


def test_sigterm_stops_the_server_alone_and_a_new_one_joins_the_running_agent(larder, ec):
    """The nodes belong to the agent: a clean stop of `larder server` leaves them (and
    the agent) running and serving, and the next server adopts them unchanged."""
    ec.create_cache_cluster(CacheClusterId="calm", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    c = wait_status(ec, "calm", timeout=30)
    pids = _node_pids(larder, c)
    agent = larder.agent_pid

    rc = larder.terminate(timeout=15)
    assert rc == 0, f"exit code {rc}"
    assert pid_alive(agent), "the agent stopped with the server"
    assert all(pid_alive(p) for p in pids.values()), "a node stopped with the server"
    for addr in node_endpoints(c).values():
        client = Memcache(addr, connect_timeout=3, timeout=3)
        assert client.set("k", b"v") and client.get("k") == b"v", f"{addr} not serving"

    larder.start(extra_args=[])
    ec = larder.client()
    c2 = wait_status(ec, "calm", timeout=30)
    assert larder.agent_pid == agent
    assert _node_pids(larder, c2) == pids
    assert "joined the running agent" in larder.log_tail(400)


@pytest.mark.larder_args("--stop-agent-on-exit")
def test_stop_agent_on_exit_stops_nodes_then_restart_brings_them_back(larder, ec):
    ec.create_cache_cluster(CacheClusterId="calm", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    c = wait_status(ec, "calm", timeout=30)
    pids = _node_pids(larder, c)
    agent = larder.agent_pid

    rc = larder.terminate(timeout=30)
    assert rc == 0, f"exit code {rc}"
    assert wait_until(lambda: not any(pid_alive(p) for p in [agent, *pids.values()]), 10,
                      what="agent and node processes stopped with the daemon")
    assert larder.owned_pids(include_daemon=True) == set()

    larder.start(extra_args=[])
    ec = larder.client()
    c2 = wait_status(ec, "calm", timeout=30)
    assert node_endpoints(c2) == node_endpoints(c)
    for addr in node_endpoints(c2).values():
        client = Memcache(addr, connect_timeout=3, timeout=3)
        assert wait_until(lambda: client.set("k", b"v") and client.get("k") == b"v", 10,
                          what=f"node {addr} serving after restart")
