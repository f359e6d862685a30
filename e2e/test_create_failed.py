"""A node whose engine refuses to start: the create is tried a few times with backoff,
then the cluster (and a group around it) ends `create-failed`, the events carry the
engine's own reason, and the failed resource can be deleted with nothing left behind.

The engine is the real redis-server, started through a `redis-server` earlier on the
daemon's PATH that adds a directive redis-server rejects, so every start really fails
the way a node with parameters the engine refuses does."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from harness import Larder, event_messages, wait_event, wait_gone, wait_status, wait_until
from test_replication_groups import (
    create_group,
    group_events,
    wait_group,
    wait_group_gone,
)

# Three attempts 50-100 ms apart, so the test waits well under a second for the verdict.
FAST_RETRY = ("--node-step-attempts", "3", "--node-step-backoff-ms", "50",
              "--node-step-backoff-max-ms", "100")
# What redis-server says about a directive it does not know.
REASON = "Bad directive or wrong number of arguments"


def _refusing_redis(bin_dir) -> None:
    real = shutil.which("redis-server")
    assert real, "redis-server must be installed"
    bin_dir.mkdir()
    wrapper = bin_dir / "redis-server"
    # `--version` (engine discovery) answers as the real one; a node start gets one
    # more directive, which the real redis-server refuses before it listens.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then exec {real} --version; fi\n'
        f'exec {real} "$@" --larder-test-no-such-directive yes\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def refusing(request, tmp_path):
    """A daemon whose redis-server refuses every node start (memcached is untouched)."""
    _refusing_redis(tmp_path / "bin")
    daemon = Larder(tmp_path, list(FAST_RETRY))
    daemon.env_extra["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        daemon.start()
        yield daemon
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n---- larder log ({daemon.log_path}) ----\n{daemon.log_tail(80)}")
        daemon.cleanup()


def test_a_cluster_whose_node_cannot_start_ends_create_failed_and_is_deletable(refusing):
    ec = refusing.client()
    ec.create_cache_cluster(CacheClusterId="doomed", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    # A memcached cluster beside it is not affected by the failing engine.
    ec.create_cache_cluster(CacheClusterId="fine", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)

    c = wait_status(ec, "doomed", "create-failed", timeout=60)
    assert [n["CacheNodeStatus"] for n in ec.describe_cache_clusters(
        CacheClusterId="doomed", ShowCacheNodeInfo=True)["CacheClusters"][0]["CacheNodes"]] \
        == ["create-failed"], c
    wait_status(ec, "fine", "available", timeout=30)

    events = event_messages(ec, "doomed")
    retries = [m for m in events if "(attempt " in m]
    assert len(retries) == 2, events
    assert all(REASON in m for m in retries), retries
    final = wait_event(ec, "doomed", r"Failed to create cache node 0001 after 3 attempts")
    assert REASON in final and "create-failed" in final, final

    ec.delete_cache_cluster(CacheClusterId="doomed")
    wait_gone(ec, "doomed", timeout=30)
    assert not refusing.node_dir("doomed", "0001").exists(), "data of the failed node left behind"
    wait_event(ec, "doomed", r"^Cache cluster deleted$")
    # Only the memcached node still runs.
    wait_until(lambda: len(refusing.owned_pids()) == 1, 10, what="only the memcached node left")


def test_a_group_whose_members_cannot_start_ends_create_failed_and_is_deletable(refusing):
    ec = refusing.client()
    create_group(ec, "doomedrg", members=2)
    g = wait_group(ec, "doomedrg", "create-failed", timeout=60)
    assert sorted(g["MemberClusters"]) == ["doomedrg-001", "doomedrg-002"]
    for m in g["MemberClusters"]:
        wait_status(ec, m, "create-failed", timeout=10)
        wait_event(ec, m, r"after 3 attempts: .*" + REASON)
    assert any("Replication group creation failed" in m for m in group_events(ec, "doomedrg")), \
        group_events(ec, "doomedrg")

    ec.delete_replication_group(ReplicationGroupId="doomedrg")
    wait_group_gone(ec, "doomedrg", timeout=30)
    for m in g["MemberClusters"]:
        wait_gone(ec, m, timeout=10)
    wait_until(lambda: not refusing.owned_pids(), 10, what="no node process left")
