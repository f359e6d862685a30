"""Several "hosts" on one machine: network namespaces joined by a bridge.

Each host is a network namespace with one interface, `eth0`, and its own address
on a private /24. The bridge lives in a namespace of its own (the switch), so
the machine's own firewall (Docker's FORWARD policy, br_netfilter) never sees
this traffic and nothing of the machine's network is changed. Cutting a host's
link sets its port on the switch down: the host keeps running, nobody reaches it.

Needs root. `Topology` removes everything it created, also when a test fails.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass


def have_root() -> bool:
    return os.geteuid() == 0


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip"] + (["netns", "exec", ns, "ip"] if ns else []) + list(args)
    subprocess.run(cmd, check=True, capture_output=True)


@dataclass
class Host:
    """One namespace: its name, its address, and its port on the switch."""

    name: str
    ns: str
    addr: str
    port: str

    def cmd(self, *args: str) -> list[str]:
        """`args` as a command run inside this host."""
        return ["ip", "netns", "exec", self.ns, *args]


class Topology:
    """A switch and hosts on it; `close()` removes them all."""

    _made = 0

    def __init__(self, prefix: str | None = None):
        # Unique per topology in this run: a reused name could meet the root-side
        # link of an earlier topology that the kernel has not removed yet.
        Topology._made += 1
        tag = prefix or f"lr{os.getpid() % 1000}n{Topology._made}"
        self.tag = tag
        self.subnet = random.randint(1, 250)
        self.switch = f"{tag}sw"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._add_ns(self.switch)
        _ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        _ip("link", "set", "br0", "up", ns=self.switch)

    def _add_ns(self, ns: str) -> None:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        self._namespaces.append(ns)
        _ip("link", "set", "lo", "up", ns=ns)

    def add_host(self, name: str) -> Host:
        """A new namespace with an address on the switch."""
        index = len(self.hosts) + 1
        ns = f"{self.tag}{name}"
        port = f"p{index}"
        addr = f"10.{self.subnet}.0.{10 + index}"
        self._add_ns(ns)
        # Created inside the switch, then one end moved into the host.
        _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", ns=self.switch)
        _ip("link", "set", "eth0", "netns", ns, ns=self.switch)
        _ip("link", "set", port, "master", "br0", ns=self.switch)
        _ip("link", "set", port, "up", ns=self.switch)
        _ip("addr", "add", f"{addr}/24", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        host = Host(name=name, ns=ns, addr=addr, port=port)
        self.hosts[name] = host
        return host

    def attach_root(self) -> str:
        """Joins the test process's own namespace to the switch as one more host (the
        client: boto3, redis-py), with its own address; returns the address. The
        machine's other interfaces and routes are left alone."""
        addr = f"10.{self.subnet}.0.2"
        link = f"{self.tag}r"
        _ip("link", "add", "rootp", "type", "veth", "peer", "name", link, ns=self.switch)
        _ip("link", "set", link, "netns", "1", ns=self.switch)
        _ip("link", "set", "rootp", "master", "br0", ns=self.switch)
        _ip("link", "set", "rootp", "up", ns=self.switch)
        _ip("addr", "add", f"{addr}/24", "dev", link)
        _ip("link", "set", link, "up")
        return addr

    def cut(self, name: str) -> None:
        """Nobody reaches `name` and it reaches nobody; its processes keep running."""
        _ip("link", "set", self.hosts[name].port, "down", ns=self.switch)

    def mend(self, name: str) -> None:
        """Undoes `cut`."""
        _ip("link", "set", self.hosts[name].port, "up", ns=self.switch)

    def pids_in(self, name: str) -> set[int]:
        """Every process living in the host's namespace."""
        out = subprocess.run(["ip", "netns", "pids", self.hosts[name].ns],
                             capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()}

    def close(self) -> None:
        for ns in reversed(self._namespaces):
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in out.stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._namespaces.clear()
        subprocess.run(["ip", "link", "del", f"{self.tag}r"], capture_output=True)
