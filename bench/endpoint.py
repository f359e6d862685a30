#!/usr/bin/env python3
"""Redis primary endpoint throughput against a direct connection and HAProxy.

Starts one redis-server, then measures `redis-benchmark -c 50 -n 200000 -t set,get`
at -P 1 and -P 16 (a) direct, (b) through the Larder primary endpoint and (c) through
HAProxy in TCP mode, each 5 times interleaved after a warm-up, and prints medians and
ratios.

    python3 bench/endpoint.py [--record] [--runs 3] [--daemon URL]

Without --daemon, (b) is the standalone `redis_forward` example as the daemon runs it
(kernel splice where available, multiplexing on), and two more configurations show
what clients the splice cannot reach get: `userspace` (multiplexing on, splice off)
and `forward-only` (both off). With --daemon URL,
a replication group is created in a running Larder daemon via boto3 and its
PrimaryEndpoint is compared with the member node's own endpoint.
"""

import argparse
import csv
import datetime
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from report import append_section, machine_info

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORWARDER = os.path.join(ROOT, "target", "release", "examples", "redis_forward")
CLIENTS = 50
# Requests per run by pipeline depth: enough for each run to last a second or more,
# so scheduler noise on a shared machine averages out.
REQUESTS = {1: 200_000, 16: 2_000_000}
PIPELINES = (1, 16)
TESTS = ("SET", "GET")

procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on port {port}")


def spawn(args, port):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    wait_port(port, proc)
    return proc


def cleanup():
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_redis():
    port = free_port()
    spawn(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
           "--bind", "127.0.0.1"], port)
    return port


def start_forwarder(upstream, multiplexing="on", kernel_splice="auto"):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "larder-endpoints",
                    "--example", "redis_forward"], cwd=ROOT, check=True)
    port = free_port()
    spawn([FORWARDER, "--listen", f"127.0.0.1:{port}", "--primary",
           f"127.0.0.1:{upstream}", "--multiplexing", multiplexing,
           "--kernel-splice", kernel_splice], port)
    return port


