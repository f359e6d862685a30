"""Helpers for driving a real `larder server` process from the end-to-end tests.

Everything here talks to real processes on 127.0.0.1: the daemon binary, the
redis-server / memcached nodes it spawns, and the AWS CLI from the venv.
Ports are chosen at run time so several runs can share a machine.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import requests

ROOT = Path(__file__).resolve().parent.parent
LARDER_BIN = Path(os.environ.get("LARDER_BIN", ROOT / "target" / "debug" / "larder"))
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
ACCESS_KEY = "larder"
SECRET_KEY = "larder"
NODE_PORT_SPAN = 100


def cluster_arn(cluster_id: str) -> str:
    return f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:cluster:{cluster_id}"


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()


def free_port_range(span: int = NODE_PORT_SPAN) -> tuple[int, int]:
    """A block of `span` consecutive free ports below the kernel's ephemeral range.

    Staying below the ephemeral range keeps client sockets from landing on a port
    the daemon is about to hand to a node.
    """
    try:
        lo_eph = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lo_eph = 32768
    top = max(lo_eph - span, 12000)
    for _ in range(200):
        start = random.randrange(10000, top) // span * span
        ports = range(start, start + span)
        if any(p in _handed_out for p in ports):
            continue
        if all(_port_is_free(p) for p in ports):
            _handed_out.update(ports)
            return start, start + span - 1
    raise RuntimeError("no free block of ports found")


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listening on {host}:{port} after {timeout}s")
            time.sleep(0.02)


# --------------------------------------------------------------------------- processes


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def pid_alive(pid: int) -> bool:
    """True when pid exists and is not a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return False
    state = stat.rsplit(b")", 1)[-1].split()[0]
    return state not in (b"Z", b"X")


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _listening_inodes() -> dict[int, int]:
    """socket inode -> local port, for every listening TCP socket (v4 and v6)."""
    out: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in _read(table).decode().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            out[int(fields[9])] = port
    return out


def listening_ports_by_pid() -> dict[int, set[int]]:
    """pid -> ports it listens on (TCP)."""
    inodes = _listening_inodes()
    result: dict[int, set[int]] = {}
    for pid in _all_pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in inodes:
                    result.setdefault(pid, set()).add(inodes[inode])
    return result


def pids_listening_on(port: int) -> set[int]:
    return {pid for pid, ports in listening_ports_by_pid().items() if port in ports and pid_alive(pid)}


def pids_under(path: Path | str) -> set[int]:
    """Live processes tied to `path`: in their command line or as working directory.

    redis-server rewrites its process title (so the config path vanishes from
    cmdline) but chdirs into its `dir`, which the cwd check catches.
    """
    path = str(path)
    me = os.getpid()
    found = set()
    for pid in _all_pids():
        if pid == me or not pid_alive(pid):
            continue
        cwd = ""
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            pass
        if path in cmdline(pid) or cwd == path or cwd.startswith(path + "/"):
            found.add(pid)
    return found


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `pred` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------------- API clients


def make_client(endpoint_url: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
    """boto3 ElastiCache client pointed at the daemon; no retries, so every error is seen."""
    cfg = botocore.config.Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "elasticache",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=cfg,
    )


