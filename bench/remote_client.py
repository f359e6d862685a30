#!/usr/bin/env python3
"""Primary endpoint throughput for a client on another host: endpoint vs direct vs HAProxy.

Two network namespaces joined by a bridge (e2e/netns.py) stand for two hosts:
  * `srv`: `larder server` (and the agent it starts, its redis-server node and its
    endpoints) listening on the namespace's own address, and HAProxy in TCP mode
    pointing at the group's primary node;
  * `cli`: the client. redis-benchmark runs here, so every connection crosses the
    veth pair and the bridge as traffic from another machine would. The kernel
    splice only pairs clients on the endpoint's own host, so the server runs with
    `--endpoint-kernel-splice off` and what is measured is the userspace relay a
    remote client gets.
For each of SET and GET at -P 1 and -P 16, redis-benchmark -c 50 runs against
(a) the primary node directly, (b) the group's PrimaryEndpoint, (c) HAProxy; the
targets are interleaved within every repetition, medians over the repetitions.
Printed: requests/s, endpoint/direct and endpoint/HAProxy.

`--baseline-bin PATH` runs a second `larder server` (another build, say the commit
before an endpoint change) in the same server namespace with a group of its own;
its endpoint is measured in the same repetitions as `endpoint-baseline`, and its
direct connection as `direct-baseline`, so a change is judged before/after in one run.

The API is reachable only inside the namespaces, so boto3 calls run in the client
namespace: this script re-runs itself there (`ip netns exec … --api-call …`).

Needs root.  .venv/bin/python bench/remote_client.py [--runs 3] [--record]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

from report import append_section, machine_info  # noqa: E402

CLIENTS = 50
# Requests per run by pipeline depth: a few seconds per run on a quiet machine, so
# the whole bench (3 targets x 2 depths x --runs) stays within a few minutes even
# when the machine is shared; interleaving the targets spreads the noise evenly.
REQUESTS = {1: 50_000, 16: 500_000}
PIPELINES = (1, 16)
TESTS = ("SET", "GET")
API_PORT = 8500
KEY = "larder"
# The aims for a remote client.
AIM_DIRECT = 0.9
AIM_HAPROXY = 1.3


# --------------------------------------------------------------------------- API calls (client namespace)


def api_call(url: str, action: str, group: str) -> dict:
    """Runs inside the client namespace: create (and wait for) or delete a group."""
    import boto3  # the venv's; only this half of the script needs it

    ec = boto3.client("elasticache", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id=KEY, aws_secret_access_key=KEY)
    if action == "wait-api":
        deadline = time.monotonic() + 30
        while True:
            try:
                ec.describe_cache_clusters()
                return {}
            except Exception:  # noqa: BLE001  (not listening yet)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    if action == "delete":
        ec.delete_replication_group(ReplicationGroupId=group)
        return {}
    ec.create_replication_group(
        ReplicationGroupId=group, ReplicationGroupDescription="remote client bench",
        Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheClusters=1)
    deadline = time.monotonic() + 120
    while True:
        (g,) = ec.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"]
        if g["Status"] == "available":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{group} not available: {g['Status']}")
        time.sleep(0.2)
    (ng,) = g["NodeGroups"]
    node, ep = ng["NodeGroupMembers"][0]["ReadEndpoint"], ng["PrimaryEndpoint"]
    return {"direct": [node["Address"], node["Port"]], "endpoint": [ep["Address"], ep["Port"]]}


def in_client(client, url: str, action: str, group: str = "") -> dict:
    out = subprocess.run(client.cmd(sys.executable, __file__, "--api-call", url, action, group),
                         capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"API call {action} failed:\n{out.stderr}")
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- the server side


class Servers:
    """Processes started in the server namespace; the Topology kills them all at close."""

    def __init__(self, topo, server, client, workdir: Path):
        self.topo, self.server, self.client, self.dir = topo, server, client, workdir
        self.procs: list[subprocess.Popen] = []
        self.next_ports = 21000

    def spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        fh = open(log, "ab")
        p = subprocess.Popen(self.server.cmd(*args), stdout=fh, stderr=fh, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def larder(self, name: str, binary: Path, api_port: int, multiplexing: str) -> dict:
        """A `larder server` with a one-node group; returns its direct and endpoint addresses."""
        data = self.dir / name
        data.mkdir()
        lo = self.next_ports
        self.next_ports += 500
        addr = self.server.addr
        env_args = ["env", "RUST_LOG=warn", "NO_COLOR=1"]
        p = self.spawn(env_args + [
            str(binary), "server", "--listen", f"{addr}:{api_port}", "--data-dir", str(data / "data"),
            "--node-ports", f"{lo}-{lo + 499}", "--advertise-host", addr, "--node-bind", addr,
            "--endpoint-kernel-splice", "off", "--endpoint-multiplexing", multiplexing,
            "--agent-log", str(data / "larder.log")], data / "larder.log")
        url = f"http://{addr}:{api_port}"
        in_client(self.client, url, "wait-api")
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{(data / 'larder.log').read_text()[-2000:]}")
        found = in_client(self.client, url, "create", f"bench-{name}")
        return {k: tuple(v) for k, v in found.items()}

    def haproxy(self, upstream: tuple[str, int], port: int) -> tuple[str, int]:
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(f"""global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend fe
    bind {self.server.addr}:{port}
    default_backend be
