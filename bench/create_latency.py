#!/usr/bin/env python3
"""Create → available latency of Larder clusters, against the floor of spawning the engine.

For each of N runs:
  * redis:     CreateCacheCluster (1 × cache.t4g.micro) until DescribeCacheClusters says
               `available` (polled every 2 ms), then delete and wait until it is gone;
  * memcached: the same with a 3-node cluster.
In the same run, the floor:
  * redis:     spawn `redis-server --port P --save ''` and time until it answers PONG;
  * memcached: spawn 3 memcached at once and time until all three answer `version`.
Prints medians and the ratio create→available / floor (target < 1.5×).
With --record, appends a dated section to docs/BENCHMARKS.md.

Run it with the e2e venv (it needs boto3):  .venv/bin/python bench/create_latency.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))

import harness  # noqa: E402  (shared daemon/port helpers from the e2e suite)
from report import append_section, machine_info  # noqa: E402

POLL = 0.002
FLOOR_POLL = 0.001
SETTLE = 0.2  # idle time before every measurement, so the previous delete's work is done


# --------------------------------------------------------------------------- floor


def _answers(port: int, command: bytes, prefix: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(command)
            return s.recv(64).startswith(prefix)
    except OSError:
        return False


def _until_answers(ports: list[int], command: bytes, prefix: bytes, t0: float, timeout: float = 10):
    pending = set(ports)
    while pending:
        pending = {p for p in pending if not _answers(p, command, prefix)}
        if pending:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"engine on {sorted(pending)} did not answer")
            time.sleep(FLOOR_POLL)
    return time.perf_counter() - t0


def floor_redis(workdir: Path) -> float:
    port = harness.free_port()
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return _until_answers([port], b"PING\r\n", b"+PONG", t0)
    finally:
        proc.kill()
        proc.wait()


def floor_memcached(n: int = 3) -> float:
    ports = [harness.free_port() for _ in range(n)]
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    # memcached refuses to run as root unless told which user to be.
    as_root = ["-u", "root"] if os.geteuid() == 0 else []
    procs = [
        subprocess.Popen(["memcached", "-l", "127.0.0.1", "-p", str(p), "-U", "0", "-m", "64", *as_root],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports
    ]
    try:
        return _until_answers(ports, b"version\r\n", b"VERSION", t0)
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


# --------------------------------------------------------------------------- Larder


def daemon_side(ec, cluster_id: str) -> float:
    """The daemon's own create → available time, from its clock alone: the cluster's
    CacheClusterCreateTime (taken when the request is accepted) to the date of its
    "Cache cluster created" event (written in the commit that makes it available).
    This leaves out what the client spends signing, sending and polling."""
    (c,) = ec.describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"]
    events = ec.describe_events(SourceType="cache-cluster", SourceIdentifier=cluster_id)["Events"]
    (done,) = [e for e in events if e["Message"] == "Cache cluster created"]
    return (done["Date"] - c["CacheClusterCreateTime"]).total_seconds()


def create_until_available(ec, cluster_id: str, engine: str, nodes: int,
                           daemon_times: list[float] | None = None) -> float:
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    ec.create_cache_cluster(CacheClusterId=cluster_id, Engine=engine,
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=nodes)
    while True:
        status = ec.describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"][0][
            "CacheClusterStatus"]
        if status == "available":
            elapsed = time.perf_counter() - t0
            break
        if time.perf_counter() - t0 > 60:
            raise RuntimeError(f"{cluster_id} stuck in {status}")
        time.sleep(POLL)
    if daemon_times is not None:
        daemon_times.append(daemon_side(ec, cluster_id))
    ec.delete_cache_cluster(CacheClusterId=cluster_id)
    harness.wait_gone(ec, cluster_id, timeout=60)
    return elapsed


# --------------------------------------------------------------------------- reporting


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summarize(samples: list[float]) -> tuple[float, float, float]:
    return statistics.median(samples), min(samples), max(samples)


def record(results: dict[str, dict[str, list[float]]], n: int, binary: Path) -> Path:
    info = machine_info()
    lines = [
        "",
        f"## Create latency, {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "",
        f"`bench/create_latency.py`, N={n} per engine, release build (`{binary.name}`), "
        "DescribeCacheClusters polled every 2 ms; floor = spawning the engine directly "
        "(redis: spawn → first PONG; memcached: 3 in parallel → all answer `version`).",
        f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; "
        f"redis-server {info['redis']}, memcached {info['memcached']}.",
        "",
        "Daemon-side = the daemon's own clock, from accepting CreateCacheCluster to the commit that "
        "makes the cluster available (CacheClusterCreateTime → the \"Cache cluster created\" event); "
        "the end-to-end column adds the client's signing, HTTP and polling.",
        "",
        "| cluster | end-to-end create → available median (min–max) ms | floor median ms | ratio "
        "| daemon-side median ms | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        c, f, d = summarize(r["create"]), summarize(r["floor"]), summarize(r["daemon"])
        lines.append(f"| {name} | {ms(c[0])} ({ms(c[1])}–{ms(c[2])}) | {ms(f[0])} | {c[0] / f[0]:.2f}× "
                     f"| {ms(d[0])} | {d[0] / f[0]:.2f}× |")
    return append_section(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="runs per engine (default 10)")
    ap.add_argument("--record", action="store_true", help="append the results to docs/BENCHMARKS.md")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--no-build", action="store_true", help="don't run cargo build --release first")
    args = ap.parse_args()

    for tool in ("redis-server", "memcached"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: run bash scripts/setup-engines.sh")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
    harness.LARDER_BIN = args.bin

    results: dict[str, dict[str, list[float]]] = {
        "redis 1 node": {"create": [], "floor": [], "daemon": []},
        "memcached 3 nodes": {"create": [], "floor": [], "daemon": []},
    }
    with tempfile.TemporaryDirectory(prefix="larder-bench-") as tmp:
        daemon = harness.Larder(Path(tmp))
        try:
            daemon.start()
            ec = daemon.client()
            # One unmeasured round each, so first-touch costs (page cache, lazy init) don't count.
            create_until_available(ec, "warm-redis", "redis", 1)
            create_until_available(ec, "warm-mc", "memcached", 3)
            floor_redis(Path(tmp))
            floor_memcached()
            for i in range(args.n):
                # Interleave so drift (thermal, other load) hits both sides alike.
                results["redis 1 node"]["create"].append(create_until_available(
                    ec, f"bench-r-{i}", "redis", 1, results["redis 1 node"]["daemon"]))
                results["redis 1 node"]["floor"].append(floor_redis(Path(tmp)))
                results["memcached 3 nodes"]["create"].append(
                    create_until_available(ec, f"bench-m-{i}", "memcached", 3,
                                           results["memcached 3 nodes"]["daemon"]))
                results["memcached 3 nodes"]["floor"].append(floor_memcached())
                print(f"run {i + 1}/{args.n}: redis {ms(results['redis 1 node']['create'][-1])} ms, "
                      f"memcached {ms(results['memcached 3 nodes']['create'][-1])} ms", file=sys.stderr)
        finally:
            daemon.cleanup()

    print(f"\ncreate → available vs engine spawn floor, N={args.n} (ms)")
    print(f"{'cluster':<20}{'create median':>15}{'min':>9}{'max':>9}{'floor median':>14}{'ratio':>8}"
          f"{'daemon-side':>13}{'ratio':>8}")
    worst = worst_daemon = 0.0
    for name, r in results.items():
        c, f, d = summarize(r["create"]), summarize(r["floor"]), summarize(r["daemon"])
        ratio = c[0] / f[0]
        worst = max(worst, ratio)
        worst_daemon = max(worst_daemon, d[0] / f[0])
        print(f"{name:<20}{ms(c[0]):>15}{ms(c[1]):>9}{ms(c[2]):>9}{ms(f[0]):>14}{ratio:>7.2f}×"
              f"{ms(d[0]):>13}{d[0] / f[0]:>7.2f}×")
    print(f"target < 1.5×: end-to-end {'met' if worst < 1.5 else 'NOT met'}, "
          f"daemon-side {'met' if worst_daemon < 1.5 else 'NOT met'}")
    if args.record:
        print(f"recorded in {record(results, args.n, args.bin)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
