#!/usr/bin/env python3
"""What a client sees while `larder server` restarts: writes through a primary endpoint
while the control plane is stopped, killed and started again, against the same writer
on a direct connection to the primary node, in the same run.

One writer, one connection, no retries: INCR in a tight loop for DURATION seconds.
  * Baseline: the writer on a direct connection to the group's primary node, while
    nothing happens to the control plane.
  * Larder: the writer on the group's PrimaryEndpoint while the server is restarted
    ROUNDS times (alternately SIGTERM and SIGKILL, each followed by a start and the API
    answering again).
Measured per run: acknowledged commands, errors, whether the connection was replaced,
p50 / p99 / max latency of one command, and the longest gap between two
acknowledgements. The ratio that matters is the Larder run's max gap against the
baseline's: a restart that interrupts clients shows up there.
With --record, appends a dated section to docs/BENCHMARKS.md.

Run it with the e2e venv:  .venv/bin/python bench/control_plane_restart.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402
from report import append_section, machine_info  # noqa: E402


class Writer(threading.Thread):
    def __init__(self, addr):
        super().__init__(daemon=True)
        # Kept: a collected client closes its pool, and redis-py would then reconnect
        # silently, hiding exactly what this measures.
        self.client = redis.Redis(host=addr[0], port=addr[1], socket_timeout=10)
        self.client.ping()
        self.conn = self.client.connection_pool.get_connection()
        self.sockname = self.conn._sock.getsockname()
        self.latencies: list[float] = []
        self.acks: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                self.conn.send_command("INCR", "counter")
                self.conn.read_response()
            except Exception:  # noqa: BLE001
                self.errors += 1
                return
            t1 = time.perf_counter()
            self.latencies.append(t1 - t0)
            self.acks.append(t1)

    def result(self) -> dict:
        self.stop.set()
        self.join(timeout=10)
        lat = sorted(self.latencies)
        gaps = [b - a for a, b in zip(self.acks, self.acks[1:])] or [0.0]
        same = self.conn._sock is not None and self.conn._sock.getsockname() == self.sockname
        return {"acked": len(lat), "errors": self.errors, "same_connection": same,
                "p50_ms": statistics.median(lat) * 1e3 if lat else 0,
                "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3 if lat else 0,
                "max_ms": lat[-1] * 1e3 if lat else 0, "max_gap_ms": max(gaps) * 1e3}


def group(ec) -> dict:
    from test_replication_groups import create_group, wait_roles_agree
    create_group(ec, "bench", 2)
    return wait_roles_agree(ec, "bench", timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per run (baseline)")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--splice-off", action="store_true",
                    help="serve the endpoint in userspace, as for a client on another host")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
    harness.LARDER_BIN = args.bin
    from test_replication_groups import member_addr, primary_endpoint, primary_id

    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="larder-cprestart-") as tmp:
        extra = ["--endpoint-kernel-splice", "off"] if args.splice_off else []
        daemon = harness.Larder(Path(tmp) / "larder", extra_args=extra)
        try:
            daemon.start()
            g = group(daemon.client())
            w = Writer(member_addr(g, primary_id(g)))
            w.start()
            time.sleep(args.duration)
            direct = w.result()
            w = Writer(primary_endpoint(g))
            w.start()
            started = time.monotonic()
            for i in range(args.rounds):
                time.sleep(0.5)
                if i % 2:
                    daemon.kill9()
                else:
                    daemon.terminate()
                time.sleep(0.5)
                daemon.start()
            time.sleep(max(0.0, args.duration - (time.monotonic() - started)))
            through = w.result()
            took = time.monotonic() - started
        finally:
            daemon.cleanup()
    loads.append(os.getloadavg()[0])
    rows = {"direct to the primary (no restarts)": direct,
            f"primary endpoint ({'userspace' if args.splice_off else 'kernel splice'}), "
            f"{args.rounds} server restarts": through}
    for name, r in rows.items():
        print(name, r, file=sys.stderr)
    if args.record:
        info = machine_info()
        lines = ["", f"## Client-visible interruption during control-plane restarts, "
                 f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}", "",
                 f"`bench/control_plane_restart.py`, release build. One writer, one connection, "
                 f"no retries, INCR in a tight loop. The endpoint run lasted {took:.1f} s and "
                 f"restarted `larder server` {args.rounds} times (SIGTERM and SIGKILL in turn, "
                 "each followed by a start); the agent, its nodes and endpoints kept running. "
                 "The endpoint's client is on this host, so the kernel splice carries its bytes "
                 "(sockmap, past the TCP stack of the loopback hop): that is why its per-command "
                 "latency can beat the direct TCP connection; the point here is errors, the "
                 "connection and the gaps.",
                 f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; "
                 f"redis-server {info['redis']}; load {loads[0]:.1f} → {loads[1]:.1f}.", "",
                 "| run | acked | errors | same connection | p50 ms | p99 ms | max ms | longest gap ms |",
                 "|---|---:|---:|---|---:|---:|---:|---:|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['acked']} | {r['errors']} | {r['same_connection']} | "
                         f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.1f} | {r['max_gap_ms']:.1f} |")
        lines += ["", f"Longest gap, endpoint with restarts / direct: "
                  f"{through['max_gap_ms'] / max(direct['max_gap_ms'], 1e-6):.2f}×; p99 ratio "
                  f"{through['p99_ms'] / max(direct['p99_ms'], 1e-6):.2f}×."]
        append_section(lines)
    return 0 if through["errors"] == 0 and through["same_connection"] else 1


if __name__ == "__main__":
    sys.exit(main())