backend be
    server redis {upstream[0]}:{upstream[1]}
""")
        self.spawn(["haproxy", "-f", str(cfg)], self.dir / "haproxy.log")
        addr = (self.server.addr, port)
        wait_listening(self.client, addr)
        return addr


def wait_listening(client, addr: tuple[str, int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(client.cmd("redis-cli", "-h", addr[0], "-p", str(addr[1]), "ping"),
                         capture_output=True, text=True).stdout.strip() != "PONG":
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers PING on {addr}")
        time.sleep(0.1)


# --------------------------------------------------------------------------- measuring (client namespace)


def bench(client, addr: tuple[str, int], pipeline: int) -> dict[str, float]:
    out = subprocess.run(
        client.cmd("redis-benchmark", "-h", addr[0], "-p", str(addr[1]), "-q", "--csv",
                   "-c", str(CLIENTS), "-n", str(REQUESTS[pipeline]), "-t", "set,get",
                   "-P", str(pipeline)),
        check=True, capture_output=True, text=True).stdout
    rows = csv.reader(io.StringIO(out))
    rps = next(rows).index("rps")
    return {row[0]: float(row[rps]) for row in rows if row}


def run(client, targets: dict[str, tuple[str, int]], runs: int) -> dict:
    """{(target, pipeline, test): [rps per run]}, targets interleaved within each run."""
    for addr in targets.values():  # warm-up: connections, the endpoint's shared link, caches
        subprocess.run(client.cmd("redis-benchmark", "-h", addr[0], "-p", str(addr[1]), "-q",
                                  "-c", str(CLIENTS), "-n", "50000", "-t", "set"),
                       check=True, capture_output=True)
    samples: dict = {}
    for i in range(runs):
        for pipeline in PIPELINES:
            for name, addr in targets.items():
                for test, rps in bench(client, addr, pipeline).items():
                    samples.setdefault((name, pipeline, test), []).append(rps)
        print(f"  run {i + 1}/{runs} done", file=sys.stderr)
    return samples


def table(samples: dict, names: list[str]) -> list[str]:
    med = {k: statistics.median(v) for k, v in samples.items()}
    ratios = [("endpoint", "direct"), ("endpoint", "haproxy"), ("haproxy", "direct")]
    if "endpoint-baseline" in names:
        ratios += [("endpoint-baseline", "direct-baseline"), ("endpoint-baseline", "haproxy"),
                   ("endpoint", "endpoint-baseline")]
    head = "| test | P | " + " | ".join(f"{n} rps" for n in names) + " | " + \
        " | ".join(f"{a}/{b}" for a, b in ratios) + " |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for pipeline in PIPELINES:
        for test in TESTS:
            cells = [f"{med[(n, pipeline, test)]:,.0f}" for n in names]
            cells += [f"{med[(a, pipeline, test)] / med[(b, pipeline, test)]:.2f}" for a, b in ratios]
            lines.append(f"| {test} | {pipeline} | " + " | ".join(cells) + " |")
    return lines


def verdict(samples: dict) -> list[str]:
    med = {k: statistics.median(v) for k, v in samples.items()}
    out = []
    for pipeline in PIPELINES:
        d = [med[("endpoint", pipeline, t)] / med[("direct", pipeline, t)] for t in TESTS]
        h = [med[("endpoint", pipeline, t)] / med[("haproxy", pipeline, t)] for t in TESTS]
        out.append(f"-P {pipeline}: endpoint/direct {min(d):.2f}–{max(d):.2f} "
                   f"(aim ≥ {AIM_DIRECT}: {'met' if min(d) >= AIM_DIRECT else 'not met'}), "
                   f"endpoint/HAProxy {min(h):.2f}–{max(h):.2f} "
                   f"(aim ≥ {AIM_HAPROXY}: {'met' if min(h) >= AIM_HAPROXY else 'not met'})")
    return out


def spread(samples: dict, names: list[str]) -> str:
    """Largest (max-min)/median over the repetitions, so a reader sees the noise."""
    worst = max((max(v) - min(v)) / statistics.median(v) for k, v in samples.items() if k[0] in names)
    return f"{worst * 100:.0f}%"


def record(lines: list[str], verdicts: list[str], runs: int, names: list[str], samples: dict,
           commit: str, multiplexing: str, baseline: str | None, loads: list[float], note: str) -> Path:
    info = machine_info()
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    base = (f" `endpoint-baseline` / `direct-baseline`: a second `larder server` built from "
            f"{baseline}, its own one-node group, same namespaces, same repetitions." if baseline else "")
    section = [
        "",
        f"## Primary endpoint throughput, remote client ({dt.datetime.now():%Y-%m-%d %H:%M})",
        "",
        f"`bench/remote_client.py`, commit {commit}: client and server in two network namespaces "
        "joined by a veth bridge (e2e/netns.py), so every connection is remote to the endpoint "
        "and the kernel splice cannot apply (the server runs with `--endpoint-kernel-splice off`, "
        f"`--endpoint-multiplexing {multiplexing}`). redis-benchmark -c {CLIENTS} -t set,get in the "
        f"client namespace, -n {REQUESTS[1]} at -P 1 and {REQUESTS[16]} at -P 16, against the "
        "one-node group's primary (direct), its PrimaryEndpoint, and HAProxy (TCP mode, one "
        f"thread, in the server namespace, pointing at the primary); median of {runs} interleaved "
        f"repetitions after a warm-up, requests/s; largest spread between repetitions "
        f"{spread(samples, names)}.{base}",
        f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; redis-server "
        f"{info['redis']}; {haproxy}. 1-minute load average {loads[0]:.1f} at the start and "
        f"{loads[1]:.1f} at the end (shared machine; the load generator, the node and the "
        "relay all share the 2 cores).",
        "",
        *lines,
        "",
        *[f"- {v}" for v in verdicts],
    ]
    if note:
        section += ["", note]
    return append_section(section)


def commit_of(path: Path) -> str:
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--", "crates"],
                           capture_output=True, text=True).stdout.strip()
    return (out or "?") + ("+changes" if dirty else "")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--api-call":
        print(json.dumps(api_call(*sys.argv[2:5])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--record", action="store_true", help="append the results to docs/BENCHMARKS.md")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "larder")
    ap.add_argument("--no-build", action="store_true", help="don't run cargo build --release first")
    ap.add_argument("--baseline-bin", type=Path, help="another larder build to measure in the same run")
    ap.add_argument("--baseline-name", default="the baseline build",
                    help="how the record names the baseline build (a commit, say)")
    ap.add_argument("--multiplexing", choices=["on", "off"], default="on")
    ap.add_argument("--note", default="", help="a paragraph for the record: why a number wins or loses")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    if not shutil.which("haproxy"):
        sys.exit("haproxy is not installed (apt-get install -y haproxy); the bench needs it as "
                 "the baseline and does not run without it")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "larder"], cwd=ROOT, check=True)
    import netns

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    loads = [os.getloadavg()[0]]
    topo = netns.Topology()
    workdir = Path(tempfile.mkdtemp(prefix="larder-remote-"))
    try:
        server, client = topo.add_host("srv"), topo.add_host("cli")
        servers = Servers(topo, server, client, workdir)
        main_group = servers.larder("main", args.bin, API_PORT, args.multiplexing)
        targets = {"direct": main_group["direct"], "endpoint": main_group["endpoint"],
                   "haproxy": servers.haproxy(main_group["direct"], 7000)}
        if args.baseline_bin:
            base = servers.larder("baseline", args.baseline_bin, API_PORT + 1, args.multiplexing)
            targets["direct-baseline"] = base["direct"]
            targets["endpoint-baseline"] = base["endpoint"]
        for addr in targets.values():
            wait_listening(client, addr)
        print(f"targets: {targets}", file=sys.stderr)
        samples = run(client, targets, args.runs)
    finally:
        topo.close()
        shutil.rmtree(workdir, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    names = list(targets)
    lines = table(samples, names)
    verdicts = verdict(samples)
    print("\n".join(lines))
    print("\n".join(verdicts))
    print(f"largest spread between repetitions: {spread(samples, names)}")
    if args.record:
        path = record(lines, verdicts, args.runs, names, samples, commit_of(ROOT), args.multiplexing,
                      args.baseline_name if args.baseline_bin else None, loads, args.note)
        print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
