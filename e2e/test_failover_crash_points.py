"""The daemon SIGKILLed at every step of a failover: one primary, no acknowledged write lost.

With --workflow-step-delay-ms the failover names each crash point in the daemon log
("failover crash point <name>") and waits there; the test SIGKILLs the daemon at
exactly that point, keeps it dead (for planned failovers longer than the old
primary's CLIENT PAUSE, so an expired pause shows), restarts it without the seam and
lets the failover resume.

Throughout, one writer per member writes to that member directly (SET, then TIME
and WAIT 1 in the same pipeline), and a sampler reads every member's role. Failures:
  * two writable primaries: a member acknowledged writes both before and after
    another member acknowledged one (ordered by the servers' own TIME), or a member
    reported role:master both before and after another member did in one sampling
    round;
  * an acknowledged write missing on the final primary: every write acknowledged by
    the old primary (planned failovers) or confirmed by WAIT 1 (kill -9 of the
    primary, whose unreplicated tail the engine does not keep), and every write
    acknowledged by the final primary.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
import redis

from harness import wait_until
from test_replication_groups import (
    create_group,
    member_addr,
    member_pid,
    missing_keys,
    primary_id,
    redis_server_pids,
    replica_ids,
    rconn,
    wait_group,
    wait_roles_agree,
)

STEP_DELAY_MS = 1000
# Longer than the controller's CLIENT PAUSE (10 s), so a pause that the dead daemon
# cannot lift any more expires while it is down.
DEAD_PLANNED = 11.5
DEAD_UNPLANNED = 2.0
POINT_LINE = re.compile(r"failover crash point (\S+)( passed)?")

PLANNED_POINTS = ["choose", "fence", "fence-paused", "fence-done", "promote", "promote-done",
                  "committed"]
CASES = ([("test_failover", p) for p in PLANNED_POINTS]
         + [("primary_cluster_id", p) for p in ["fence-paused", "promote-done"]]
         # A hung primary (SIGSTOP) goes through every unplanned step; a dead one
         # needs no fencing, so it has no fence points.
         + [("stopped_primary", p) for p in ["choose", "fence", "fence-done", "promote",
                                              "promote-done", "committed"]]
         + [("kill9_primary", p) for p in ["choose", "promote-done"]])
UNPLANNED = {"stopped_primary", "kill9_primary"}


class DirectWriter(threading.Thread):
    """Writes w:<member>:N to one member directly; records each acknowledged write
    with the server's TIME right after it and whether WAIT 1 confirmed it."""

    def __init__(self, member: str, address):
        super().__init__(daemon=True)
        self.member = member
        self.address = address
        self.acks: list[tuple[float, str, bool]] = []  # (server time, key, confirmed)
        self.stop_evt = threading.Event()

    def run(self) -> None:
        r, n = None, 0
        while not self.stop_evt.is_set():
            key = f"w:{self.member}:{n}"
            n += 1
            try:
                if r is None:
                    r = rconn(self.address, timeout=0.5)
                pipe = r.pipeline(transaction=False)
                pipe.set(key, n)
                pipe.time()
                pipe.execute_command("WAIT", 1, 100)
                ok, now, replicas = pipe.execute(raise_on_error=False)
                if ok is True and isinstance(now, tuple):
                    confirmed = isinstance(replicas, int) and replicas >= 1
                    self.acks.append((now[0] + now[1] / 1e6, key, confirmed))
                else:
                    time.sleep(0.01)
            except (redis.RedisError, OSError):
                if r is not None:
                    r.close()
                r = None
                time.sleep(0.01)
            time.sleep(0.002)

    def stop(self) -> None:
        self.stop_evt.set()
        self.join(10)


class RoleSampler(threading.Thread):
    """Reads every member's role in rounds, the round's first member again at its end:
    if that member was master at both ends and another member was master in between,
    two members were primaries at the same time."""

    def __init__(self, addresses: dict[str, tuple]):
        super().__init__(daemon=True)
        self.addresses = addresses
        self.conns = {m: rconn(a, timeout=0.3) for m, a in addresses.items()}
        self.violations: list[str] = []
        self.rounds = 0
        self.stop_evt = threading.Event()

    def role(self, m: str) -> str:
        try:
            return self.conns[m].info("replication")["role"]
        except (redis.RedisError, OSError):
            return "?"

    def run(self) -> None:
        names = sorted(self.addresses)
        while not self.stop_evt.is_set():
            k = self.rounds % len(names)
            order = names[k:] + names[:k]
            first = self.role(order[0])
            middle = {m: self.role(m) for m in order[1:]}
            last = self.role(order[0])
            both = [m for m, role in middle.items() if role == "master"]
            if first == last == "master" and both:
                self.violations.append(f"round {self.rounds}: {order[0]} and {both} master")
            self.rounds += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self.stop_evt.set()
        self.join(10)


