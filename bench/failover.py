#!/usr/bin/env python3
"""Failover after kill -9 (or SIGSTOP) of the primary: Larder replication group against Redis Sentinel.

Both sides get the same load: WRITERS (4) concurrent writers, writer j doing
SET w<j>:seq:N N (N = 0, 1, 2 …) in a tight loop with a short socket timeout,
reconnecting on any error, and recording when each write was acknowledged.
  * Sentinel: 3 redis-servers (primary + 2 replicas, repl-diskless-sync-delay 0) and
    3 sentinels (quorum 2, down-after-milliseconds 1000, failover-timeout 10000,
    parallel-syncs 1); on every reconnect the writer asks a sentinel for the master
    (SENTINEL get-master-addr-by-name).
  * Larder: `larder server` (release build), a 3-node replication group with automatic
    failover; the writer always connects to the group's PrimaryEndpoint.
Each round: write for 2 s, kill -9 the primary, keep writing until every writer has
had writes acknowledged again for 2 s. Measured per round:
  (a) recovery: seconds from the kill until every writer has an acknowledged write
      again (for each writer, counting only writes sent after it first saw the
      failure; the slowest writer counts);
  (b) lost, per writer: its acknowledged keys missing on the final primary.
Fresh setup per round; medians over the rounds; ratio Larder / Sentinel.
`--fault stop` freezes the primary with SIGSTOP instead: a hung node, which neither
side can see from the process table, so both detect it by timeouts alone (Sentinel's
down-after-milliseconds, Larder's missed health checks). That is the fairer race.
With --record, appends a dated section to docs/BENCHMARKS.md.

Run it with the e2e venv (it needs boto3 and redis):  .venv/bin/python bench/failover.py
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import botocore.exceptions
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402  (daemon and port helpers from the e2e suite)
from report import append_section, machine_info  # noqa: E402

STEADY = 2.0          # seconds of writes before the kill, and after recovery
WRITERS = 4           # concurrent writers, each with its own connection and keys
GIVE_UP = 60.0        # a round whose writes never resume is a failure, not a hang
SOCKET_TIMEOUT = 0.25
ERROR_PAUSE = 0.01    # between reconnect attempts, so the writer does not starve the failover
FAULT = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}
fault_signal = signal.SIGKILL  # set from --fault

Addr = tuple[str, int]


def connect(addr: Addr, timeout: float = SOCKET_TIMEOUT) -> redis.Redis:
    return redis.Redis(host=addr[0], port=addr[1], socket_timeout=timeout,
                       socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))


def wait_for(pred: Callable[[], object], timeout: float, what: str):
    return harness.wait_until(pred, timeout, interval=0.05, what=what)


# --------------------------------------------------------------------------- the writer


class Writer(threading.Thread):
    """SET <prefix>:N N in a tight loop; `where()` gives the address to (re)connect to."""

    def __init__(self, where: Callable[[], Addr], prefix: str = "seq"):
        super().__init__(daemon=True)
        self.where = where
        self.prefix = prefix
        self.acked = 0
        self.ack_times: list[float] = []   # ack_times[i]: when seq:i was acknowledged
        self.error_times: list[float] = []
        self.stop_evt = threading.Event()

    def run(self) -> None:
        r = None
        while not self.stop_evt.is_set():
            try:
                if r is None:
                    r = connect(self.where())
                n = self.acked
                r.set(f"{self.prefix}:{n}", n)
                self.ack_times.append(time.monotonic())
                self.acked = n + 1
            except (redis.RedisError, OSError):
                self.error_times.append(time.monotonic())
                if r is not None:
                    try:
                        r.close()
                    except Exception:  # noqa: BLE001
                        pass
                r = None
                time.sleep(ERROR_PAUSE)
        if r is not None:
            r.close()

    def stop(self) -> None:
        self.stop_evt.set()
        self.join(10)


def first_ack_after(w: Writer, t: float) -> float | None:
    i = bisect.bisect_right(w.ack_times, t)
    return w.ack_times[i] if i < len(w.ack_times) else None


Round = tuple[float, list[int], int]  # (recovery s, lost per writer, acknowledged in all)


def run_round(where: Callable[[], Addr], kill: Callable[[], None],
              final_primary: Callable[[], Addr]) -> Round:
    """One kill round with WRITERS concurrent writers."""
    writers = [Writer(where, f"w{j}:seq") for j in range(WRITERS)]
    for w in writers:
        w.start()
    try:
        time.sleep(STEADY)
        if any(w.acked == 0 for w in writers):
            raise RuntimeError("a writer had no write acknowledged before the kill")
        t_kill = time.monotonic()
        kill()
        # Each writer's recovery counts from the kill to its first write acknowledged
        # after it noticed the failure (a reply already on the wire at the kill does
        # not count); the round's is the slowest writer's.
        firsts = []
        for w in writers:
            noticed = wait_for(lambda w=w: next((t for t in w.error_times if t >= t_kill), None),
                               GIVE_UP, "every writer to notice the kill")
            firsts.append(wait_for(lambda w=w, n=noticed: first_ack_after(w, n), GIVE_UP,
                                   "writes to resume after the kill"))
        last = max(firsts)
        wait_for(lambda: all(w.ack_times[-1] >= last + STEADY for w in writers), GIVE_UP,
                 "2 s of writes after recovery")
    finally:
        for w in writers:
            w.stop()
    r = connect(final_primary(), timeout=10)
    lost = []
    for w in writers:
        keys = [f"{w.prefix}:{i}" for i in range(w.acked)]
        missing = 0
        for i in range(0, len(keys), 5000):
            missing += sum(1 for v in r.mget(keys[i:i + 5000]) if v is None)
        lost.append(missing)
    return last - t_kill, lost, sum(w.acked for w in writers)


# --------------------------------------------------------------------------- Redis Sentinel


class SentinelSetup:
    """3 redis-servers and 3 sentinels in a temp dir; stop() kills every one of them."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.procs: list[subprocess.Popen] = []
        self.redis_ports = [harness.free_port() for _ in range(3)]
        self.sentinel_ports = [harness.free_port() for _ in range(3)]
        self.server_procs: dict[int, subprocess.Popen] = {}

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def start(self) -> None:
        primary = self.redis_ports[0]
        for i, port in enumerate(self.redis_ports):
            d = self.dir / f"redis-{port}"
            d.mkdir()
            args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                    "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
            if i:
                args += ["--replicaof", "127.0.0.1", str(primary)]
            self.server_procs[port] = self._spawn(args)
        for port in self.redis_ports:
            wait_for(lambda port=port: connect(("127.0.0.1", port)).ping(), 10, f"redis on {port}")
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {self.dir}",
                f"sentinel monitor m 127.0.0.1 {primary} 2",
                "sentinel down-after-milliseconds m 1000",
                "sentinel failover-timeout m 10000",
                "sentinel parallel-syncs m 1", ""]))
            self._spawn(["redis-server", str(conf), "--sentinel"])
        # Ready when replication is up and every sentinel knows both replicas and both peers.
        for port in self.redis_ports[1:]:
            wait_for(lambda port=port: connect(("127.0.0.1", port)).info("replication")
                     .get("master_link_status") == "up", 20, f"replica {port} in sync")
        for port in self.sentinel_ports:
            def ready(port=port):
                info = connect(("127.0.0.1", port)).sentinel_master("m")  # parsed into a dict
                return int(info["num-slaves"]) == 2 and int(info["num-other-sentinels"]) == 2
            wait_for(ready, 30, f"sentinel {port} to see the replicas and its peers")

    def master(self) -> Addr:
        """Ask the sentinels, first answer wins (as a Sentinel-aware client does)."""
        for port in self.sentinel_ports:
            try:
                host, p = connect(("127.0.0.1", port)).execute_command(
                    "SENTINEL", "get-master-addr-by-name", "m")
                return host.decode(), int(p)
            except (redis.RedisError, OSError, TypeError, ValueError):
                continue
        raise redis.ConnectionError("no sentinel answered")

    def kill_primary(self) -> None:
        self.server_procs[self.master()[1]].send_signal(fault_signal)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def sentinel_round(tmp: Path, i: int) -> Round:
    d = tmp / f"sentinel-{i}"
    d.mkdir()
    s = SentinelSetup(d)
    try:
        s.start()
        return run_round(s.master, s.kill_primary, s.master)
    finally:
        s.stop()


