"""A Larder installation over several hosts, each a network namespace.

The control plane (`larder server --no-local-nodes`) runs in host `cp`, where its
own agent serves only the endpoints; agents `h1`, `h2`, `h3` run in their own
namespaces with zones us-east-1a/b/c and join it with `--join`. The test process
is the client host: its namespace is joined to the same switch. Every agent gets
the installation's two secrets (link and node admin) before it starts, as an
operator would copy them.

Needs root (network namespaces). `Fleet.close()` kills everything it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness import LARDER_BIN, make_client, wait_until
from netns import Topology

ZONES = {"h1": "us-east-1a", "h2": "us-east-1b", "h3": "us-east-1c"}
API_PORT = 8500
AGENT_PORT = 7800
NODE_PORTS = (23000, 23099)


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Fleet:
    def __init__(self, workdir: Path, hosts=("h1", "h2", "h3"), server_args: list[str] | None = None,
                 net: Topology | None = None):
        self.workdir = Path(workdir)
        # A caller that brings its own topology (a bench that also runs a baseline on
        # the same hosts) brings its client host too, and may have made the hosts.
        self.net = net or Topology()
        self.client_addr = None if net else self.net.attach_root()
        self.cp = self.net.hosts.get("cp") or self.net.add_host("cp")
        self.hosts = {name: self.net.hosts.get(name) or self.net.add_host(name) for name in hosts}
        self.link_secret = secrets.token_hex(32)
        self.admin_secret = secrets.token_hex(32)
        self.server_args = list(server_args or [])
        self.server: subprocess.Popen | None = None
        self.agents: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.endpoint_url = f"http://{self.cp.addr}:{API_PORT}"

    def data_dir(self, name: str) -> Path:
        d = self.workdir / name
        _write_secret(d / "agent" / "agent.secret", self.link_secret)
        _write_secret(d / "nodes" / "larder-admin.secret", self.admin_secret)
        return d

    def _spawn(self, name: str, host, args: list[str]) -> subprocess.Popen:
        log_path = self.workdir / f"{name}.log"
        self.logs[name] = log_path
        log = open(log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LARDER_")}
        env.setdefault("NO_COLOR", "1")
        return subprocess.Popen(host.cmd(str(LARDER_BIN), *args), stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def start_server(self) -> None:
        lo, hi = NODE_PORTS
        data = self.data_dir("cp")
        self.server = self._spawn("cp", self.cp, [
            "server", "--listen", f"{self.cp.addr}:{API_PORT}", "--data-dir", str(data),
            "--node-ports", f"{lo}-{hi}", "--node-bind", self.cp.addr,
            "--advertise-host", self.cp.addr, "--no-local-nodes",
            "--agent-log", str(self.workdir / "cp-agent.log"), *self.server_args,
        ])
        client = self.client()
        wait_until(lambda: _answers(client), 30, what="the control plane to answer")

    def start_agent(self, name: str) -> None:
        host = self.hosts[name]
        self.agents[name] = self._spawn(name, host, [
            "agent", "run", "--data-dir", str(self.data_dir(name)),
            "--listen", f"{host.addr}:{AGENT_PORT}", "--zone", ZONES[name],
            "--advertise-host", host.addr, "--join", f"{self.cp.addr}:{API_PORT}",
        ])

    def start(self) -> "Fleet":
        self.start_server()
        for name in self.hosts:
            self.start_agent(name)
        wait_until(lambda: all(h["health"] == "healthy" for h in self.joined().values())
                   and len(self.joined()) == len(self.hosts), 30, what="every agent to join")
        return self

    def client(self):
        return make_client(self.endpoint_url)

    def agents_listing(self, json: bool = True) -> str:
        args = ["agents", "--server", f"{self.cp.addr}:{API_PORT}", "--data-dir",
                str(self.workdir / "cp")] + (["--json"] if json else [])
        out = subprocess.run([str(LARDER_BIN), *args], capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise AssertionError(out.stderr)
        return out.stdout

    def joined(self) -> dict[str, dict]:
        """The hosts the control plane lists, by id, without the control plane's own."""
        import json as _json
        return {h["id"]: h for h in _json.loads(self.agents_listing()) if h["id"] != "local"}

    def host_of(self, addr: str) -> str:
        """The host name whose address is `addr`."""
        for name, h in self.hosts.items():
            if h.addr == addr:
                return name
        raise KeyError(addr)

    def kill_host(self, name: str) -> None:
        """Every process of the host dies at once, agent and nodes: a host failure."""
        for pid in self.net.pids_in(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not self.net.pids_in(name), 10, what=f"{name}'s processes to die")

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except (KeyError, OSError):
            return ""

    def close(self) -> None:
        for p in [self.server, *self.agents.values()]:
            if p and p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # Everything left in the namespaces (nodes, the local agent) dies with them.
        self.net.close()
        shutil.rmtree(self.workdir / "sockets", ignore_errors=True)


def _answers(client) -> bool:
    try:
        client.describe_cache_clusters()
        return True
    except Exception:
        time.sleep(0.1)
        return False