def signed_post(endpoint_url: str, params: dict | None = None, body: bytes | str | None = None,
                access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> requests.Response:
    """POST a raw, SigV4-signed Query API request (for what boto3 refuses to send)."""
    if body is None:
        body = "&".join(
            f"{requests.utils.quote(str(k), safe='')}={requests.utils.quote(str(v), safe='')}"
            for k, v in (params or {}).items()
        )
    if isinstance(body, str):
        body = body.encode()
    req = botocore.awsrequest.AWSRequest(
        method="POST",
        url=endpoint_url.rstrip("/") + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    creds = botocore.credentials.Credentials(access_key, secret_key)
    botocore.auth.SigV4Auth(creds, "elasticache", REGION).add_auth(req)
    return requests.post(req.url, data=body, headers=dict(req.headers), timeout=30)


def xml_error_code(body: str | bytes) -> str | None:
    """The <Code> of a Query API error document, namespace-agnostic."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return m.group(1) if m else None


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"]["Code"]


def describe(client, cluster_id: str) -> dict:
    return client.describe_cache_clusters(CacheClusterId=cluster_id, ShowCacheNodeInfo=True)["CacheClusters"][0]


def describe_all(client) -> list[dict]:
    """Every cluster, following Markers."""
    out, marker = [], None
    while True:
        kw = {"ShowCacheNodeInfo": True, "MaxRecords": 100}
        if marker:
            kw["Marker"] = marker
        page = client.describe_cache_clusters(**kw)
        out.extend(page["CacheClusters"])
        marker = page.get("Marker")
        if not marker:
            return out


def wait_status(client, cluster_id: str, status: str = "available", timeout: float = 60.0,
                interval: float = 0.05) -> dict:
    """Poll DescribeCacheClusters until the cluster has `status`; return its description."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        c = describe(client, cluster_id)
        last = c["CacheClusterStatus"]
        if last == status:
            return c
        if time.monotonic() > deadline:
            raise AssertionError(f"{cluster_id}: status {last!r}, wanted {status!r} within {timeout}s")
        time.sleep(interval)


def wait_absent(status: Callable[[], str], not_found: str, what: str, timeout: float = 60.0) -> None:
    """Poll `status()` (a Describe call) until it fails with the `not_found` error code."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = status()
        except botocore.exceptions.ClientError as e:
            if error_code(e) == not_found:
                return
            raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still present (status {last!r}) after {timeout}s")
        time.sleep(0.05)


def wait_gone(client, cluster_id: str, timeout: float = 60.0) -> None:
    """Poll until DescribeCacheClusters answers CacheClusterNotFound for the cluster."""
    wait_absent(lambda: describe(client, cluster_id)["CacheClusterStatus"],
                "CacheClusterNotFound", cluster_id, timeout)


def event_messages(client, cluster_id: str, duration_minutes: int = 60) -> list[str]:
    resp = client.describe_events(SourceType="cache-cluster", SourceIdentifier=cluster_id,
                                  Duration=duration_minutes)
    return [e["Message"] for e in resp["Events"]]


def wait_event(client, cluster_id: str, pattern: str, timeout: float = 20.0) -> str:
    """Wait for an event whose message matches the regex `pattern`; return the message."""
    rx = re.compile(pattern)

    def found():
        for m in event_messages(client, cluster_id):
            if rx.search(m):
                return m
        return None

    try:
        return wait_until(found, timeout, interval=0.2, what=f"event /{pattern}/ for {cluster_id}")
    except AssertionError:
        raise AssertionError(
            f"no event matching /{pattern}/ for {cluster_id} within {timeout}s; "
            f"events: {event_messages(client, cluster_id)}"
        ) from None


def node_endpoints(cluster: dict) -> dict[str, tuple[str, int]]:
    """CacheNodeId -> (address, port)."""
    return {
        n["CacheNodeId"]: (n["Endpoint"]["Address"], n["Endpoint"]["Port"])
        for n in cluster.get("CacheNodes", [])
    }


# --------------------------------------------------------------------------- AWS CLI


def _aws_binary() -> str:
    cand = Path(sys.executable).parent / "aws"
    if cand.exists():
        return str(cand)
    found = shutil.which("aws")
    if not found:
        raise RuntimeError("AWS CLI not found (install e2e/requirements.txt into the venv)")
    return found


def aws_env(tmpdir: Path) -> dict:
    """Environment for the AWS CLI with the daemon's credentials and no user config."""
    cfg = tmpdir / "aws-config"
    creds = tmpdir / "aws-credentials"
    cfg.write_text("")
    creds.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(cfg),
        AWS_SHARED_CREDENTIALS_FILE=str(creds),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return env


def run_aws(endpoint_url: str, tmpdir: Path, *args: str, check: bool = True):
    """Run `aws elasticache ARGS` against the daemon; parsed JSON on success.

    With check=False returns the CompletedProcess so callers can look at errors.
    """
    cmd = [_aws_binary(), "elasticache", *args, "--endpoint-url", endpoint_url, "--output", "json"]
    proc = subprocess.run(cmd, env=aws_env(tmpdir), capture_output=True, text=True, timeout=120)
    if not check:
        return proc
    if proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


# --------------------------------------------------------------------------- the daemon


class Larder:
    """One `larder server` process with its own data dir, API port and node-port block.

    restart() keeps the data dir and ports, as an operator restarting the service would.
    """

    def __init__(self, workdir: Path, extra_args: list[str] | None = None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.node_ports = free_port_range()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "larder.log"
        self.clock_file = self.workdir / "clock-offset"
        self._log = None
        self.starts = 0
        self.env_extra: dict[str, str] = {}
        # Another binary file to start the server from (an upgrade in place).
        self.bin_override: Path | None = None

    def shift_clock(self, seconds: int) -> None:
        """Moves the daemon's scheduler clock (maintenance and snapshot windows) to
        `seconds` from real time; the daemon reads it within a fraction of a second."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{int(seconds)}\n")
        tmp.rename(self.clock_file)

    # -- lifecycle

    def args(self, extra: list[str]) -> list[str]:
        lo, hi = self.node_ports
        return [
            str(self.bin_override or LARDER_BIN), "server",
            "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", str(self.data_dir),
            "--node-ports", f"{lo}-{hi}",
            # The agent the server starts writes to the same log (both append).
            "--agent-log", str(self.log_path),
            # The schedulers' clock, shifted by shift_clock(); no file, no shift.
            "--clock-offset-file", str(self.clock_file),
            *extra,
        ]

    def start(self, extra_args: list[str] | None = None, timeout: float = 30.0) -> "Larder":
        if not LARDER_BIN.exists():
            raise AssertionError(f"{LARDER_BIN} not built (run cargo build -p larder)")
        extra = self.extra_args if extra_args is None else list(extra_args)
        self.starts += 1
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n---- start #{self.starts}: {' '.join(self.args(extra))}\n".encode())
        self._log.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LARDER_")}
        env.setdefault("RUST_LOG", "info")
        env.setdefault("NO_COLOR", "1")
        env.update(self.env_extra)
        self.proc = subprocess.Popen(
            self.args(extra), stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"larder exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                client.describe_cache_clusters()
                return
            except (botocore.exceptions.EndpointConnectionError,
                    botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"larder API not answering after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def agent_pid(self) -> int:
        """Pid of the host's `larder agent`, which owns the nodes and endpoints."""
        return int(json.loads((self.data_dir / "agent" / "agent.json").read_text())["pid"])

    def _agent_pids(self) -> set[int]:
        """The agent's pid as a set, empty while no agent has announced itself."""
        try:
            return {self.agent_pid}
        except (OSError, ValueError, KeyError):
            return set()

    def stop_agent(self, timeout: float = 60.0) -> None:
        """`larder agent stop`: every node and endpoint of this data dir stops."""
        subprocess.run([str(LARDER_BIN), "agent", "stop", "--data-dir", str(self.data_dir)],
                       check=True, timeout=timeout, capture_output=True)

    def kill9(self) -> None:
        """SIGKILL the daemon only (the agent, its nodes and endpoints keep running)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def restart(self, kill9: bool = True, extra_args: list[str] | None = None,
                timeout: float = 30.0) -> "Larder":
        """Stop (SIGKILL or SIGTERM) and start again on the same data dir and ports.

        extra_args replaces the start-up extra arguments; None means none at all,
        so a test seam such as --workflow-step-delay-ms is not carried over.
        """
        if kill9:
            self.kill9()
        else:
            self.terminate()
        return self.start(extra_args=extra_args or [], timeout=timeout)

    def cleanup(self) -> None:
        """Kill the daemon and anything it left behind for this data dir."""
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        kill_pids(self.owned_pids(include_daemon=True))
        if self._log:
            self._log.close()

    # -- inspection

    def client(self, **kw):
        return make_client(self.endpoint_url, **kw)

    def aws(self, *args: str, check: bool = True):
        return run_aws(self.endpoint_url, self.workdir, *args, check=check)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def owned_pids(self, include_daemon: bool = False) -> set[int]:
        """Live processes that belong to this daemon's world (daemon excluded by default).

        A process counts if its command line or working directory is under the data
        dir, or if it listens on a port in our node-port block.
        """
        pids = pids_under(self.data_dir)
        lo, hi = self.node_ports
        for pid, ports in listening_ports_by_pid().items():
            if any(lo <= p <= hi for p in ports) and pid_alive(pid):
                pids.add(pid)
        if not include_daemon and self.proc is not None:
            pids.discard(self.proc.pid)
        if not include_daemon:
            pids -= self._agent_pids()
        pids.discard(os.getpid())
        return pids

    def node_dir(self, cluster_id: str, node_id: str) -> Path:
        return self.data_dir / "nodes" / f"{cluster_id}-{node_id}"

    def node_pid(self, cluster: dict, node_id: str) -> int:
        """Pid of the engine process serving a node: whoever listens on its endpoint port."""
        host, port = node_endpoints(cluster)[node_id]
        pids = pids_listening_on(port)
        if self.proc is not None:
            pids.discard(self.proc.pid)  # the daemon must not be the one serving a node
        pids -= self._agent_pids()
        assert len(pids) == 1, f"node {cluster['CacheClusterId']}/{node_id} on port {port}: pids {pids}"
        return pids.pop()



def maintenance_window(start_offset_minutes: int, length_minutes: int = 60) -> str:
    """A PreferredMaintenanceWindow (`ddd:hh24:mi-ddd:hh24:mi`, UTC) starting
    `start_offset_minutes` from now: negative to be inside it now, positive for later."""
    import datetime as _dt

    def point(t: _dt.datetime) -> str:
        return f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[t.weekday()]}:{t:%H:%M}"

    start = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=start_offset_minutes)
    return f"{point(start)}-{point(start + _dt.timedelta(minutes=length_minutes))}"
