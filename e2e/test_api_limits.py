"""Bounded API input and work: an oversized body gets an XML 413, a burst over the
concurrency cap gets `Throttling`, and slow calls (TestMigration probing a source that
never answers) do not hold up failure detection and failover of a replication group.

Everything runs on 127.0.0.1: the "slow source" is a local socket that accepts TCP
connections and never answers, so each probe waits out its read timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
import requests

from harness import pid_alive, signed_post, wait_until, xml_error_code
from test_replication_groups import (
    create_group,
    describe_group,
    member_pid,
    primary_endpoint,
    primary_id,
    rconn,
    wait_group,
    wait_roles_agree,
)


class SilentSource:
    """A local TCP listener that accepts connections, counts them and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._held.append(conn)

    def close(self):
        self._closed = True
        self.sock.close()
        with self._lock:
            for c in self._held:
                c.close()


@pytest.fixture
def silent_source():
    s = SilentSource()
    yield s
    s.close()


def test_migration_params(rg_id: str, port: int) -> dict:
    return {
        "Action": "TestMigration", "Version": "2015-02-02", "ReplicationGroupId": rg_id,
        "CustomerNodeEndpointList.member.1.Address": "127.0.0.1",
        "CustomerNodeEndpointList.member.1.Port": str(port),
    }


test_migration_params.__test__ = False  # a helper, not a test


def test_oversized_body_is_an_xml_413_and_changes_nothing(larder, ec):
    before = ec.describe_cache_clusters()["CacheClusters"]
    pad = "x" * (1 << 20)
    r = signed_post(larder.endpoint_url, {
        "Action": "CreateCacheCluster", "Version": "2015-02-02", "CacheClusterId": "big",
        "Engine": "redis", "CacheNodeType": "cache.t4g.micro", "NumCacheNodes": "1",
        "Tags.Tag.1.Key": "pad", "Tags.Tag.1.Value": pad,
    })
    assert r.status_code == 413, r.text[:300]
    assert r.headers["content-type"].startswith("text/xml")
    assert xml_error_code(r.text) == "RequestEntityTooLarge", r.text[:300]
    # Past axum's own 2 MiB default too: still our XML, not the framework's text.
    r = requests.post(larder.endpoint_url + "/", data=b"x" * (3 << 20), timeout=30)
    assert r.status_code == 413 and xml_error_code(r.text) == "RequestEntityTooLarge", r.text[:300]
    # Without a Content-Length (chunked), the body is cut off at the limit too.
    chunks = (b"Action=DescribeCacheClusters&" + b"x" * 65536 for _ in range(40))
    r = requests.post(larder.endpoint_url + "/", data=chunks, timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and xml_error_code(r.text) == "RequestEntityTooLarge", r.text[:300]
    # Just under the limit is read and answered on its merits (here: unsigned).
    r = requests.post(larder.endpoint_url + "/", data=b"x" * ((1 << 20) - 1), timeout=30)
    assert r.status_code == 403 and xml_error_code(r.text) == "MissingAuthenticationToken"
    assert ec.describe_cache_clusters()["CacheClusters"] == before


@pytest.mark.larder_args("--api-max-concurrent-requests", "2")
def test_a_burst_over_the_cap_is_throttled(larder, ec):
    create_group(ec, "rg1", 1, failover=False)
    wait_group(ec, "rg1")
    source = SilentSource()
    try:
        slow = [threading.Thread(target=signed_post, daemon=True,
                                 args=(larder.endpoint_url, test_migration_params("rg1", source.port)))
                for _ in range(2)]
        for t in slow:
            t.start()
        # Both turns are taken once both probes reached the source.
        wait_until(lambda: source.accepted >= 2, 30, what="two probes in flight")
        replies: list[requests.Response] = []
        lock = threading.Lock()

        def describe_once():
            r = signed_post(larder.endpoint_url, {"Action": "DescribeReplicationGroups",
                                                  "Version": "2015-02-02"})
            with lock:
                replies.append(r)

        burst = [threading.Thread(target=describe_once) for _ in range(8)]
        for t in burst:
            t.start()
        for t in burst + slow:
            t.join(60)
    finally:
        source.close()
    throttled = [r for r in replies if xml_error_code(r.text) == "Throttling"]
    assert throttled, [(r.status_code, r.text[:120]) for r in replies]
    for r in throttled:
        assert r.status_code == 400 and "Rate exceeded" in r.text
    others = [r for r in replies if r not in throttled]
    assert all(r.status_code == 200 for r in others), [(r.status_code, r.text[:120]) for r in others]


FLOODERS = 16
ROUNDS = 3


@pytest.mark.larder_args("--api-max-concurrent-requests", "64")
def test_slow_calls_do_not_delay_failover(larder, ec, silent_source):
    """A flood of TestMigration calls, each probing a source that never answers, runs
    while the primary of another group is killed; the failover must finish while the
    flood is still running. When operations ran on the runtime's workers, the probes
    held every worker and the health check waited for the flood to drain."""
    create_group(ec, "victim", 2)
    create_group(ec, "busy", 1, failover=False)
    g = wait_roles_agree(ec, "victim", timeout=60)
    wait_group(ec, "busy")
    old = primary_id(g)
    old_pid = member_pid(larder, old)

    finished = []
    lock = threading.Lock()

    def flood():
        for _ in range(ROUNDS):
            r = signed_post(larder.endpoint_url, test_migration_params("busy", silent_source.port))
            assert xml_error_code(r.text) in ("InvalidParameterValue", "Throttling"), r.text[:200]
        with lock:
            finished.append(time.monotonic())

    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(FLOODERS)]
    for t in flooders:
        t.start()
    wait_until(lambda: silent_source.accepted >= 2, 30, what="slow probes in flight")
    t_kill = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old_pid), 5, what="killed primary to exit")

    def failed_over():
        g = describe_group(ec, "victim")
        if g["Status"] != "available" or primary_id(g) == old:
            return None
        try:
            rconn(primary_endpoint(g), timeout=2).set("after-failover", "1")
        except Exception:  # noqa: BLE001 - not serving writes yet
            return None
        return g

    wait_until(failed_over, 120, interval=0.05, what="failover to finish")
    t_done = time.monotonic()
    with lock:
        done_at_failover = len(finished)
    probes_at_failover = silent_source.accepted
    for t in flooders:
        t.join(120)
    print(f"\nfailover done {t_done - t_kill:.2f}s after the kill, with {FLOODERS - done_at_failover} of {FLOODERS} flooders still "
          f"running; {probes_at_failover} of {FLOODERS * ROUNDS} probes had started")
    # The ordering: the failover finished before the flood of slow calls did.
    assert done_at_failover < FLOODERS, (
        f"every one of {FLOODERS}x{ROUNDS} slow calls had returned before the failover finished")
    assert silent_source.accepted == FLOODERS * ROUNDS
