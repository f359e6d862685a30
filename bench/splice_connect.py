"""connect() latency of a TCP connection that has nothing to do with Larder (a plain
loopback listener) while 0, 10 and 50 spliced primary endpoints run, as ratios to 0.

The kernel splice's sock_ops program runs on every TCP connection of the host, so
this is what the splice costs everybody else. Runs the `splice_connect` example
(release build) against one redis-server; with `--old BINARY` it also runs a
`splice_connect` built from an older commit, interleaved round by round, so both
designs are measured under the same load. Needs root for the splice.

    python3 bench/splice_connect.py [--rounds 5] [--connects 5000] [--old PATH] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, append_section, machine_info  # noqa: E402

COUNTS = [0, 10, 50]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary: str, primary: str, connects: int) -> dict[int, tuple[float, float]]:
    """{endpoints: (median µs, p99 µs)} from one run of the example."""
    out = subprocess.run(
        [binary, "--primary", primary, "--connects", str(connects),
         "--endpoints", ",".join(map(str, COUNTS))],
        capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        f = line.split()
        count, spliced = int(f[1]), int(f[3])
        if spliced != count:
            sys.exit(f"only {spliced} of {count} endpoints spliced: run as root (cgroup v2, Linux 5.15+)")
        result[count] = (float(f[5]), float(f[7]))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connects", type=int, default=5000)
    ap.add_argument("--old", help="a splice_connect binary built from an older commit")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "larder-endpoints",
                    "--example", "splice_connect"], cwd=ROOT, check=True)
    designs = {"per-process (this commit)": str(ROOT / "target/release/examples/splice_connect")}
    if args.old:
        designs["per-endpoint (old)"] = args.old
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        load_start = os.getloadavg()[0]
        samples: dict[str, list[dict[int, tuple[float, float]]]] = {d: [] for d in designs}
        for r in range(args.rounds):
            for design, binary in designs.items():
                samples[design].append(run(binary, f"127.0.0.1:{port}", args.connects))
                print(design, r, samples[design][-1], flush=True)
        load_end = os.getloadavg()[0]
    finally:
        redis.kill()
        redis.wait()
    m = machine_info()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    lines = ["", f"## connect() latency of an unrelated TCP connection with spliced endpoints ({now} UTC)", "",
             f"`bench/splice_connect.py`, {args.rounds} rounds of {args.connects} connects per setting"
             " (`crates/endpoints/examples/splice_connect.rs`: a plain loopback listener in the same"
             " process as the endpoints, connect() timed from the call to its return, each"
             " connection closed with a reset); the endpoints are spliced primary endpoints of one"
             " redis-server with their standby pools filled. Median over rounds of each round's"
             " median and p99, in µs; ratio = that / the same design's 0-endpoint figure"
             + (", both designs interleaved round by round." if args.old else "."),
             f"Machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}; redis-server {m['redis']}."
             f" 1-minute load average {load_start:.1f} at the start and {load_end:.1f} at the end"
             " (the machine is shared with other work).", "",
             "| design | endpoints | sock_ops programs | median µs | p99 µs | median / 0 endpoints | p99 / 0 endpoints |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for design, runs in samples.items():
        per_process = design.startswith("per-process")
        base_med = statistics.median(r[0][0] for r in runs)
        base_p99 = statistics.median(r[0][1] for r in runs)
        for count in COUNTS:
            med = statistics.median(r[count][0] for r in runs)
            p99 = statistics.median(r[count][1] for r in runs)
            progs = (1 if count else 0) if per_process else count
            lines.append(f"| {design} | {count} | {progs} | {med:.1f} | {p99:.1f} |"
                         f" {med / base_med:.2f} | {p99 / base_p99:.2f} |")
    print("\n".join(lines))
    if args.record:
        print("appended to", append_section(lines))


if __name__ == "__main__":
    main()