def interleaved(writers: list[DirectWriter]) -> list[str]:
    """Pairs of members whose acknowledged writes interleave in server time: member A
    acknowledged before and after member B did, so both were writable at once."""
    events = sorted((t, w.member) for w in writers for t, _, _ in w.acks)
    found = []
    for w in writers:
        mine = [t for t, _, _ in w.acks]
        if not mine:
            continue
        lo, hi = mine[0], mine[-1]
        others = {m for t, m in events if lo < t < hi and m != w.member}
        if others:
            found.append(f"{w.member} acknowledged writes before and after {sorted(others)} did")
    return found


def wait_crash_point(larder, start: int, point: str, timeout: float = 90.0) -> int:
    """Wait until the daemon log (from byte `start`) names crash point `point`;
    returns the log offset just after that line."""
    def seen():
        data = larder.log_path.read_bytes()[start:].decode(errors="replace")
        for m in POINT_LINE.finditer(data):
            if m[1] == point and not m[2]:
                return start + len(data[:m.end()].encode())
        return None
    return wait_until(seen, timeout, interval=0.01, what=f"failover crash point {point}")


def points_passed(larder, start: int) -> list[str]:
    data = larder.log_path.read_bytes()[start:].decode(errors="replace")
    return [m[1] for m in POINT_LINE.finditer(data) if m[2]]


def start_failover(larder, ec, kind: str, g: dict, old: str) -> None:
    if kind == "test_failover":
        ec.test_failover(ReplicationGroupId="cr", NodeGroupId="0001")
    elif kind == "primary_cluster_id":
        ec.modify_replication_group(ReplicationGroupId="cr", PrimaryClusterId=replica_ids(g)[-1],
                                    ApplyImmediately=True)
    elif kind == "stopped_primary":
        os.kill(member_pid(larder, old), signal.SIGSTOP)
    else:
        os.kill(member_pid(larder, old), signal.SIGKILL)


@pytest.mark.parametrize("kind,point", CASES, ids=[f"{k}-{p}" for k, p in CASES])
@pytest.mark.larder_args("--workflow-step-delay-ms", str(STEP_DELAY_MS))
def test_daemon_killed_at_failover_step(larder, ec, kind, point):
    create_group(ec, "cr", 3)
    g = wait_roles_agree(ec, "cr", timeout=120)
    old = primary_id(g)
    addresses = {cid: member_addr(g, cid) for cid in g["MemberClusters"]}
    writers = [DirectWriter(cid, a) for cid, a in sorted(addresses.items())]
    sampler = RoleSampler(addresses)
    for t in (*writers, sampler):
        t.start()
    try:
        by_member = {w.member: w for w in writers}
        wait_until(lambda: len(by_member[old].acks) >= 50, 30, what=f"writes on {old}")

        start = larder.log_path.stat().st_size
        start_failover(larder, ec, kind, g, old)
        after = wait_crash_point(larder, start, point)
        larder.kill9()
        assert point not in points_passed(larder, after), \
            f"the daemon was killed after crash point {point}, not at it"
        time.sleep(DEAD_UNPLANNED if kind in UNPLANNED else DEAD_PLANNED)

        larder.restart(kill9=True, extra_args=[])
        ec = larder.client()
        wait_group(ec, "cr", timeout=90)
        g = wait_roles_agree(ec, "cr", timeout=60)
        new = primary_id(g)
        # Writes keep going against the settled group, so the checks cover after recovery too.
        wait_until(lambda: len(by_member[new].acks) >= 50, 30, what=f"writes on the new primary {new}")
    finally:
        for t in (*writers, sampler):
            t.stop()

    assert new != old, f"the failover did not finish: {old} is still the primary"
    assert sampler.rounds > 20, f"only {sampler.rounds} role samples"
    assert sampler.violations == [], f"two primaries at once: {sampler.violations[:5]}"
    assert interleaved(writers) == [], f"two writable primaries: {interleaved(writers)}"
    for cid, w in by_member.items():
        if cid not in (old, new):
            assert w.acks == [], f"{cid} was never primary but acknowledged {len(w.acks)} writes"

    must_survive = [k for _, k, _ in by_member[new].acks]
    old_acks = by_member[old].acks
    if kind in UNPLANNED:
        must_survive += [k for _, k, confirmed in old_acks if confirmed]
    else:
        must_survive += [k for _, k, _ in old_acks]
    lost = missing_keys(member_addr(g, new), must_survive)
    unconfirmed_lost = missing_keys(member_addr(g, new), [k for _, k, c in old_acks if not c])
    assert lost == [], (f"{len(lost)} of {len(must_survive)} acknowledged writes missing on the "
                        f"final primary {new}, first {lost[:5]}")
    wait_until(lambda: len(redis_server_pids(larder)) == 3, 20, what="one redis-server per member")
    print(f"\n{kind} killed at {point}: {len(old_acks)} writes acknowledged by {old}, "
          f"{len(by_member[new].acks)} by {new}; {len(unconfirmed_lost)} unconfirmed lost; "
          f"{sampler.rounds} role samples")
