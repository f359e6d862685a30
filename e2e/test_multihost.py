"""Several hosts: three agents, each in its own network namespace with its own
address, join a control plane in a fourth; the test process is the client host.
A group's members are spread over the hosts, clients write through the primary
endpoint, and a host dies (every process killed) or is cut off (its link down):
the group fails over to another host and the host rejoins as a replica. An agent
that disappears while its nodes keep serving is a partition between control plane
and agent only, and causes no failover.

Needs root: without it every test here is reported as skipped.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import event_messages, wait_until
from netns import have_root

pytestmark = pytest.mark.skipif(not have_root(), reason="needs root (network namespaces)")

GROUP = "spread"


@pytest.fixture
def fleet(request, tmp_path):
    from multihost import Fleet

    f = Fleet(tmp_path)
    try:
        f.start()
        yield f
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for name in ["cp", "cp-agent", "h1", "h2", "h3"]:
                print(f"\n---- {name} log ----\n{f.log_tail(name, 30)}")
        f.close()


def create_group(ec, members: int = 3) -> dict:
    ec.create_replication_group(
        ReplicationGroupId=GROUP, ReplicationGroupDescription="spread over hosts",
        Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=members,
        AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    return wait_group(ec, lambda g: g["Status"] == "available", "the group to be available")


def describe_group(ec) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]


def wait_group(ec, pred, what: str, timeout: float = 60.0) -> dict:
    def check():
        g = describe_group(ec)
        return g if pred(g) else None
    return wait_until(check, timeout, interval=0.2, what=what)


def members(g: dict) -> dict[str, dict]:
    return {m["CacheClusterId"]: m for m in g["NodeGroups"][0]["NodeGroupMembers"]}


def primary_member(g: dict) -> dict:
    return next(m for m in members(g).values() if m["CurrentRole"] == "primary")


def node_role(addr: str, port: int) -> str | None:
    try:
        return redis.Redis(host=addr, port=port, socket_timeout=1).info("replication")["role"]
    except redis.RedisError:
        return None


class Writer(threading.Thread):
    """Writes through the primary endpoint, counting failed commands, and asks
    `WAIT 1` after each write: a write some replica confirmed is inside the
    replication guarantee and must survive a failover."""

    def __init__(self, addr: str, port: int):
        super().__init__(daemon=True)
        self.addr, self.port = addr, port
        self.stop = threading.Event()
        self.confirmed: list[str] = []
        self.failures = 0
        self.connects = 0
        self.sockname = None
        self.conn = None
        self.last_ok = time.monotonic()

    def last_sockname(self):
        sock = self.conn._sock if self.conn else None
        return sock.getsockname() if sock else None

    def run(self):
        r, n = None, 0
        while not self.stop.is_set():
            try:
                if r is None:
                    # One connection until a command fails: a drop shows as a second.
                    # redis-py retries a dropped connection by itself: not here.
                    r = redis.Redis(host=self.addr, port=self.port, socket_timeout=2,
                                    single_connection_client=True,
                                    retry=Retry(NoBackoff(), 0))
                    self.connects += 1
                    r.ping()
                    self.sockname = r.connection._sock.getsockname()
                self.conn = r.connection
                key = f"w:{n}"
                r.set(key, n)
                if r.execute_command("WAIT", 1, 200) >= 1:
                    self.confirmed.append(key)
                n += 1
                self.last_ok = time.monotonic()
            except redis.RedisError:
                self.failures += 1
                r = None
                time.sleep(0.05)
        self.final_sockname = self.last_sockname()


def test_a_group_spreads_over_three_hosts_that_larder_agents_lists(fleet):
    hosts = fleet.joined()
    assert {h["zones"][0] for h in hosts.values()} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert all(h["health"] == "healthy" and h["link"].endswith(":7800") for h in hosts.values())
    ec = fleet.client()
    g = create_group(ec)
    ms = members(g)
    addresses = {m["ReadEndpoint"]["Address"] for m in ms.values()}
    # One member per host, each at its host's own address, in that host's zone.
    assert addresses == {h.addr for h in fleet.hosts.values()}, ms
    for m in ms.values():
        assert m["PreferredAvailabilityZone"] == hosts[m["ReadEndpoint"]["Address"]]["zones"][0]
    assert {h["nodes"] for h in fleet.joined().values()} == {1}
    # The named endpoint is the control plane's host; a write through it reaches the
    # primary on another host and replicates to the other two hosts.
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert ep["Address"] == fleet.cp.addr
    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=2)
    r.set("spread", "everywhere")
    assert r.execute_command("WAIT", 2, 2000) == 2
    for m in ms.values():
        node = redis.Redis(host=m["ReadEndpoint"]["Address"], port=m["ReadEndpoint"]["Port"])
        assert node.get("spread") == b"everywhere"
    # Every agent serves the group's endpoints on the same port.
    for h in fleet.hosts.values():
        assert redis.Redis(host=h.addr, port=ep["Port"], socket_timeout=2).get("spread") == b"everywhere"
    table = fleet.agents_listing(json=False)
    assert "us-east-1b" in table and "healthy" in table


def fail_primary_host(fleet, how: str):
    ec = fleet.client()
    g = create_group(ec)
    old = primary_member(g)
    old_addr = old["ReadEndpoint"]["Address"]
    victim = fleet.host_of(old_addr)
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    writer = Writer(ep["Address"], ep["Port"])
    writer.start()
    wait_until(lambda: len(writer.confirmed) > 50, 20, what="confirmed writes before the fault")
    before = len(writer.confirmed)
    if how == "kill":
        fleet.kill_host(victim)
    else:
        fleet.net.cut(victim)
    t0 = time.monotonic()
    g = wait_group(ec, lambda g: primary_member(g)["CacheClusterId"] != old["CacheClusterId"]
                   and g["Status"] == "available", "a failover to another host", timeout=60)
    new = primary_member(g)
    assert new["ReadEndpoint"]["Address"] != old_addr
    # Writes through the same endpoint go on.
    resumed_at = len(writer.confirmed)
    wait_until(lambda: len(writer.confirmed) > resumed_at + 20, 20, what="writes after the failover")
    took = time.monotonic() - t0
    writer.stop.set()
    writer.join(5)
    primary = redis.Redis(host=new["ReadEndpoint"]["Address"], port=new["ReadEndpoint"]["Port"])
    lost = [k for k in writer.confirmed if primary.get(k) is None]
    assert not lost, f"{len(lost)} replica-confirmed writes lost (of {len(writer.confirmed)}), e.g. {lost[:5]}"
    messages = event_messages(ec, old["CacheClusterId"])
    assert any("lost: host " + old_addr in m for m in messages), messages
    print(f"{how}: failover to {new['CacheClusterId']} on another host in {took:.1f}s, "
          f"{before} writes confirmed before, {writer.failures} failed commands during")
    return ec, old, new, victim


def test_a_killed_host_fails_over_to_another_host_and_rejoins_as_replica(fleet):
    ec, old, new, victim = fail_primary_host(fleet, "kill")
    assert fleet.joined()[fleet.hosts[victim].addr]["health"] == "unreachable"
    # The host comes back (its agent starts again, its node process is gone): the
    # old primary is started again as a replica of the new one.
    fleet.start_agent(victim)
    addr, port = old["ReadEndpoint"]["Address"], old["ReadEndpoint"]["Port"]
    wait_until(lambda: node_role(addr, port) == "slave", 60, what="the old primary to rejoin as replica")
    info = redis.Redis(host=addr, port=port).info("replication")
    assert info["master_host"] == new["ReadEndpoint"]["Address"]
    g = describe_group(ec)
    roles = [node_role(m["ReadEndpoint"]["Address"], m["ReadEndpoint"]["Port"]) for m in members(g).values()]
    assert roles.count("master") == 1, roles
    messages = event_messages(ec, old["CacheClusterId"])
    assert any("answers again" in m for m in messages), messages


def test_a_cut_host_fails_over_and_its_primary_rejoins_as_replica_not_a_second_primary(fleet):
    ec, old, new, victim = fail_primary_host(fleet, "cut")
    addr, port = old["ReadEndpoint"]["Address"], old["ReadEndpoint"]["Port"]
    # Cut off, the old primary still runs and still believes it leads.
    fleet.net.mend(victim)
    wait_until(lambda: node_role(addr, port) == "slave", 60, what="the old primary to be demoted")
    info = redis.Redis(host=addr, port=port).info("replication")
    assert info["master_host"] == new["ReadEndpoint"]["Address"]
    g = wait_group(ec, lambda g: g["Status"] == "available", "the group to settle")
    roles = [node_role(m["ReadEndpoint"]["Address"], m["ReadEndpoint"]["Port"]) for m in members(g).values()]
    assert roles.count("master") == 1, roles
    # The rejoined host's own endpoint routes to the new primary too.
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    via_victim = redis.Redis(host=fleet.hosts[victim].addr, port=ep["Port"], socket_timeout=2)
    wait_until(lambda: _writes(via_victim), 20, what="the rejoined host's endpoint to take writes")


def _writes(r) -> bool:
    try:
        r.set("after-rejoin", 1)
        return True
    except redis.RedisError:
        return False


def test_an_agent_gone_while_its_nodes_serve_causes_no_failover(fleet):
    ec = fleet.client()
    g = create_group(ec)
    old = primary_member(g)
    victim = fleet.host_of(old["ReadEndpoint"]["Address"])
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    writer = Writer(ep["Address"], ep["Port"])
    writer.start()
    wait_until(lambda: len(writer.confirmed) > 20, 20, what="writes before the agent goes")
    # Only the agent dies: the control plane loses it, the other hosts still reach
    # its node, so this is a partition between control plane and agent.
    fleet.agents[victim].kill()
    fleet.agents[victim].wait(10)
    wait_until(lambda: fleet.joined()[fleet.hosts[victim].addr]["health"] == "unreachable", 20,
               what="the control plane to notice")
    wait_until(lambda: any("no failover" in m for m in event_messages(ec, old["CacheClusterId"])),
               20, what="the partition to be judged")
    failures_then = writer.failures
    time.sleep(8)
    g = describe_group(ec)
    assert primary_member(g)["CacheClusterId"] == old["CacheClusterId"], "a failover started"
    assert g.get("PendingModifiedValues", {}).get("PrimaryClusterId") is None
    assert writer.failures == failures_then, "writes through the endpoint failed"
    writer.stop.set()
    writer.join(5)
    # The agent comes back and adopts its running node.
    fleet.start_agent(victim)
    wait_until(lambda: fleet.joined()[fleet.hosts[victim].addr]["health"] == "healthy", 30,
               what="the agent to answer again")
    assert primary_member(describe_group(ec))["CacheClusterId"] == old["CacheClusterId"]


def test_preferred_zones_pick_the_hosts_and_memcached_spreads_too(fleet):
    ec = fleet.client()
    zone_host = {h["zones"][0]: addr for addr, h in fleet.joined().items()}
    ec.create_replication_group(
        ReplicationGroupId=GROUP, ReplicationGroupDescription="placed",
        Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        PreferredCacheClusterAZs=["us-east-1c", "us-east-1b"],
        AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    g = wait_group(ec, lambda g: g["Status"] == "available", "the group")
    primary = primary_member(g)
    assert primary["PreferredAvailabilityZone"] == "us-east-1c"
    assert primary["ReadEndpoint"]["Address"] == zone_host["us-east-1c"]
    ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached", CacheNodeType="cache.t3.micro",
                            NumCacheNodes=3, AZMode="cross-az")
    wait_until(lambda: ec.describe_cache_clusters(CacheClusterId="mc")["CacheClusters"][0]
               ["CacheClusterStatus"] == "available", 60, what="the memcached cluster")
    c = ec.describe_cache_clusters(CacheClusterId="mc", ShowCacheNodeInfo=True)["CacheClusters"][0]
    addrs = {n["Endpoint"]["Address"] for n in c["CacheNodes"]}
    assert addrs == set(zone_host.values()), c["CacheNodes"]
    # Its configuration endpoint (on the control plane's host) lists the nodes at
    # their hosts' addresses.
    import socket
    cfg = c["ConfigurationEndpoint"]
    with socket.create_connection((cfg["Address"], cfg["Port"]), timeout=3) as s:
        s.sendall(b"config get cluster\r\n")
        reply = b""
        while not reply.endswith(b"END\r\n"):
            reply += s.recv(4096)
    for addr in addrs:
        assert addr.encode() in reply, reply


def test_control_plane_killed_and_restarted_under_load_fails_no_command(fleet):
    ec = fleet.client()
    g = create_group(ec)
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    writer = Writer(ep["Address"], ep["Port"])
    writer.start()
    wait_until(lambda: len(writer.confirmed) > 20, 20, what="writes before the restart")
    fleet.server.kill()
    fleet.server.wait(10)
    time.sleep(2)
    fleet.start_server()
    # The restarted control plane dials the hosts it stored before they announce again.
    wait_until(lambda: len(fleet.joined()) == 3 and all(
        h["health"] == "healthy" for h in fleet.joined().values()), 20, what="the hosts again")
    written = len(writer.confirmed)
    wait_until(lambda: len(writer.confirmed) > written + 20, 20, what="writes after the restart")
    writer.stop.set()
    writer.join(5)
    assert writer.failures == 0
    assert writer.connects == 1, "the client's connection was dropped"
    assert writer.sockname == writer.final_sockname, "the client's connection was replaced"
    assert describe_group(ec)["Status"] == "available"


def test_a_host_cut_off_during_a_delete_retires_the_deleted_groups_endpoints_on_return(fleet):
    import socket
    ec = fleet.client()
    ec.create_replication_group(
        ReplicationGroupId=GROUP, ReplicationGroupDescription="two of three hosts",
        Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        PreferredCacheClusterAZs=["us-east-1a", "us-east-1b"],
        AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    g = wait_group(ec, lambda g: g["Status"] == "available", "the group")
    port = g["NodeGroups"][0]["PrimaryEndpoint"]["Port"]
    h3 = fleet.hosts["h3"]

    def listens() -> bool:
        try:
            with socket.create_connection((h3.addr, port), timeout=1):
                return True
        except OSError:
            return False
    assert listens(), "h3 serves the group's endpoint too"
    fleet.net.cut("h3")
    wait_until(lambda: fleet.joined()[h3.addr]["health"] == "unreachable", 20, what="h3 silent")
    ec.delete_replication_group(ReplicationGroupId=GROUP)
    wait_until(lambda: not ec.describe_replication_groups()["ReplicationGroups"], 60,
               what="the group to be deleted")
    fleet.net.mend("h3")
    # h3 missed the delete; told which groups exist once it answers, it retires them.
    wait_until(lambda: not listens(), 30, what="h3 to retire the deleted group's endpoints")


def _pinned(fleet, name: str) -> str:
    """The SHA-256 of the certificate `name`'s agent keeps, as the control plane lists it."""
    import hashlib
    import ssl
    pem = (fleet.data_dir(name) / "agent" / "link.crt").read_text()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def _presented(addr: str, port: int) -> str:
    """The SHA-256 of the certificate the link port presents to a TLS client."""
    import hashlib
    import socket
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, port), timeout=3) as raw:
        with ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def _plain_http(addr: str, port: int) -> bytes:
    """What the link port answers to a plain HTTP request."""
    import socket
    with socket.create_connection((addr, port), timeout=3) as s:
        s.sendall(b"GET /v1/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return out


def test_the_link_is_tls_pinned_by_the_signed_join_and_a_reinstalled_agent_is_pinned_again(fleet):
    from multihost import AGENT_PORT
    hosts = fleet.joined()
    for name, h in fleet.hosts.items():
        # The control plane pins the certificate the agent keeps, and that is what
        # the agent's link port presents; a plain HTTP request gets no HTTP answer.
        assert hosts[h.addr]["fingerprint"] == _pinned(fleet, name)
        assert _presented(h.addr, AGENT_PORT) == _pinned(fleet, name)
        assert b"HTTP/1" not in _plain_http(h.addr, AGENT_PORT)
    ec = fleet.client()
    g = create_group(ec)
    # A replica's host is reinstalled: its agent stops (its node keeps running), loses
    # its key and makes a new one. The next signed join carries the new fingerprint;
    # the control plane pins it and speaks to the agent again, which adopts its node.
    replica = next(m for m in members(g).values() if m["CurrentRole"] == "replica")
    addr = replica["ReadEndpoint"]["Address"]
    victim = fleet.host_of(addr)
    old = hosts[addr]["fingerprint"]
    fleet.agents[victim].terminate()
    fleet.agents[victim].wait(10)
    for f in ("link.crt", "link.key"):
        (fleet.data_dir(victim) / "agent" / f).unlink()
    fleet.start_agent(victim)
    wait_until(lambda: fleet.joined()[addr]["fingerprint"] not in ("", old)
               and fleet.joined()[addr]["health"] == "healthy", 30, what="the new certificate pinned")
    assert fleet.joined()[addr]["fingerprint"] == _pinned(fleet, victim)
    assert _presented(addr, AGENT_PORT) == _pinned(fleet, victim)
    # Calls reach the reinstalled agent: a change to the group is carried out on it.
    node = redis.Redis(host=addr, port=replica["ReadEndpoint"]["Port"], socket_timeout=2)
    before = node.info("server")["run_id"]
    ec.reboot_cache_cluster(CacheClusterId=replica["CacheClusterId"], CacheNodeIdsToReboot=["0001"])
    wait_until(lambda: _run_id(node) not in (None, before), 60, what="the node on the reinstalled host restarted")
    wait_group(ec, lambda g: g["Status"] == "available", "the group after the reboot")


def _run_id(node) -> str | None:
    try:
        return node.info("server")["run_id"]
    except redis.RedisError:
        return None
