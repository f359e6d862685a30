"""Raw memcached text protocol helpers, for checking auto discovery byte for byte."""

from __future__ import annotations

import socket



def _recv_until(sock: socket.socket, terminator: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(terminator):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def memcached_raw(host: str, port: int, command: bytes, terminator: bytes = b"END\r\n") -> bytes:
    """Send one memcached text command and return the raw reply up to `terminator`."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(command)
        return _recv_until(s, terminator)


def parse_cluster_block(data: bytes) -> tuple[int, list[tuple[str, str, int]]]:
    """`<version>\\n<host>|<ip>|<port> ...\\n` -> (version, [(host, ip, port), ...])."""
    text = data.decode()
    assert text.endswith("\n") and text.count("\n") == 2, repr(text)
    version_line, nodes_line, _ = text.split("\n")
    nodes = []
    for entry in nodes_line.split(" "):
        host, ip, port = entry.split("|")
        nodes.append((host, ip, int(port)))
    return int(version_line), nodes


def config_get_cluster(host: str, port: int) -> tuple[int, list[tuple[str, str, int]], bytes]:
    """Ask an endpoint `config get cluster`, checking the framing byte for byte."""
    raw = memcached_raw(host, port, b"config get cluster\r\n")
    header, sep, rest = raw.partition(b"\r\n")
    assert sep, f"no header line in {raw!r}"
    parts = header.split(b" ")
    assert len(parts) == 4 and parts[:3] == [b"CONFIG", b"cluster", b"0"], f"bad header {header!r}"
    length = int(parts[3])
    data, trailer = rest[:length], rest[length:]
    assert trailer == b"\r\nEND\r\n", f"length {length} does not frame the data: {raw!r}"
    version, nodes = parse_cluster_block(data)
    return version, nodes, data


def get_cluster_key(host: str, port: int) -> bytes | None:
    """`get AmazonElastiCache:cluster` on a node: the data block, or None when absent."""
    raw = memcached_raw(host, port, b"get AmazonElastiCache:cluster\r\n")
    if raw == b"END\r\n":
        return None
    header, _, rest = raw.partition(b"\r\n")
    parts = header.split(b" ")
    assert parts[:2] == [b"VALUE", b"AmazonElastiCache:cluster"], raw
    length = int(parts[3])
    assert rest[length:] == b"\r\nEND\r\n", raw
    return rest[:length]