# --------------------------------------------------------------------------- Larder


def group_primary(ec, rg_id: str) -> dict:
    (g,) = ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"]
    (ng,) = g["NodeGroups"]
    (prim,) = [m for m in ng["NodeGroupMembers"] if m.get("CurrentRole") == "primary"]
    return {"group": g, "node_group": ng, "member": prim}


def wait_group_ready(ec, rg_id: str) -> dict:
    """Available, one primary, and both replicas with their link up."""
    def ready():
        p = group_primary(ec, rg_id)
        if p["group"]["Status"] != "available":
            return None
        for m in p["node_group"]["NodeGroupMembers"]:
            if m is p["member"]:
                continue
            ep = m["ReadEndpoint"]
            if connect((ep["Address"], ep["Port"])).info("replication").get("master_link_status") != "up":
                return None
        return p
    return wait_for(ready, 60, f"{rg_id} available with replicas in sync")


def larder_round(daemon: harness.Larder, ec, i: int) -> Round:
    rg = f"bench{i}"
    ec.create_replication_group(ReplicationGroupId=rg, ReplicationGroupDescription="failover bench",
                                Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    try:
        p = wait_group_ready(ec, rg)
        pe = p["node_group"]["PrimaryEndpoint"]
        endpoint = (pe["Address"], pe["Port"])
        old = p["member"]["CacheClusterId"]

        def kill():
            pidfile = daemon.node_dir(old, "0001") / "redis.pid"
            os.kill(int(pidfile.read_text().strip()), fault_signal)

        def final_primary() -> Addr:
            q = wait_for(lambda: (lambda q: q if q["member"]["CacheClusterId"] != old else None)(
                group_primary(ec, rg)), 30, "the group to report a new primary")
            ep = q["member"]["ReadEndpoint"]
            return ep["Address"], ep["Port"]

        return run_round(lambda: endpoint, kill, final_primary)
    finally:
        ec.delete_replication_group(ReplicationGroupId=rg)
        try:
            harness.wait_until(lambda: not ec.describe_replication_groups()["ReplicationGroups"], 60,
                               what=f"{rg} deleted")
        except AssertionError as e:
            print(f"warning: {e}", file=sys.stderr)


# --------------------------------------------------------------------------- reporting


def summary(rounds: list[Round]) -> dict:
    t = [r[0] for r in rounds]
    per_writer = [x for r in rounds for x in r[1]]
    return {"n": len(rounds), "t_med": statistics.median(t), "t_min": min(t), "t_max": max(t),
            "lost_med": statistics.median(per_writer), "lost_max": max(per_writer),
            "lost_total": sum(per_writer),
            "lost_rounds": " · ".join("/".join(str(x) for x in r[1]) for r in rounds),
            "acked_med": statistics.median(r[2] for r in rounds)}


def table(results: dict[str, dict], fault: str = "kill") -> list[str]:
    """The results as a markdown table; `fault` names what started each round."""
    lines = [f"| setup | rounds | {fault} → all {WRITERS} writers acked again, median (min–max) s "
             "| acked writes lost per writer, median (max) | lost per writer, each round "
             "| lost in all rounds | acked writes per round (all writers), median |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in results.items():
        lines.append(f"| {name} | {s['n']} | {s['t_med']:.2f} ({s['t_min']:.2f}–{s['t_max']:.2f}) "
                     f"| {s['lost_med']:g} ({s['lost_max']}) | {s['lost_rounds']} "
                     f"| {s['lost_total']} | {s['acked_med']:g} |")
    return lines


def ratio_line(results: dict[str, dict]) -> str | None:
    if "Larder" in results and "Sentinel" in results:
        r = results["Larder"]["t_med"] / results["Sentinel"]["t_med"]
        lost = (f"acknowledged writes lost in all rounds: Larder {results['Larder']['lost_total']}, "
                f"Sentinel {results['Sentinel']['lost_total']}")
        return f"Larder / Sentinel recovery time (medians): {r:.2f}×; {lost}"
    return None


def record(results: dict[str, dict], rounds: int, binary: Path, loads: list[float]) -> Path:
    info = machine_info()
    lines = [
        "",
        f"## Failover after {fault_name(fault_signal)} of the primary, {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "",
        f"`bench/failover.py`, {rounds} rounds per setup, fresh setup per round, release build "
        f"(`{binary.name}`). {WRITERS} concurrent writers, each SET w<j>:seq:N in a tight loop "
        f"on its own connection, socket timeout {SOCKET_TIMEOUT * 1000:.0f} ms, reconnect on "
        "error. Sentinel: 3 redis + 3 sentinels, "
        "quorum 2, down-after-milliseconds 1000, the writer asks a sentinel for the master on "
        "every reconnect. Larder: 3-node replication group, automatic failover, writer on the "
        "PrimaryEndpoint. Recovery = kill → every writer has an acknowledged write again; lost = "
        "each writer's acknowledged keys missing on the final primary.",
        f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; "
        f"redis-server {info['redis']}. 1-minute load average {loads[0]:.1f} at the start and "
        f"{loads[1]:.1f} at the end (the machine is shared with other work; both setups ran "
        "under the same load, one after the other).",
        "",
        *table(results),
    ]
    ratio = ratio_line(results)
    if ratio:
        lines += ["", ratio + "."]
    return append_section(lines)


# --------------------------------------------------------------------------- main


def fault_name(sig: signal.Signals) -> str:
    return "kill -9" if sig == signal.SIGKILL else "SIGSTOP (hang)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=5, help="rounds per setup (default 5)")
    ap.add_argument("--only", choices=["sentinel", "larder"], help="run one side only")
    ap.add_argument("--record", action="store_true", help="append the results to docs/BENCHMARKS.md")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--no-build", action="store_true", help="don't run cargo build --release first")
    ap.add_argument("--fault", choices=sorted(FAULT), default="kill",
                    help="kill: SIGKILL the primary (default); stop: SIGSTOP it (a hung node)")
    args = ap.parse_args()
    global fault_signal
    fault_signal = FAULT[args.fault]

    raw: dict[str, list[Round]] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="larder-failover-") as tmpname:
        tmp = Path(tmpname)
        if args.only != "larder":
            raw["Sentinel"] = []
            for i in range(args.rounds):
                raw["Sentinel"].append(sentinel_round(tmp, i))
                t, lost, acked = raw["Sentinel"][-1]
                print(f"sentinel round {i + 1}/{args.rounds}: {t:.3f} s, lost per writer {lost} of {acked}",
                      file=sys.stderr)
        if args.only != "sentinel":
            if not args.no_build:
                subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
            harness.LARDER_BIN = args.bin
            daemon = harness.Larder(tmp / "larder")
            try:
                daemon.start()
                ec = daemon.client()
                rounds = []
                for i in range(args.rounds):
                    rounds.append(larder_round(daemon, ec, i))
                    t, lost, acked = rounds[-1]
                    print(f"larder round {i + 1}/{args.rounds}: {t:.3f} s, lost per writer {lost} of {acked}",
                          file=sys.stderr)
                raw["Larder"] = rounds
            except botocore.exceptions.ClientError as e:
                # Keep the baseline that was measured; say why Larder has no numbers.
                print(f"Larder side failed: {e}", file=sys.stderr)
            finally:
                daemon.cleanup()

    loads.append(os.getloadavg()[0])
    results = {name: summary(r) for name, r in raw.items()}
    print(f"\n{fault_name(fault_signal)} of the primary → all {WRITERS} writers acknowledged again, "
          f"{args.rounds} rounds each")
    print("\n".join(table(results)))
    ratio = ratio_line(results)
    if ratio:
        print(ratio)
    if args.record:
        print(f"recorded in {record(results, args.rounds, args.bin, loads)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
