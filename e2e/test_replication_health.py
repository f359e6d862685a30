"""Health checks catch a primary that still runs but stopped answering (SIGSTOP):
the group fails over, the hung node is fenced, and it comes back as a replica."""

from __future__ import annotations

import os
import re
import signal

import redis

from harness import pid_alive, wait_until
from test_replication_groups import (
    SeqWriter,
    create_group,
    group_events,
    member_addr,
    member_pid,
    primary_endpoint,
    primary_id,
    rconn,
    reader_endpoint,
    replica_ids,
    roles,
    wait_group,
    wait_group_event,
    wait_roles_agree,
)


def test_hung_primary_is_failed_over_and_fenced(larder, ec):
    create_group(ec, "hang", 3)
    g = wait_roles_agree(ec, "hang", timeout=60)
    old = primary_id(g)
    old_pid = member_pid(larder, old)
    w = SeqWriter(primary_endpoint(g))
    w.start()
    try:
        w.wait_acked(200, 30, what="writes before the hang")
        os.kill(old_pid, signal.SIGSTOP)
        wait_group_event(ec, "hang", r"Primary node \S+ failed \(not answering health checks\)", timeout=30)
        w.wait_acked(w.acked + 200, 30, what="writes through the primary endpoint after the hang")
    finally:
        w.stop()
        try:
            os.kill(old_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_group(ec, "hang", timeout=60)
    g = wait_roles_agree(ec, "hang", timeout=60)
    new = primary_id(g)
    assert new != old and roles(g)[old] == "replica"
    # Fenced: the hung process was killed rather than left to wake up as a second primary.
    wait_until(lambda: not pid_alive(old_pid), 10, what="the hung primary to be killed")
    assert member_pid(larder, old) != old_pid
    assert rconn(primary_endpoint(g)).info("replication")["role"] == "master"
    messages = group_events(ec, "hang")
    assert any(re.fullmatch(rf"Failover from primary node {old} to replica node {new} completed", m)
               for m in messages), messages


def _reader_ports(g: dict, connections: int = 20) -> set[int]:
    """Ports reached by fresh reader-endpoint connections; raises if one hangs."""
    host, port = reader_endpoint(g)
    seen = set()
    for _ in range(connections):
        r = redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=2)
        try:
            seen.add(int(r.info("server")["tcp_port"]))
        finally:
            r.close()
    return seen


def test_reader_endpoint_skips_a_hung_replica(larder, ec):
    create_group(ec, "rd", 3, failover=False)
    g = wait_roles_agree(ec, "rd", timeout=60)
    hung, healthy = replica_ids(g)
    hung_port, healthy_port = member_addr(g, hung)[1], member_addr(g, healthy)[1]
    wait_until(lambda: _reader_ports(g) == {hung_port, healthy_port}, 20, what="reads spread over both replicas")
    pid = member_pid(larder, hung)
    os.kill(pid, signal.SIGSTOP)
    try:
        def only_healthy():
            try:
                return _reader_ports(g) == {healthy_port}
            except redis.RedisError:
                return False
        wait_until(only_healthy, 20, what="the reader endpoint to stop leading to the hung replica")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: _reader_ports(g) == {hung_port, healthy_port}, 20, what="the replica back in the reader pool")
