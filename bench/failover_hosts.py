#!/usr/bin/env python3
"""Failover when a whole host fails: Larder agents against Redis Sentinel, across the same
network namespaces in the same run.

Hosts are network namespaces joined by a bridge (e2e/netns.py), each with its own address:
  * h1, h2, h3: the hosts that fail.
    - Sentinel: one redis-server each (h1 primary, h2 and h3 replicating from h1's
      address, repl-diskless-sync-delay 0) and one sentinel each (quorum 2,
      down-after-milliseconds 1000, failover-timeout 10000, parallel-syncs 1, as in
      bench/failover.py);
    - Larder: one `larder agent run` each, zones us-east-1a/b/c, joined to the control
      plane (e2e/multihost.py's Fleet); a 3-member group with automatic failover and
      Multi-AZ puts one member on each host;
  * cp: Larder's control plane (`larder server --no-local-nodes`), whose own agent
    serves the group's PrimaryEndpoint (idle in the Sentinel rounds);
  * cli: the writers. This process moves itself into `cli` before any writer starts,
    so every connection it makes crosses the bridge as from another machine.
The load and the measurements are bench/failover.py's (imported, not copied): WRITERS
concurrent writers, each SET w<j>:seq:N in a tight loop; Sentinel's writers ask a
sentinel for the master on every reconnect, Larder's reconnect to the PrimaryEndpoint.
Each round: write for 2 s, then fail the primary's host, keep writing until every
writer has had writes acknowledged again for 2 s.
  --fault kill (default): SIGKILL every process in the primary's namespace (Sentinel:
    its redis and its sentinel; Larder: its agent and its node): the host is gone;
  --fault cut: set the host's link down: the host keeps running, unreachable.
Measured per round: recovery (failure → every writer acknowledged again) and acked
writes lost per writer (missing on the final primary). Fresh namespaces per round.

Needs root:  .venv/bin/python bench/failover_hosts.py [-n 5] [--fault cut] [--record]
(`--sentinel-only` for the baseline alone; builds the release binary unless --no-build).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import failover  # noqa: E402  (writer, rounds and tables of the single-host bench)
import netns  # noqa: E402
import redis  # noqa: E402
from failover import Addr, Round, connect, wait_for  # noqa: E402
from report import append_section, machine_info  # noqa: E402

REDIS_PORT = 6379
SENTINEL_PORT = 26379
HOSTS = ("h1", "h2", "h3")
CLONE_NEWNET = 0x40000000


def enter(host: netns.Host) -> None:
    """Moves this process's network namespace into `host` (call before starting
    threads: new threads inherit it). `ip netns exec/pids/del` keep working, since
    they name namespaces by path, not by the caller's network."""
    fd = os.open(f"/run/netns/{host.ns}", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {host.ns}")
    finally:
        os.close(fd)


def leave(root_fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(root_fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns back to the root namespace")


class World:
    """Three host namespaces and a client namespace; the caller enters `client`."""

    def __init__(self):
        self.topo = netns.Topology()
        self.hosts = {name: self.topo.add_host(name) for name in HOSTS}
        self.client = self.topo.add_host("cli")
        # Larder's control plane; Sentinel has none, but both sides get the same namespaces.
        self.cp = self.topo.add_host("cp")
        self.procs: list[subprocess.Popen] = []

    def spawn(self, host: netns.Host, args: list[str]) -> subprocess.Popen:
        p = subprocess.Popen(host.cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def host_at(self, addr: str) -> str:
        (name,) = [n for n, h in self.hosts.items() if h.addr == addr]
        return name

    def fail(self, name: str, fault: str) -> None:
        """A host failure: every process in its namespace killed, or its link cut."""
        if fault == "cut":
            self.topo.cut(name)
            return
        # Stopped first, all of them, then killed: the processes die one by one, and
        # an agent still running when its node dies would report that death (a node
        # failure, seen in 0.1 s) instead of disappearing with it.
        pids = self.topo.pids_in(name)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        self.topo.close()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


# --------------------------------------------------------------------------- Redis Sentinel


class HostSentinels:
    """One redis-server and one sentinel per host namespace."""

    def __init__(self, world: World, workdir: Path):
        self.world, self.dir = world, workdir

    def start(self) -> None:
        primary = self.world.hosts[HOSTS[0]].addr
        for i, (name, host) in enumerate(self.world.hosts.items()):
            d = self.dir / name
            d.mkdir()
            args = ["redis-server", "--port", str(REDIS_PORT), "--bind", host.addr, "--dir", str(d),
                    "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0",
                    "--protected-mode", "no"]
            if i:
                args += ["--replicaof", primary, str(REDIS_PORT)]
            self.world.spawn(host, args)
        for host in self.world.hosts.values():
            wait_for(lambda h=host: connect((h.addr, REDIS_PORT)).ping(), 10, f"redis on {host.name}")
        for name, host in self.world.hosts.items():
            conf = self.dir / f"sentinel-{name}.conf"
            conf.write_text("\n".join([
                f"port {SENTINEL_PORT}", f"bind {host.addr}", "protected-mode no", f"dir {self.dir}",
                f"sentinel monitor m {primary} {REDIS_PORT} 2",
                "sentinel down-after-milliseconds m 1000",
                "sentinel failover-timeout m 10000",
                "sentinel parallel-syncs m 1", ""]))
            self.world.spawn(host, ["redis-server", str(conf), "--sentinel"])
        # Ready when replication is up and every sentinel knows both replicas and both peers.
        for host in list(self.world.hosts.values())[1:]:
            wait_for(lambda h=host: connect((h.addr, REDIS_PORT)).info("replication")
                     .get("master_link_status") == "up", 20, f"replica on {host.name} in sync")
        for host in self.world.hosts.values():
            def ready(h=host):
                info = connect((h.addr, SENTINEL_PORT)).sentinel_master("m")
                return int(info["num-slaves"]) == 2 and int(info["num-other-sentinels"]) == 2
            wait_for(ready, 30, f"sentinel on {host.name} to see the replicas and its peers")

    def master(self) -> Addr:
        """Ask the sentinels, first answer wins (as a Sentinel-aware client does)."""
        for host in self.world.hosts.values():
            try:
                addr, port = connect((host.addr, SENTINEL_PORT)).execute_command(
                    "SENTINEL", "get-master-addr-by-name", "m")
                return addr.decode(), int(port)
            except (redis.RedisError, OSError, TypeError, ValueError):
                continue
        raise redis.ConnectionError("no sentinel answered")


def sentinel_round(workdir: Path, i: int, fault: str) -> Round:
    world = World()
    root = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        enter(world.client)
        d = workdir / f"sentinel-{i}"
        d.mkdir()
        s = HostSentinels(world, d)
        s.start()
        failed = world.host_at(s.master()[0])

        def final_primary() -> Addr:
            return wait_for(lambda: (lambda a: a if world.host_at(a[0]) != failed else None)(s.master()),
                            30, "the sentinels to name a new master")

        return failover.run_round(s.master, lambda: world.fail(failed, fault), final_primary)
    finally:
        leave(root)
        os.close(root)
        world.close()


# --------------------------------------------------------------------------- Larder


def run_larder_round(workdir: Path, i: int, fault: str, binary: Path) -> Round:
    """One round of Larder on a fresh World: the control plane in `cp`, an agent in each of
    h1, h2, h3 (zones a, b, c) joined to it (e2e/multihost.py's Fleet), and from `cli` a
    3-member group with automatic failover spread over the three hosts; the writers use its
    PrimaryEndpoint, served by the control plane's host. The fault is world.fail on the
    primary's host (its agent and its node die together, or its link goes down); the final
    primary is the member DescribeReplicationGroups names primary afterwards."""
    import multihost

    multihost.LARDER_BIN = binary
    world = World()
    d = workdir / f"larder-{i}"
    d.mkdir()
    fleet = multihost.Fleet(d, hosts=HOSTS, net=world.topo)
    root = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        enter(world.client)
        fleet.start()
        ec = fleet.client()
        rg = "hosts"
        ec.create_replication_group(ReplicationGroupId=rg, ReplicationGroupDescription="failover across hosts",
                                    Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                    AutomaticFailoverEnabled=True, MultiAZEnabled=True)
        p = failover.wait_group_ready(ec, rg)
        spread = {m["ReadEndpoint"]["Address"] for m in p["node_group"]["NodeGroupMembers"]}
        if spread != {h.addr for h in world.hosts.values()}:
            raise RuntimeError(f"the group is not spread over the three hosts: {spread}")
        pe = p["node_group"]["PrimaryEndpoint"]
        endpoint = (pe["Address"], pe["Port"])
        old = p["member"]["CacheClusterId"]
        failed = world.host_at(p["member"]["ReadEndpoint"]["Address"])

        def final_primary() -> Addr:
            q = wait_for(lambda: (lambda q: q if q["member"]["CacheClusterId"] != old else None)(
                failover.group_primary(ec, rg)), 30, "the group to report a new primary")
            ep = q["member"]["ReadEndpoint"]
            return ep["Address"], ep["Port"]

        return failover.run_round(lambda: endpoint, lambda: world.fail(failed, fault), final_primary)
    except Exception:
        for name in ["cp", "h1", "h2", "h3"]:
            print(f"---- {name} log ----\n{fleet.log_tail(name, 20)}", file=sys.stderr)
        raise
    finally:
        leave(root)
        os.close(root)
        fleet.close()
        world.close()


# --------------------------------------------------------------------------- main


def record(results: dict[str, dict], rounds: int, fault: str, loads: list[float], note: str,
           failures: list[str]) -> Path:
    info = machine_info()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    what = "SIGKILL of every process in the primary's namespace" if fault == "kill" else \
        "the primary's host link cut (host keeps running, unreachable)"
    lines = [
        "",
        f"## Failover across hosts ({what}), {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`bench/failover_hosts.py --fault {fault}`, commit {commit}, {rounds} rounds per setup, "
        "interleaved, fresh namespaces per round, release build. Three host namespaces joined by a veth "
        "bridge (e2e/netns.py). Sentinel: each host one redis-server and one sentinel (quorum 2, "
        "down-after-milliseconds 1000, failover-timeout 10000), replicating over the hosts' "
        "addresses, writers asking a sentinel for the master on every reconnect. Larder: each "
        "host one `larder agent run` (zones us-east-1a/b/c) joined to `larder server "
        "--no-local-nodes` in a fourth namespace, a 3-member group with automatic failover "
        "(one member per host), writers on its PrimaryEndpoint (served by the control plane's "
        f"host). {failover.WRITERS} writers in a fifth (client) namespace, each SET "
        f"w<j>:seq:N in a tight loop, socket timeout {failover.SOCKET_TIMEOUT * 1000:.0f} ms. "
        "The fault hits the primary's host: every process in its namespace (Sentinel: redis "
        "and sentinel; Larder: agent and node), or its link. Recovery = failure → every "
        "writer acknowledged again; lost = each writer's acknowledged keys missing on the "
        "final primary.",
        f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; redis-server "
        f"{info['redis']}. 1-minute load average {loads[0]:.1f} at the start and {loads[1]:.1f} "
        "at the end (shared machine).",
        "",
        *failover.table(results, fault),
    ]
    ratio = failover.ratio_line(results)
    lines += ["", ratio + "." if ratio else
              "Sentinel only (`--sentinel-only`): the baseline Larder is compared with. "
              "Sentinel's time is its down-after-milliseconds (1 s) plus the vote and "
              "promotion; writes acknowledged by the old primary after the replicas' last "
              "sync are what it can lose."]
    if failures:
        lines += ["", "Rounds that did not recover (left out of the table): " + "; ".join(failures) + "."]
    if note:
        lines += ["", note]
    return append_section(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=5, help="rounds per setup (default 5)")
    ap.add_argument("--sentinel-only", action="store_true", help="measure Redis Sentinel alone")
    ap.add_argument("--fault", choices=["kill", "cut"], default="kill")
    ap.add_argument("--record", action="store_true", help="append the results to docs/BENCHMARKS.md")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--note", default="", help="a paragraph for the record: why the numbers are what they are")
    ap.add_argument("--no-build", action="store_true", help="don't run cargo build --release first")
    args = ap.parse_args()
    if not netns.have_root():
        sys.exit("needs root (network namespaces)")
    if not args.sentinel_only and not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
    raw: dict[str, list[Round]] = {}
    failed: dict[str, list[str]] = {}
    setups = {"Sentinel": lambda tmp, i: sentinel_round(tmp, i, args.fault)}
    if not args.sentinel_only:
        setups = {"Larder": lambda tmp, i: run_larder_round(tmp, i, args.fault, args.bin), **setups}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="larder-failover-hosts-") as tmpname:
        tmp = Path(tmpname)
        # Interleaved round by round, so both setups meet the same load on a shared machine.
        for i in range(args.rounds):
            for name, one_round in setups.items():
                try:
                    raw.setdefault(name, []).append(one_round(tmp, i))
                except Exception as e:  # noqa: BLE001  (a round that never recovers is a result)
                    failed.setdefault(name, []).append(f"round {i + 1}: {type(e).__name__}: {e}")
                    print(f"{name.lower()} round {i + 1}/{args.rounds} FAILED: {e}", file=sys.stderr)
                    continue
                t, lost, acked = raw[name][-1]
                print(f"{name.lower()} round {i + 1}/{args.rounds}: {t:.3f} s, lost per writer {lost} "
                      f"of {acked}", file=sys.stderr)
    loads.append(os.getloadavg()[0])
    results = {name: failover.summary(r) for name, r in raw.items() if r}
    failures = [f"{name} {why}" for name, whys in failed.items() for why in whys]
    print(f"\nhost failure ({args.fault}) of the primary → all {failover.WRITERS} writers acknowledged "
          f"again, {args.rounds} rounds each")
    print("\n".join(failover.table(results, args.fault)))
    ratio = failover.ratio_line(results)
    if ratio:
        print(ratio)
    for f in failures:
        print(f"failed: {f}")
    if args.record:
        print(f"recorded in {record(results, args.rounds, args.fault, loads, args.note, failures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
