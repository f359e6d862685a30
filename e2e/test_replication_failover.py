"""Replication group failover: planned (TestFailover, PrimaryClusterId), kill -9 of the
primary with and without automatic failover, and the daemon dying mid-workflow.

A writer thread runs SET seq:N through the primary endpoint throughout; for planned
failovers every acknowledged write must be on the new primary afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time

import pytest
import redis

from harness import describe, pid_alive, wait_until
from test_replication_groups import (
    FAILOVER_DONE,
    SeqWriter,
    api_error,
    create_group,
    describe_group,
    error_code,
    group_events,
    info_replication,
    member_addr,
    member_pid,
    missing_keys,
    primary_endpoint,
    primary_id,
    redis_server_pids,
    replica_ids,
    rconn,
    roles,
    served_port,
    settled_after_restart,
    wait_group,
    wait_group_event,
    reader_endpoint,
    wait_reader_spread,
    wait_roles_agree,
    write_keys,
)


def _start_writer(g: dict, warmup: int = 300) -> SeqWriter:
    w = SeqWriter(primary_endpoint(g))
    w.start()
    w.wait_acked(warmup, 30, what="writes before the failover")
    return w


def _finish_writer(w: SeqWriter, more: int = 300, timeout: float = 30.0) -> None:
    """Let the writer get `more` writes acknowledged (writes resumed), then stop it."""
    try:
        w.wait_acked(w.acked + more, timeout, what="writes after the failover")
    finally:
        w.stop()


def _assert_nothing_lost(g: dict, w: SeqWriter) -> None:
    new_primary = primary_id(g)
    keys = w.keys()
    lost = missing_keys(member_addr(g, new_primary), keys)
    assert not lost, (f"{len(lost)} of {len(keys)} acknowledged writes missing on the new primary "
                      f"{new_primary}, first {lost[:10]}; writer errors {w.errors[:5]}")
    assert missing_keys(primary_endpoint(g), keys) == []


def _assert_primary_endpoint_reaches(g: dict, cluster_id: str) -> None:
    want = member_addr(g, cluster_id)[1]
    wait_until(lambda: served_port(rconn(primary_endpoint(g))) == want, 10,
               what=f"primary endpoint to reach {cluster_id}")


def _assert_failover_event(ec, rg_id: str, old: str, new: str, timeout: float = 20.0) -> None:
    msg = wait_group_event(ec, rg_id, FAILOVER_DONE, timeout=timeout)
    m = re.search(r"Failover from primary node (\S+) to replica node (\S+) completed", msg)
    assert old in m[1] and new in m[2], f"event names {m[1]} -> {m[2]}, expected {old} -> {new}"


def _assert_reader_on_replicas(g: dict) -> None:
    wait_reader_spread(g, {member_addr(g, cid)[1] for cid in replica_ids(g)})


def _raw_connection(address) -> socket.socket:
    """A plain socket through an endpoint, proven to work (PING answered)."""
    s = socket.create_connection(address, timeout=5)
    s.sendall(b"PING\r\n")
    assert s.recv(64) == b"+PONG\r\n"
    return s


def _assert_closed(s: socket.socket) -> None:
    """The endpoint closed this connection: a write on it gets EOF or a reset, not a reply."""
    s.settimeout(5)
    try:
        s.sendall(b"SET stale-connection 1\r\n")
        reply = s.recv(256)
    except (ConnectionResetError, BrokenPipeError):
        reply = b""
    finally:
        s.close()
    assert reply == b"", f"a connection to the old primary survived the failover: {reply!r}"


def test_test_failover_loses_no_acknowledged_write(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    old = primary_id(g)
    stale = _raw_connection(primary_endpoint(g))
    w = _start_writer(g)
    try:
        resp = ec.test_failover(ReplicationGroupId="rg1", NodeGroupId="0001")
        assert resp["ReplicationGroup"]["Status"] == "modifying"
        g = wait_group(ec, "rg1", timeout=60)
        _finish_writer(w)
    finally:
        w.stop()
    g = wait_roles_agree(ec, "rg1")
    new = primary_id(g)
    assert new != old, f"primary is still {old}: {roles(g)}"
    assert roles(g)[old] == "replica"
    _assert_primary_endpoint_reaches(g, new)
    _assert_nothing_lost(g, w)
    _assert_closed(stale)
    _assert_reader_on_replicas(g)
    wait_group_event(ec, "rg1", r"Test Failover API called for node group 0001")
    _assert_failover_event(ec, "rg1", old, new)
    print(f"\nTestFailover: {w.acked} acknowledged writes, {len(w.errors)} errors")


def test_modify_primary_cluster_id_switches_over_without_loss(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    old = primary_id(g)
    target = "rg1-003" if old != "rg1-003" else replica_ids(g)[0]
    stale = _raw_connection(primary_endpoint(g))
    w = _start_writer(g)
    try:
        resp = ec.modify_replication_group(ReplicationGroupId="rg1", PrimaryClusterId=target,
                                           ApplyImmediately=True)
        assert resp["ReplicationGroup"]["Status"] == "modifying"
        g = wait_group(ec, "rg1", timeout=60)
        _finish_writer(w)
    finally:
        w.stop()
    g = wait_roles_agree(ec, "rg1")
    assert primary_id(g) == target, roles(g)
    assert roles(g)[old] == "replica"
    _assert_primary_endpoint_reaches(g, target)
    _assert_nothing_lost(g, w)
    _assert_closed(stale)
    _assert_reader_on_replicas(g)
    print(f"\nswitchover: {w.acked} acknowledged writes, {len(w.errors)} errors")


# The shortest replicated `SET seq:N N` (one digit): `*3\r\n$3\r\nSET\r\n$5\r\nseq:0\r\n$1\r\n0\r\n`.
MIN_SET_BYTES = len(b"*3\r\n$3\r\nSET\r\n$5\r\nseq:0\r\n$1\r\n0\r\n")


def _unreplicated_bytes(g: dict, primary: str) -> int:
    """Bytes of the primary's replication stream that no replica has processed. The
    replicas' own offsets are read first, then the primary's, so the difference can
    only overstate what was unreplicated."""
    best = max(int(info_replication(member_addr(g, cid))["slave_repl_offset"])
               for cid in replica_ids(g))
    master = int(info_replication(member_addr(g, primary))["master_repl_offset"])
    return max(0, master - best)


def test_kill9_primary_promotes_a_replica(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    old = primary_id(g)
    old_pid = member_pid(larder, old)
    w = _start_writer(g)
    try:
        # What no replica had just before the kill bounds what the kill may lose: the
        # bytes then unreplicated (each write is at least MIN_SET_BYTES of the stream)
        # plus every write acknowledged after that measurement.
        acked_before_sample = w.acked
        gap_bytes = _unreplicated_bytes(g, old)
        t_kill = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(old_pid), 5, what="killed primary to exit")
        # Count from the kill to the first write acknowledged after the writer saw the failure.
        noticed = wait_until(lambda: next((t for t, _ in w.errors if t >= t_kill), None), 30,
                             what="the writer to notice the kill")
        wait_until(lambda: w.acked_after(noticed) > 0, 60,
                   what="a write acknowledged through the primary endpoint after the kill")
        first = min(t for t in w.ack_times if t > noticed)
        _finish_writer(w, more=300, timeout=30)
    finally:
        w.stop()

    # A replica took over; the old primary came back as its replica.
    g = wait_roles_agree(ec, "rg1", timeout=60)
    new = primary_id(g)
    assert new != old, f"{old} is primary again; expected a promoted replica ({roles(g)})"
    assert roles(g)[old] == "replica"
    assert member_pid(larder, old) != old_pid
    _assert_primary_endpoint_reaches(g, new)
    assert len(redis_server_pids(larder)) == 3
    _assert_failover_event(ec, "rg1", old, new)
    _assert_reader_on_replicas(g)
    g = wait_group(ec, "rg1", timeout=30)

    # Writes after the failover reach the returned node too.
    r = rconn(member_addr(g, old))
    last = f"seq:{w.acked - 1}"
    wait_until(lambda: r.get(last) == str(w.acked - 1), 20, what=f"{last} replicated to {old}")

    # Acknowledged by the old primary: every write whose ack arrived before the writer
    # saw the kill. The replica has a prefix of the old primary's stream, so what is
    # lost is the newest of those, and no more than was unreplicated at the kill.
    by_old = sum(1 for t in w.ack_times if t < noticed)
    bound = -(-gap_bytes // MIN_SET_BYTES) + (by_old - acked_before_sample)
    lost = missing_keys(member_addr(g, new), w.keys())
    assert lost == [f"seq:{i}" for i in range(by_old - len(lost), by_old)], \
        f"lost writes are not the newest ones the old primary acknowledged: {lost[:10]}"
    assert len(lost) <= bound, (f"{len(lost)} acknowledged writes lost, but only {gap_bytes} bytes "
                                f"and {by_old - acked_before_sample} writes were unreplicated at the kill")
    print(f"\nkill -9 primary: first acknowledged write {first - t_kill:.3f}s after the kill; "
          f"{len(lost)} of {w.acked} acknowledged writes lost (bound {bound}: {gap_bytes} bytes "
          f"unreplicated, {by_old - acked_before_sample} acked after the measurement); "
          f"{len(w.errors)} client errors")


def test_kill9_primary_without_automatic_failover_restarts_in_place(larder, ec):
    create_group(ec, "manual", 2, failover=False)
    g = wait_roles_agree(ec, "manual", timeout=60)
    assert g["AutomaticFailover"] == "disabled"
    prim = primary_id(g)
    old_pid = member_pid(larder, prim)
    port = member_addr(g, prim)[1]
    w = _start_writer(g)
    try:
        t_kill = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(old_pid), 5, what="killed primary to exit")
        wait_until(lambda: w.acked_after(t_kill) > 0, 60,
                   what="writes through the primary endpoint after the restart")
        _finish_writer(w, more=100)
    finally:
        w.stop()
    g = wait_roles_agree(ec, "manual", timeout=60)
    assert primary_id(g) == prim, f"primary moved to {primary_id(g)} with automatic failover off"
    assert member_addr(g, prim)[1] == port
    new_pid = member_pid(larder, prim)
    assert new_pid != old_pid
    _assert_primary_endpoint_reaches(g, prim)
    assert not [m for m in group_events(ec, "manual") if "Failover from primary" in m]
    assert rconn(primary_endpoint(g)).set("after", "restart")


@pytest.mark.larder_args("--workflow-step-delay-ms", "300")
def test_daemon_killed_during_failover_ends_with_one_primary(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=120)
    old = primary_id(g)
    endpoints = primary_endpoint(g), reader_endpoint(g)
    data = write_keys(primary_endpoint(g), 200, prefix="pre")
    pids = redis_server_pids(larder)
    assert len(pids) == 3

    resp = ec.test_failover(ReplicationGroupId="rg1", NodeGroupId="0001")
    assert resp["ReplicationGroup"]["Status"] == "modifying"
    # While one failover runs, another is refused.
    err = api_error(ec.test_failover, ReplicationGroupId="rg1", NodeGroupId="0001")
    assert error_code(err) == "InvalidReplicationGroupState"
    time.sleep(0.4)
    assert describe_group(ec, "rg1")["Status"] == "modifying", "failover finished before the kill"
    larder.kill9()

    larder.restart(kill9=True, extra_args=[])
    ec = larder.client()
    g = wait_group(ec, "rg1", timeout=60)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    new = primary_id(g)
    assert new != old, f"the interrupted failover did not finish: {old} is still primary"
    _assert_failover_event(ec, "rg1", old, new, timeout=30)
    assert primary_endpoint(g) == endpoints[0] and reader_endpoint(g) == endpoints[1], \
        "endpoints moved across the daemon restart"
    masters = [cid for cid in g["MemberClusters"]
               if rconn(member_addr(g, cid)).info("replication")["role"] == "master"]
    assert masters == [new]
    _assert_primary_endpoint_reaches(g, new)
    assert rconn(primary_endpoint(g)).mget(list(data)) == list(data.values())
    assert rconn(primary_endpoint(g)).set("after", "restart")
    time.sleep(1)  # let a wrongly-respawning controller show itself
    assert len(redis_server_pids(larder)) == 3, redis_server_pids(larder)
    for cid in g["MemberClusters"]:
        assert describe(ec, cid)["CacheClusterStatus"] == "available"


@pytest.mark.larder_args("--workflow-step-delay-ms", "300")
def test_daemon_killed_during_create_ends_with_one_primary(larder, ec):
    create_group(ec, "half", 3)
    # Members start after one 300 ms step and the group turns available only after a
    # second one, so at 0.45 s the create is surely in flight.
    time.sleep(0.45)
    assert describe_group(ec, "half")["Status"] == "creating"
    larder.kill9()

    larder.restart(kill9=True, extra_args=[])
    ec, g = settled_after_restart(larder, "half", ["half-001", "half-002", "half-003"])
    data = write_keys(primary_endpoint(g), 100)
    for cid in replica_ids(g):
        r = rconn(member_addr(g, cid))
        wait_until(lambda r=r: r.mget(list(data)) == list(data.values()), 20, what=f"data on {cid}")
    with pytest.raises(redis.ReadOnlyError):
        rconn(member_addr(g, replica_ids(g)[0])).set("x", "y")