def start_haproxy(upstream, workdir):
    """HAProxy in TCP mode in front of `upstream` ("host:port")."""
    port = free_port()
    cfg = os.path.join(workdir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server redis {upstream}
""")
    spawn(["haproxy", "-f", cfg], port)
    return port


def daemon_endpoints(url):
    """(direct host, direct port, endpoint host, endpoint port) of a new group."""
    venv = os.path.join(ROOT, ".venv", "lib")
    if os.path.isdir(venv):
        for d in os.listdir(venv):
            sys.path.append(os.path.join(venv, d, "site-packages"))
    import boto3  # only needed for --daemon

    # Larder's default credential pair unless the environment names another.
    ec = boto3.client("elasticache", endpoint_url=url,
                      region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                      aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "larder"),
                      aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "larder"))
    group = f"bench-{os.getpid()}"
    ec.create_replication_group(
        ReplicationGroupId=group, ReplicationGroupDescription="bench", Engine="redis",
        CacheNodeType="cache.t4g.micro", NumCacheClusters=1)
    deadline = time.time() + 120
    while True:
        rg = ec.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0]
        if rg["Status"] == "available":
            break
        if time.time() > deadline:
            raise RuntimeError(f"{group} not available: {rg['Status']}")
        time.sleep(0.5)
    ng = rg["NodeGroups"][0]
    node, ep = ng["NodeGroupMembers"][0]["ReadEndpoint"], ng["PrimaryEndpoint"]
    return group, ec, (node["Address"], node["Port"]), (ep["Address"], ep["Port"])


def bench(host, port, pipeline):
    out = subprocess.run(
        ["redis-benchmark", "-h", host, "-p", str(port), "-q", "--csv", "-c", str(CLIENTS),
         "-n", str(REQUESTS[pipeline]), "-t", "set,get", "-P", str(pipeline)],
        check=True, capture_output=True, text=True).stdout
    rows = csv.reader(io.StringIO(out))
    header = next(rows)
    rps = header.index("rps")
    return {row[0]: float(row[rps]) for row in rows if row}


def warm_up(targets):
    """A few short bursts of 50 clients per config. The endpoint's standby pool
    starts at 16 and doubles each time a burst empties it, so after these it holds
    a standby for every benchmark client, as it would in steady use."""
    for _ in range(4):
        for host, port in targets.values():
            subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-q", "-c",
                            str(CLIENTS), "-n", "20000", "-t", "set"],
                           check=True, capture_output=True)
            time.sleep(0.2)


def run(targets, runs):
    """{(config, pipeline, test): median rps}, running the configs interleaved."""
    warm_up(targets)
    samples = {}
    for i in range(runs):
        for pipeline in PIPELINES:
            for name, (host, port) in targets.items():
                for test, rps in bench(host, port, pipeline).items():
                    samples.setdefault((name, pipeline, test), []).append(rps)
        print(f"  run {i + 1}/{runs} done", file=sys.stderr)
    return {k: statistics.median(v) for k, v in samples.items()}


def table(results, names):
    """One row per (pipeline, test): rps of every config, each over direct, and the
    endpoint over HAProxy."""
    others = [n for n in names if n != "direct"]
    head = "| test | P | " + " | ".join(f"{n} rps" for n in names)
    head += " | " + " | ".join(f"{n}/direct" for n in others) + " | endpoint/haproxy |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for pipeline in PIPELINES:
        for test in TESTS:
            r = {n: results[(n, pipeline, test)] for n in names}
            cells = [f"{r[n]:,.0f}" for n in names]
            cells += [f"{r[n] / r['direct']:.2f}" for n in others]
            cells.append(f"{r['endpoint'] / r['haproxy']:.2f}")
            lines.append(f"| {test} | {pipeline} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def record(text, runs, mode):
    info = machine_info()
    path = append_section(f"""
## Redis primary endpoint throughput ({datetime.datetime.now():%Y-%m-%d %H:%M})

`bench/endpoint.py` ({mode}): redis-benchmark -c {CLIENTS} -t set,get, -n 200000 at
-P 1 and 2000000 at -P 16, median of {runs} interleaved runs after a warm-up,
requests/s. `endpoint` is Larder's primary endpoint as the daemon runs it (kernel
splice for local clients, multiplexing on); `userspace` is the same endpoint with the
splice off, which is what clients on other hosts get; `forward-only` has multiplexing
off too (one node connection per client, bytes copied).

- nproc {info["nproc"]}, CPU {info["cpu"]}, kernel {info["kernel"]}
- {version(["redis-server", "--version"])}
- {version(["haproxy", "-v"])}

{text}""".split("\n"))
    print(f"appended to {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--record", action="store_true", help="append to docs/BENCHMARKS.md")
    ap.add_argument("--daemon", metavar="URL", help="use a Larder daemon's replication group")
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "haproxy"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    # SIGTERM should clean up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = tempfile.mkdtemp(prefix="larder-bench-")
    group = None
    try:
        if args.daemon:
            group, ec, direct, endpoint = daemon_endpoints(args.daemon)
            targets = {"direct": direct, "endpoint": endpoint,
                       "haproxy": ("127.0.0.1", start_haproxy(f"{direct[0]}:{direct[1]}", workdir))}
            mode = f"daemon {args.daemon}"
        else:
            redis = start_redis()
            targets = {"direct": ("127.0.0.1", redis),
                       "endpoint": ("127.0.0.1", start_forwarder(redis)),
                       "userspace": ("127.0.0.1", start_forwarder(redis, "on", "off")),
                       "forward-only": ("127.0.0.1", start_forwarder(redis, "off", "off")),
                       "haproxy": ("127.0.0.1", start_haproxy(f"127.0.0.1:{redis}", workdir))}
            mode = "standalone redis_forward example"
        results = run(targets, args.runs)
        text = table(results, list(targets))
        print(text)
        if args.record:
            record(text, args.runs, mode)
    finally:
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        if group:
            try:
                ec.delete_replication_group(ReplicationGroupId=group)
            except Exception as e:  # best effort; the group is named after our pid
                print(f"could not delete {group}: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
