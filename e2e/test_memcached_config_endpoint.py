"""The memcached configuration endpoint behaves as its node does, bounds what
clients make the daemon hold, and caps its connections like memcached."""

from __future__ import annotations

import socket
import struct

import pytest
from pymemcache.client.base import Client as Memcache

from harness import node_endpoints, wait_status, wait_until
from memcache_wire import config_get_cluster


def one_node_cluster(aws, ec, cluster_id: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """A one-node memcached cluster: (configuration endpoint, the node)."""
    aws("create-cache-cluster", "--cache-cluster-id", cluster_id, "--engine", "memcached",
        "--cache-node-type", "cache.t4g.micro", "--num-cache-nodes", "1")
    c = wait_status(ec, cluster_id, timeout=30)
    ep = c["ConfigurationEndpoint"]
    (node,) = node_endpoints(c).values()
    return (ep["Address"], ep["Port"]), node


def exchange(addr: tuple[str, int], script: bytes, until: bytes | None) -> tuple[bytes, bool]:
    """Sends `script`, reads until the reply ends with `until` or the peer closes."""
    with socket.create_connection(addr, timeout=10) as s:
        try:
            s.sendall(script)
        except OSError:
            pass
        out = b""
        while until is None or not out.endswith(until):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False


END = b"mg __end__ Oend\r\n"
END_REPLY = b"EN Oend\r\n"

# Scripts that print no cas value (both runs hit the same node, whose cas counter moves).
SCRIPTS: list[tuple[str, bytes, bool]] = [
    ("storage", b"set a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nappend a 0 0 1\r\nz\r\nget a b\r\n", False),
    ("empty and bad cas", b"cas a 0 0 1\r\nz\r\ncas a 0 0 1 \r\nz\r\ncas a 0 0 1 abc\r\nz\r\ncas nope 0 0 1 1\r\nz\r\n", False),
    ("counters", b"set n 0 0 1\r\n5\r\nincr n 7\r\ndecr n 100\r\nincr a 1\r\nincr n 1 noreply\r\nget n\r\n", False),
    ("touch gat delete", b"touch a 100\r\ngat 100 a\r\ntouch zz 1\r\ndelete a\r\ndelete a\r\ndelete n noreply\r\nget a n\r\n", False),
    ("meta", b"ms m 2 T0\r\nhi\r\nmg m v f\r\nmg m v q k\r\nmg nope v q\r\nmn\r\nmd m\r\nma m\r\nmn\r\n", False),
    ("malformed", b"set k 0 0 x\r\nhi\r\nset k 0 0 2\r\nabc\r\n\r\nbogus\r\nget\r\nset k 0 0 4294967298\r\nab\r\nget k\r\n", False),
    ("version and verbosity", b"version\r\nverbosity 0\r\nverbosity\r\nflush_all\r\n", False),
    ("quit", b"set q 0 0 1\r\n1\r\nget q\r\nquit\r\n", True),
    ("http garbage", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", True),
    ("overlong line", b"x" * 20000, True),
]


def binary(opcode: int, key: bytes = b"", value: bytes = b"", extras: bytes = b"", opaque: int = 0) -> bytes:
    body = len(extras) + len(key) + len(value)
    return (struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, body, opaque, 0)
            + extras + key + value)


def test_the_configuration_endpoint_answers_as_its_node(larder, ec, aws):
    cfg, node = one_node_cluster(aws, ec, "faithful")
    for name, script, closes in SCRIPTS:
        until = None if closes else END_REPLY
        body = script if closes else script + END
        exchange(node, b"flush_all\r\n", b"OK\r\n")
        direct = exchange(node, body, until)
        exchange(node, b"flush_all\r\n", b"OK\r\n")
        via = exchange(cfg, body, until)
        assert via == direct, name

    # The binary protocol (first byte 0x80) is relayed too.
    noop_end = binary(0x0a, opaque=0xE0D0)
    noop_reply = struct.pack(">BBHBBHIIQ", 0x81, 0x0a, 0, 0, 0, 0, 0, 0xE0D0, 0)
    script = (binary(0x01, b"bk", b"val", extras=b"\0\0\0\7\0\0\0\0", opaque=1)
              + binary(0x0c, b"bk", opaque=2) + binary(0x0b, opaque=3) + binary(0x00, b"nope", opaque=4)
              + noop_end)
    exchange(node, b"flush_all\r\n", b"OK\r\n")
    direct = exchange(node, script, noop_reply)
    exchange(node, b"flush_all\r\n", b"OK\r\n")
    via = exchange(cfg, script, noop_reply)
    # The stored item's cas differs between the two runs; compare everything else.
    def without_cas(reply: bytes) -> bytes:
        out, at = b"", 0
        while at < len(reply):
            body = struct.unpack(">I", reply[at + 8:at + 12])[0]
            out += reply[at:at + 16] + reply[at + 24:at + 24 + body]
            at += 24 + body
        return out
    assert without_cas(via[0]) == without_cas(direct[0]) and via[1] == direct[1]

    # Discovery still works, in text and binary, and clients like pymemcache work as usual.
    assert len(config_get_cluster(*cfg)[1]) == 1
    reply, _ = exchange(cfg, binary(0x60, b"cluster", opaque=7) + noop_end, noop_reply)
    assert reply[:2] == b"\x81\x60" and reply[12:16] == struct.pack(">I", 7)
    client = Memcache(cfg, connect_timeout=5, timeout=5)
    client.set("p", b"1")
    value, token = client.gets("p")
    assert value == b"1"
    assert client.cas("p", b"2", token) is True
    assert Memcache(node, connect_timeout=5, timeout=5).get("p") == b"2"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def bytes_read(node: tuple[str, int]) -> int:
    stats, _ = exchange(node, b"stats\r\n", b"END\r\n")
    for line in stats.decode().splitlines():
        if line.startswith("STAT bytes_read "):
            return int(line.split()[2])
    raise AssertionError("no bytes_read")


def test_announced_lengths_do_not_grow_the_daemon(larder, ec, aws):
    cfg, node = one_node_cluster(aws, ec, "bounded")
    before_read, before_rss = bytes_read(node), rss_kib(larder.agent_pid)
    chunk = b"x" * 65536
    clients, sent = [], 0
    for i in range(8):
        s = socket.create_connection(cfg, timeout=10)
        line = f"set big{i} 0 0 1073741823\r\n".encode()
        s.sendall(line + chunk)
        sent += len(line) + len(chunk)
        clients.append(s)
    # The node gets every byte as it comes (its stats connection adds a few more).
    assert wait_until(lambda: bytes_read(node) >= before_read + sent
                      or rss_kib(larder.agent_pid) - before_rss > 64 * 1024, 20, what="bytes at the node")
    grown = rss_kib(larder.agent_pid) - before_rss
    assert grown < 64 * 1024, f"daemon grew by {grown} KiB for 8 announced 1 GiB values"
    for s in clients:
        s.close()


@pytest.mark.larder_args("--endpoint-max-connections", "2")
def test_a_full_configuration_endpoint_refuses_as_memcached_does(larder, ec, aws):
    cfg, _ = one_node_cluster(aws, ec, "capped")
    held = []
    for _ in range(2):
        s = socket.create_connection(cfg, timeout=10)
        s.sendall(b"version\r\n")
        assert s.recv(100).startswith(b"VERSION ")
        held.append(s)
    refused, closed = exchange(cfg, b"", None)
    assert (refused, closed) == (b"ERROR Too many open connections\r\n", True)
    held.pop().close()
    assert wait_until(lambda: exchange(cfg, b"version\r\n", b"\r\n")[0].startswith(b"VERSION "), 10,
                      what="a freed slot")
