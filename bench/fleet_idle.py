#!/usr/bin/env python3
"""What an idle fleet costs: CPU of the control plane (`larder server`) plus its host's
agent (`larder agent`) while nothing happens, with 0, 100 and 500 engine processes,
and DescribeCacheClusters latency at each size.

One daemon, one fleet grown in steps. At each size:
  * idle CPU: utime+stime of the server and the agent (from /proc/<pid>/stat, every
    thread counted) over an idle window (60 s by default), as % of one core, and the
    same for the engine processes themselves (the baseline: what the caches cost with
    no control plane at all);
  * DescribeCacheClusters: one page (MaxRecords=20) and the whole list (pages of 100,
    following Markers), median and p90 of repeated calls, measured after the window
    so they do not count in it.
The fleet is mostly single-node memcached clusters (lighter on this machine) with a
share of redis in two-member replication groups with automatic failover, since group
primaries are what the control plane health-checks. The 0-process size is the floor:
what the control plane and agent cost with nothing to look after.
With --record, appends a dated section to docs/BENCHMARKS.md.

Run it with the e2e venv:  .venv/bin/python bench/fleet_idle.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402
from report import append_section, machine_info  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> set[int]:
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.add(int(p))
    return out


def grow(ec, have: dict, target: int, redis_share: float) -> None:
    """Creates clusters until the fleet has `target` engine processes, `redis_share`
    of them redis in two-member groups; waits until every one is available."""
    want_redis = int(round(target * redis_share / 2)) * 2
    made = []
    while have["redis"] < want_redis:
        gid = f"rg{have['groups']:04d}"
        ec.create_replication_group(
            ReplicationGroupId=gid, ReplicationGroupDescription="fleet", Engine="redis",
            CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
            AutomaticFailoverEnabled=True, MultiAZEnabled=True)
        have["groups"] += 1
        have["redis"] += 2
        made.append(("group", gid))
    while have["redis"] + have["memcached"] < target:
        cid = f"mc{have['memcached']:04d}"
        ec.create_cache_cluster(CacheClusterId=cid, Engine="memcached",
                                CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
        have["memcached"] += 1
        made.append(("cluster", cid))
    deadline = time.monotonic() + 600
    for kind, rid in made:
        while True:
            if kind == "group":
                g = ec.describe_replication_groups(ReplicationGroupId=rid)["ReplicationGroups"][0]
                done = g["Status"] == "available"
            else:
                done = harness.describe(ec, rid)["CacheClusterStatus"] == "available"
            if done:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{rid} not available after 600 s")
            time.sleep(0.5)


def describe_latency(ec, rounds: int) -> dict:
    page, full = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ec.describe_cache_clusters(MaxRecords=20, ShowCacheNodeInfo=True)
        page.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        n = len(harness.describe_all(ec))
        full.append((time.perf_counter() - t0) * 1e3)
    q = lambda xs: (statistics.median(xs), sorted(xs)[int(len(xs) * 0.9) - 1])  # noqa: E731
    return {"page_ms": q(page), "full_ms": q(full), "listed": n}


def measure(daemon, window: float, describe_rounds: int) -> dict:
    server, agent = daemon.pid, daemon.agent_pid
    engines = children(agent)
    t0 = time.monotonic()
    before = {p: cpu_seconds(p) for p in [server, agent, *engines]}
    time.sleep(window)
    after = {p: cpu_seconds(p) for p in before}
    took = time.monotonic() - t0
    pct = lambda p: (after[p] - before[p]) / took * 100  # noqa: E731
    # An engine that exited in the window (restarted by someone) is not counted.
    gone = [p for p in engines if not Path(f"/proc/{p}").exists()]
    eng = sum(after[p] - before[p] for p in engines if p not in gone) / took * 100
    row = {"processes": len(engines), "server_pct": pct(server), "agent_pct": pct(agent),
           "engines_pct": eng, "engines_gone": len(gone), "load": os.getloadavg()[0]}
    row["larder_pct"] = row["server_pct"] + row["agent_pct"]
    row.update(describe_latency(daemon.client(), describe_rounds))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0,100,500", help="engine processes, ascending")
    ap.add_argument("--redis-share", type=float, default=0.2)
    ap.add_argument("--window", type=float, default=60.0, help="idle seconds measured per size")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds waited before the window")
    ap.add_argument("--describe-rounds", type=int, default=20)
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--label", default="", help="words added to the recorded heading")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
    harness.LARDER_BIN = args.bin
    top = max(sizes)
    rows = []
    with tempfile.TemporaryDirectory(prefix="larder-fleet-") as tmp:
        daemon = harness.Larder(Path(tmp) / "larder", extra_args=[
            "--max-nodes", str(top + 10), "--max-clusters", str(top + 10)])
        # Nodes and configuration endpoints both take ports from the block.
        daemon.node_ports = harness.free_port_range(max(2 * top + 100, 100))
        daemon.env_extra["RUST_LOG"] = "warn"
        try:
            daemon.start()
            ec = daemon.client()
            have = {"redis": 0, "memcached": 0, "groups": 0}
            for size in sizes:
                t = time.monotonic()
                grow(ec, have, size, args.redis_share)
                print(f"{size} processes up in {time.monotonic() - t:.0f} s", file=sys.stderr)
                time.sleep(args.settle)
                row = measure(daemon, args.window, args.describe_rounds)
                row.update(size=size, redis=have["redis"], memcached=have["memcached"])
                rows.append(row)
                print(row, file=sys.stderr)
        finally:
            daemon.cleanup()
    header = ("| processes (redis / memcached) | server + agent, % of a core | per 100 processes "
              "| server | agent | engines themselves | Describe page of 20, ms (p50 / p90) "
              "| Describe all, ms (p50 / p90) |")
    table = [header, "|" + "---|" * 8]
    floor = rows[0]["larder_pct"] if rows and rows[0]["size"] == 0 else None
    for r in rows:
        per100 = "–" if not r["size"] else f"{(r['larder_pct'] - (floor or 0)) / r['size'] * 100:.2f}"
        table.append(
            f"| {r['processes']} ({r['redis']} / {r['memcached']}) | {r['larder_pct']:.2f} | {per100} "
            f"| {r['server_pct']:.2f} | {r['agent_pct']:.2f} | {r['engines_pct']:.2f} "
            f"| {r['page_ms'][0]:.1f} / {r['page_ms'][1]:.1f} "
            f"| {r['full_ms'][0]:.1f} / {r['full_ms'][1]:.1f} ({r['listed']} clusters) |")
    print("\n".join(table))
    if args.record:
        info = machine_info()
        loads = ", ".join(f"{r['load']:.1f}" for r in rows)
        label = f" ({args.label})" if args.label else ""
        lines = ["", f"## Idle fleet: control plane + agent CPU, DescribeCacheClusters{label}, "
                 f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}", "",
                 f"`bench/fleet_idle.py`, release build. One daemon, fleet grown in steps; "
                 f"{args.redis_share:.0%} of the processes redis in two-member groups with "
                 "automatic failover, the rest single-node memcached clusters. CPU is "
                 f"utime+stime from /proc over {args.window:.0f} idle s after {args.settle:.0f} s "
                 "of settling; 'per 100' subtracts the 0-process floor. Describe latency is boto3 "
                 f"round trips, {args.describe_rounds} calls each, after the window.",
                 f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; "
                 f"redis-server {info['redis']}, memcached {info['memcached']}; "
                 f"load at the windows: {loads}.", "",
                 *table]
        print(f"recorded in {append_section(lines)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
