"""Replication groups (Redis, cluster mode disabled): create, endpoints, validation, scaling, delete.

The helpers at the top are shared with test_replication_failover.py; none of them
is named test_*, so importing them there collects nothing twice.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import botocore.exceptions
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import (
    describe,
    describe_all,
    error_code,
    pid_alive,
    signed_post,
    wait_absent,
    wait_gone,
    wait_status,
    wait_until,
    xml_error_code,
)

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
RG_ARN = "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:{}"
FAILOVER_DONE = r"Failover from primary node \S+ to replica node \S+ completed"


# --------------------------------------------------------------------------- API helpers


def create_group(ec, rg_id: str, members: int = 3, failover: bool = True, **kw) -> dict:
    """CreateReplicationGroup with NumCacheClusters; returns the response's group."""
    params = dict(ReplicationGroupId=rg_id, ReplicationGroupDescription=f"group {rg_id}",
                  Engine="redis", CacheNodeType="cache.t4g.micro",
                  AutomaticFailoverEnabled=failover, MultiAZEnabled=failover)
    if "ReplicasPerNodeGroup" not in kw and "NumCacheClusters" not in kw:
        params["NumCacheClusters"] = members
    params.update(kw)
    return ec.create_replication_group(**params)["ReplicationGroup"]


def describe_group(ec, rg_id: str) -> dict:
    (g,) = ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"]
    return g


def all_groups(ec) -> list[dict]:
    return ec.describe_replication_groups()["ReplicationGroups"]


def wait_group(ec, rg_id: str, status: str = "available", timeout: float = 60.0) -> dict:
    """Poll DescribeReplicationGroups until the group (and its node group) has `status`."""
    deadline = time.monotonic() + timeout
    while True:
        g = describe_group(ec, rg_id)
        ng_status = [ng.get("Status") for ng in g.get("NodeGroups", [])]
        if g["Status"] == status and all(s == status for s in ng_status):
            return g
        if time.monotonic() > deadline:
            raise AssertionError(f"{rg_id}: status {g['Status']!r} (node groups {ng_status}), "
                                 f"wanted {status!r} within {timeout}s")
        time.sleep(0.05)


def wait_group_gone(ec, rg_id: str, timeout: float = 60.0) -> None:
    wait_absent(lambda: describe_group(ec, rg_id)["Status"], "ReplicationGroupNotFoundFault",
                rg_id, timeout)


def api_error(call, *args, **kw) -> botocore.exceptions.ClientError:
    """Run an API call that must fail; return the ClientError."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kw)
    return info.value


def group_events(ec, rg_id: str) -> list[str]:
    resp = ec.describe_events(SourceType="replication-group", SourceIdentifier=rg_id, Duration=60)
    return [e["Message"] for e in resp["Events"]]


def wait_group_event(ec, rg_id: str, pattern: str, timeout: float = 20.0) -> str:
    rx = re.compile(pattern)
    try:
        return wait_until(lambda: next((m for m in group_events(ec, rg_id) if rx.search(m)), None),
                          timeout, interval=0.2, what=f"event /{pattern}/")
    except AssertionError:
        raise AssertionError(f"no event /{pattern}/ for {rg_id} within {timeout}s; "
                             f"events: {group_events(ec, rg_id)}") from None


# --------------------------------------------------------------------------- group shape


def node_group(g: dict) -> dict:
    (ng,) = g["NodeGroups"]
    return ng


def members(g: dict) -> dict[str, dict]:
    """CacheClusterId -> NodeGroupMember."""
    return {m["CacheClusterId"]: m for m in node_group(g)["NodeGroupMembers"]}


def addr(endpoint: dict) -> tuple[str, int]:
    return endpoint["Address"], int(endpoint["Port"])


def member_addr(g: dict, cluster_id: str) -> tuple[str, int]:
    return addr(members(g)[cluster_id]["ReadEndpoint"])


def primary_id(g: dict) -> str:
    prim = [cid for cid, m in members(g).items() if m.get("CurrentRole") == "primary"]
    assert len(prim) == 1, f"expected exactly one primary, roles: {roles(g)}"
    return prim[0]


def replica_ids(g: dict) -> list[str]:
    return sorted(cid for cid, m in members(g).items() if m.get("CurrentRole") == "replica")


def roles(g: dict) -> dict[str, str]:
    return {cid: m.get("CurrentRole") for cid, m in members(g).items()}


def primary_endpoint(g: dict) -> tuple[str, int]:
    return addr(node_group(g)["PrimaryEndpoint"])


def reader_endpoint(g: dict) -> tuple[str, int]:
    return addr(node_group(g)["ReaderEndpoint"])


# --------------------------------------------------------------------------- redis helpers


def rconn(address: tuple[str, int], timeout: float = 5.0, decode: bool = True) -> redis.Redis:
    """A client with no hidden retries, so every error reaches the test."""
    return redis.Redis(host=address[0], port=address[1], socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=decode,
                       retry=Retry(NoBackoff(), 0))


def info_replication(address: tuple[str, int]) -> dict:
    return rconn(address, timeout=2).info("replication")


def served_port(r: redis.Redis) -> int:
    """The port of the engine a (possibly forwarded) connection really reached."""
    return int(r.info("server")["tcp_port"])


def reader_ports(g: dict, connections: int = 40) -> set[int]:
    """Engine ports reached by `connections` fresh connections to the reader endpoint."""
    seen = set()
    for _ in range(connections):
        r = rconn(reader_endpoint(g))
        try:
            seen.add(served_port(r))
        finally:
            r.close()
    return seen


def wait_reader_spread(g: dict, replica_ports: set[int], timeout: float = 10.0) -> None:
    """Wait until fresh reader-endpoint connections reach exactly the replicas on `replica_ports`."""
    last = {}

    def ok():
        last["seen"] = reader_ports(g)
        return last["seen"] == replica_ports
    try:
        wait_until(ok, timeout, interval=0.2, what="reader spread")
    except AssertionError:
        raise AssertionError(f"reader endpoint reached ports {last.get('seen')}, "
                             f"replicas are on {sorted(replica_ports)}") from None


def member_pid(larder, cluster_id: str) -> int:
    """Pid of a member's redis-server, from its pidfile, checked against the process table."""
    pidfile = Path(larder.node_dir(cluster_id, "0001")) / "redis.pid"
    pid = int(pidfile.read_text().strip())
    assert pid_alive(pid), f"{cluster_id}: pid {pid} from {pidfile} is not running"
    return pid


def redis_server_pids(larder) -> set[int]:
    """Engine processes that belong to this daemon (the daemon itself excluded)."""
    out = set()
    for pid in larder.owned_pids():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("redis-server"):
            out.add(pid)
    return out


def roles_disagreement(g: dict) -> str | None:
    """None when exactly one member is primary and INFO agrees everywhere, else why not."""
    r = roles(g)
    prim = [cid for cid, role in r.items() if role == "primary"]
    if len(prim) != 1:
        return f"CurrentRole: {r}"
    prim_port = member_addr(g, prim[0])[1]
    infos = {}
    for cid in r:
        try:
            infos[cid] = info_replication(member_addr(g, cid))
        except redis.RedisError as e:
            return f"INFO on {cid}: {e!r}"
    masters = sorted(cid for cid, i in infos.items() if i.get("role") == "master")
    if masters != prim:
        return f"INFO role:master on {masters}, CurrentRole primary {prim[0]}"
    for cid, i in infos.items():
        if cid == prim[0]:
            continue
        if r[cid] != "replica":
            return f"{cid}: CurrentRole {r[cid]!r}"
        if i.get("role") != "slave" or int(i.get("master_port", -1)) != prim_port:
            return f"{cid}: INFO role {i.get('role')} master_port {i.get('master_port')}, primary port {prim_port}"
        if i.get("master_link_status") != "up":
            return f"{cid}: master_link_status {i.get('master_link_status')}"
    return None


def wait_roles_agree(ec, rg_id: str, timeout: float = 30.0) -> dict:
    """Wait until the group is available and DescribeReplicationGroups and INFO
    replication agree on one primary."""
    deadline = time.monotonic() + timeout
    while True:
        g = describe_group(ec, rg_id)
        why = f"status {g['Status']}" if g["Status"] != "available" else roles_disagreement(g)
        if why is None:
            return g
        if time.monotonic() > deadline:
            raise AssertionError(f"{rg_id}: roles disagree after {timeout}s: {why}")
        time.sleep(0.1)


def settled_after_restart(larder, rg_id: str, members: list[str]) -> tuple:
    """After a daemon restart: the group comes back with exactly `members`, the
    recorded primary is the only master, and one redis-server runs per member.
    Returns a fresh client and the group."""
    ec = larder.client()
    g = wait_group(ec, rg_id, timeout=90)
    assert sorted(g["MemberClusters"]) == members
    g = wait_roles_agree(ec, rg_id, timeout=60)
    masters = [cid for cid in g["MemberClusters"]
               if rconn(member_addr(g, cid)).info("replication")["role"] == "master"]
    assert masters == [primary_id(g)]
    time.sleep(1)
    assert len(redis_server_pids(larder)) == len(members), redis_server_pids(larder)
    return ec, g


def write_keys(address, n: int, prefix: str = "k") -> dict[str, str]:
    data = {f"{prefix}:{i}": f"v{i}" for i in range(n)}
    r = rconn(address)
    pipe = r.pipeline(transaction=False)
    for k, v in data.items():
        pipe.set(k, v)
    assert all(pipe.execute())
    return data


def missing_keys(address, keys: list[str], chunk: int = 1000) -> list[str]:
    """Keys that do not exist on the node at `address`."""
    r = rconn(address, timeout=10)
    missing = []
    for i in range(0, len(keys), chunk):
        part = keys[i:i + chunk]
        missing += [k for k, v in zip(part, r.mget(part)) if v is None]
    return missing


def wait_has_keys(address, data: dict[str, str], timeout: float = 20.0, what: str = "keys") -> None:
    r = rconn(address)
    keys = list(data)

    def ok():
        return r.mget(keys) == [data[k] for k in keys]
    wait_until(ok, timeout, interval=0.1, what=what)


class SeqWriter(threading.Thread):
    """Writes SET <prefix>:N N for N = 0, 1, 2 … through one address, reconnecting on error.

    `acked` counts acknowledged writes: keys <prefix>:0 … <prefix>:acked-1 were all
    acknowledged (a failed write is retried with the same N).
    """

    def __init__(self, address: tuple[str, int], prefix: str = "seq", pace: float = 0.001):
        super().__init__(daemon=True)
        self.address = address
        self.prefix = prefix
        self.pace = pace
        self.acked = 0
        self.ack_times: list[float] = []
        self.errors: list[tuple[float, str]] = []
        self._stop_evt = threading.Event()

    def run(self) -> None:
        r = None
        while not self._stop_evt.is_set():
            try:
                if r is None:
                    r = rconn(self.address, timeout=0.5)
                n = self.acked
                if r.set(f"{self.prefix}:{n}", n):
                    self.ack_times.append(time.monotonic())
                    self.acked = n + 1
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError) as e:
                self.errors.append((time.monotonic(), repr(e)))
                if r is not None:
                    try:
                        r.close()
                    except Exception:  # noqa: BLE001
                        pass
                r = None
                time.sleep(0.01)
            if self.pace:
                time.sleep(self.pace)
        if r is not None:
            r.close()

    def keys(self) -> list[str]:
        return [f"{self.prefix}:{i}" for i in range(self.acked)]

    def wait_acked(self, n: int, timeout: float, what: str = "writes") -> None:
        wait_until(lambda: self.acked >= n, timeout, interval=0.02,
                   what=f"{what} ({self.acked}/{n} acknowledged, last errors {self.errors[-3:]})")

    def acked_after(self, t: float) -> int:
        return sum(1 for x in self.ack_times if x > t)

    def stop(self) -> None:
        self._stop_evt.set()
        self.join(timeout=10)
        assert not self.is_alive(), "writer thread did not stop"


# --------------------------------------------------------------------------- tests


def test_create_three_node_group_across_zones(larder, ec, aws):
    resp = create_group(ec, "rg1", 3, PreferredCacheClusterAZs=ZONES)
    assert resp["ReplicationGroupId"] == "rg1"
    assert resp["Status"] == "creating"
    g = wait_group(ec, "rg1", timeout=60)

    assert g["Description"] == "group rg1"
    assert sorted(g["MemberClusters"]) == ["rg1-001", "rg1-002", "rg1-003"]
    assert g["AutomaticFailover"] == "enabled"
    assert g["MultiAZ"] == "enabled"
    assert g["ClusterEnabled"] is False
    assert g["ARN"] == RG_ARN.format("rg1")
    ng = node_group(g)
    assert ng["NodeGroupId"] == "0001"
    assert ng["Status"] == "available"
    lo, hi = larder.node_ports
    for ep in (ng["PrimaryEndpoint"], ng["ReaderEndpoint"]):
        assert ep["Address"] and isinstance(ep["Port"], int) and ep["Port"] > 0, ep
    assert primary_endpoint(g) != reader_endpoint(g)

    ms = members(g)
    assert sorted(ms) == ["rg1-001", "rg1-002", "rg1-003"]
    assert sorted(m["PreferredAvailabilityZone"] for m in ms.values()) == ZONES
    assert all(m["CacheNodeId"] == "0001" for m in ms.values())
    prim = primary_id(g)
    assert sorted(roles(g).values()) == ["primary", "replica", "replica"]
    # The primary and reader endpoints are not any member's own address.
    member_addrs = {member_addr(g, cid) for cid in ms}
    assert len(member_addrs) == 3
    assert primary_endpoint(g) not in member_addrs and reader_endpoint(g) not in member_addrs

    # Each member is a one-node cache cluster tied to the group, in its member's zone.
    for cid, m in ms.items():
        c = describe(ec, cid)
        assert c["ReplicationGroupId"] == "rg1", (cid, c.get("ReplicationGroupId"))
        assert c["CacheClusterStatus"] == "available"
        assert c["Engine"] == "redis" and c["NumCacheNodes"] == 1
        (node,) = c["CacheNodes"]
        assert node["CacheNodeId"] == "0001"
        assert (node["Endpoint"]["Address"], node["Endpoint"]["Port"]) == member_addr(g, cid)
        assert lo <= node["Endpoint"]["Port"] <= hi
        assert c["PreferredAvailabilityZone"] == m["PreferredAvailabilityZone"]
    assert sorted(c["CacheClusterId"] for c in describe_all(ec)) == sorted(ms)

    # The engines agree with CurrentRole.
    g = wait_roles_agree(ec, "rg1")
    assert primary_id(g) == prim
    assert len(redis_server_pids(larder)) == 3

    # The AWS CLI sees the same group.
    out = aws("describe-replication-groups", "--replication-group-id", "rg1")
    (cli_g,) = out["ReplicationGroups"]
    assert cli_g["Status"] == "available" and sorted(cli_g["MemberClusters"]) == sorted(ms)

    # ReplicasPerNodeGroup is the other way to size the group.
    resp = create_group(ec, "rg2", ReplicasPerNodeGroup=2)
    assert resp["Status"] == "creating"
    g2 = wait_group(ec, "rg2", timeout=60)
    assert sorted(g2["MemberClusters"]) == ["rg2-001", "rg2-002", "rg2-003"]
    assert sorted(m["PreferredAvailabilityZone"] for m in members(g2).values()) == ZONES
    wait_roles_agree(ec, "rg2")
    assert {g["ReplicationGroupId"] for g in all_groups(ec)} == {"rg1", "rg2"}


def test_primary_and_reader_endpoints(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    prim = primary_id(g)
    replica_ports = {member_addr(g, cid)[1] for cid in replica_ids(g)}
    assert len(replica_ports) == 2

    # Every connection through the primary endpoint reaches the primary.
    for _ in range(5):
        assert served_port(rconn(primary_endpoint(g))) == member_addr(g, prim)[1]
    data = write_keys(primary_endpoint(g), 500)

    # Reader: the replicas serve the data, spread over both, never the primary.
    wait_has_keys(reader_endpoint(g), data, what="keys written via the primary readable via the reader")
    wait_reader_spread(g, replica_ports)

    # A write through the reader is refused by the replica.
    r = rconn(reader_endpoint(g))
    with pytest.raises(redis.ReadOnlyError):
        r.set("k:0", "changed")
    assert rconn(primary_endpoint(g)).get("k:0") == "v0"


def test_protocol_features_through_endpoints(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    pe, re_ = primary_endpoint(g), reader_endpoint(g)
    w = rconn(pe)

    # Pub/sub through the primary endpoint, and through the reader (PUBLISH replicates).
    subs = []
    for ep in (pe, re_):
        ps = rconn(ep).pubsub()
        ps.subscribe("news")
        msg = ps.get_message(timeout=5)
        assert msg and msg["type"] == "subscribe", msg
        subs.append(ps)
    assert w.publish("news", "hello") >= 1
    for ps, where in zip(subs, ("primary", "reader")):
        msg = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (msg and msg["type"] == "message"):
            msg = ps.get_message(timeout=1)
        assert msg and msg["type"] == "message" and msg["data"] == "hello", (where, msg)
        ps.close()

    # BLPOP blocks through the primary endpoint until another client pushes.
    got = {}

    def pop():
        got["v"] = rconn(pe, timeout=10).blpop(["queue"], timeout=8)
    t = threading.Thread(target=pop)
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), f"BLPOP returned early: {got}"
    w.rpush("queue", "job1")
    t.join(10)
    assert got.get("v") == ("queue", "job1"), got

    # MULTI/EXEC.
    pipe = w.pipeline(transaction=True)
    pipe.set("tx:a", "1").incr("tx:a").get("tx:a")
    assert pipe.execute() == [True, 2, "2"]

    # A 1 MB value both ways, and a long pipeline.
    big = bytes(range(256)) * 4096
    assert len(big) == 1024 * 1024
    wb = rconn(pe, decode=False)
    assert wb.set("big", big)
    assert wb.get("big") == big
    pipe = w.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"p:{i}", i)
    assert all(pipe.execute())

    rb = rconn(re_, decode=False)
    wait_until(lambda: rb.get("big") == big, 20, what="1 MB value on the reader")
    r = rconn(re_)
    wait_until(lambda: r.get("p:1999") == "1999", 20, what="pipelined keys on the reader")
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.get(f"p:{i}")
    assert pipe.execute() == [str(i) for i in range(2000)]
    pipe = r.pipeline(transaction=True)
    pipe.get("tx:a").strlen("big")
    assert pipe.execute() == ["2", len(big)]


def test_validation_errors_leave_state_unchanged(larder, ec):
    create_group(ec, "rg1", 3)
    wait_roles_agree(ec, "rg1", timeout=60)
    create_group(ec, "nofail", 2, failover=False)
    wait_roles_agree(ec, "nofail", timeout=60)

    def snapshot():
        groups = sorted(all_groups(ec), key=lambda g: g["ReplicationGroupId"])
        clusters = sorted((c["CacheClusterId"], c["CacheClusterStatus"], c.get("ReplicationGroupId"))
                          for c in describe_all(ec))
        return groups, clusters, redis_server_pids(larder)

    before = snapshot()

    def expect(code, call, **kw):
        err = api_error(call, **kw)
        assert error_code(err) == code, (call.__name__, kw, err.response["Error"])
        assert snapshot() == before, f"state changed after rejected {call.__name__}({kw})"

    base = dict(ReplicationGroupDescription="d", Engine="redis", CacheNodeType="cache.t4g.micro")
    create = ec.create_replication_group
    expect("ReplicationGroupAlreadyExists", create, ReplicationGroupId="rg1", NumCacheClusters=2, **base)
    expect("InvalidParameterCombination", create, ReplicationGroupId="bad1", NumCacheClusters=1,
           AutomaticFailoverEnabled=True, **base)
    expect("InvalidParameterCombination", create, ReplicationGroupId="bad2", NumCacheClusters=2,
           AutomaticFailoverEnabled=False, MultiAZEnabled=True, **base)
    expect("InvalidParameterValue", create, ReplicationGroupId="bad3", NumCacheClusters=7, **base)
    expect("InvalidParameterValue", create, ReplicationGroupId="bad4", ReplicasPerNodeGroup=6, **base)
    expect("InvalidParameterValue", create, ReplicationGroupId="bad5", NumCacheClusters=2,
           ReplicationGroupDescription="d", Engine="memcached", CacheNodeType="cache.t4g.micro")
    expect("InvalidParameterCombination", create, ReplicationGroupId="bad6", NumNodeGroups=2,
           ReplicasPerNodeGroup=1, AutomaticFailoverEnabled=True, **base)
    expect("InvalidParameterCombination", create, ReplicationGroupId="bad7", NumCacheClusters=2,
           ClusterMode="enabled", AutomaticFailoverEnabled=True, **base)

    # boto3 refuses to send a request without the description, so send it raw.
    resp = signed_post(larder.endpoint_url, {
        "Action": "CreateReplicationGroup", "Version": "2015-02-02", "ReplicationGroupId": "bad8",
        "Engine": "redis", "CacheNodeType": "cache.t4g.micro", "NumCacheClusters": "2"})
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert xml_error_code(resp.text) == "InvalidParameterValue", resp.text
    assert snapshot() == before

    # Unknown group.
    expect("ReplicationGroupNotFoundFault", ec.describe_replication_groups, ReplicationGroupId="nope")
    expect("ReplicationGroupNotFoundFault", ec.delete_replication_group, ReplicationGroupId="nope")
    expect("ReplicationGroupNotFoundFault", ec.test_failover, ReplicationGroupId="nope", NodeGroupId="0001")
    expect("ReplicationGroupNotFoundFault", ec.modify_replication_group, ReplicationGroupId="nope",
           PrimaryClusterId="rg1-002", ApplyImmediately=True)
    expect("ReplicationGroupNotFoundFault", ec.increase_replica_count, ReplicationGroupId="nope",
           NewReplicaCount=3, ApplyImmediately=True)

    # Failover requests the group cannot honour.
    expect("NodeGroupNotFoundFault", ec.test_failover, ReplicationGroupId="rg1", NodeGroupId="0002")
    expect("InvalidReplicationGroupState", ec.test_failover, ReplicationGroupId="nofail", NodeGroupId="0001")

    # Replica counts out of range, and removing the primary.
    g = describe_group(ec, "rg1")
    expect("InvalidParameterValue", ec.increase_replica_count, ReplicationGroupId="rg1",
           NewReplicaCount=6, ApplyImmediately=True)
    expect("InvalidParameterCombination", ec.decrease_replica_count, ReplicationGroupId="rg1",
           NewReplicaCount=0, ApplyImmediately=True)
    expect("InvalidParameterValue", ec.decrease_replica_count, ReplicationGroupId="rg1",
           ReplicasToRemove=[primary_id(g)], ApplyImmediately=True)

    assert describe_group(ec, "rg1")["Status"] == "available"


@pytest.mark.larder_args("--workflow-step-delay-ms", "300")
def test_operations_on_a_group_that_is_not_available(larder, ec):
    create_group(ec, "slow", 3)
    assert describe_group(ec, "slow")["Status"] == "creating"
    for call, kw in [
        (ec.test_failover, dict(NodeGroupId="0001")),
        (ec.modify_replication_group, dict(PrimaryClusterId="slow-002", ApplyImmediately=True)),
        (ec.increase_replica_count, dict(NewReplicaCount=3, ApplyImmediately=True)),
        (ec.decrease_replica_count, dict(NewReplicaCount=1, ApplyImmediately=True)),
    ]:
        err = api_error(call, ReplicationGroupId="slow", **kw)
        assert error_code(err) == "InvalidReplicationGroupState", (call.__name__, err.response["Error"])
    assert describe_group(ec, "slow")["Status"] == "creating", "the rejected calls must not change the status"
    g = wait_group(ec, "slow", timeout=90)
    assert sorted(g["MemberClusters"]) == ["slow-001", "slow-002", "slow-003"]


def test_increase_and_decrease_replica_count(larder, ec):
    create_group(ec, "rg1", 3)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    prim = primary_id(g)
    data = write_keys(primary_endpoint(g), 300)
    pids = {cid: member_pid(larder, cid) for cid in members(g)}

    # --- up to 3 replicas: rg1-004 joins as a replica with the data
    resp = ec.increase_replica_count(ReplicationGroupId="rg1", NewReplicaCount=3, ApplyImmediately=True)
    assert resp["ReplicationGroup"]["Status"] == "modifying"
    g = wait_group(ec, "rg1", timeout=60)
    assert sorted(g["MemberClusters"]) == ["rg1-001", "rg1-002", "rg1-003", "rg1-004"]
    g = wait_roles_agree(ec, "rg1")
    assert primary_id(g) == prim
    assert roles(g)["rg1-004"] == "replica"
    assert describe(ec, "rg1-004")["ReplicationGroupId"] == "rg1"
    wait_has_keys(member_addr(g, "rg1-004"), data, what="data on the new replica rg1-004")
    assert int(info_replication(member_addr(g, prim))["connected_slaves"]) == 3
    wait_reader_spread(g, {member_addr(g, cid)[1] for cid in replica_ids(g)})
    assert len(redis_server_pids(larder)) == 4

    # --- remove one named replica
    victim = replica_ids(g)[0]
    victim_pid = member_pid(larder, victim)
    resp = ec.decrease_replica_count(ReplicationGroupId="rg1", ReplicasToRemove=[victim],
                                     ApplyImmediately=True)
    assert resp["ReplicationGroup"]["Status"] == "modifying"
    g = wait_group(ec, "rg1", timeout=60)
    assert victim not in g["MemberClusters"] and len(g["MemberClusters"]) == 3
    wait_gone(ec, victim, timeout=30)
    wait_until(lambda: not pid_alive(victim_pid), 10, what=f"{victim}'s process to stop")
    g = wait_roles_agree(ec, "rg1")
    assert primary_id(g) == prim

    # --- down to 1 replica
    ec.decrease_replica_count(ReplicationGroupId="rg1", NewReplicaCount=1, ApplyImmediately=True)
    g = wait_group(ec, "rg1", timeout=60)
    assert len(g["MemberClusters"]) == 2 and prim in g["MemberClusters"]
    g = wait_roles_agree(ec, "rg1")
    assert primary_id(g) == prim
    (last,) = replica_ids(g)
    for cid, pid in pids.items():
        if cid not in g["MemberClusters"]:
            wait_until(lambda pid=pid: not pid_alive(pid), 10, what=f"{cid}'s process to stop")
    wait_until(lambda: len(redis_server_pids(larder)) == 2, 10, what="two engine processes left")
    wait_reader_spread(g, {member_addr(g, last)[1]})
    assert rconn(primary_endpoint(g)).mget(list(data)) == list(data.values())

    # --- the floor with automatic failover on is one replica
    err = api_error(ec.decrease_replica_count, ReplicationGroupId="rg1", NewReplicaCount=0,
                    ApplyImmediately=True)
    assert error_code(err) == "InvalidParameterCombination"
    assert len(describe_group(ec, "rg1")["MemberClusters"]) == 2


def test_replica_count_can_reach_zero_without_automatic_failover(larder, ec):
    create_group(ec, "solo", 2, failover=False)
    g = wait_roles_agree(ec, "solo", timeout=60)
    prim = primary_id(g)
    assert g["AutomaticFailover"] == "disabled" and g["MultiAZ"] == "disabled"
    ec.decrease_replica_count(ReplicationGroupId="solo", NewReplicaCount=0, ApplyImmediately=True)
    g = wait_group(ec, "solo", timeout=60)
    assert g["MemberClusters"] == [prim]
    assert roles(g) == {prim: "primary"}
    assert rconn(primary_endpoint(g)).set("still", "writable")
    err = api_error(ec.increase_replica_count, ReplicationGroupId="solo", NewReplicaCount=6,
                    ApplyImmediately=True)
    assert error_code(err) == "InvalidParameterValue"
    ec.increase_replica_count(ReplicationGroupId="solo", NewReplicaCount=5, ApplyImmediately=True)
    g = wait_group(ec, "solo", timeout=90)
    assert len(g["MemberClusters"]) == 6
    g = wait_roles_agree(ec, "solo")
    assert primary_id(g) == prim and len(replica_ids(g)) == 5
    for cid in replica_ids(g):
        wait_has_keys(member_addr(g, cid), {"still": "writable"}, what=f"data on {cid}")


def test_grow_group_from_existing_cluster(larder, ec):
    ec.create_cache_cluster(CacheClusterId="seed", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    c = wait_status(ec, "seed", timeout=30)
    node = c["CacheNodes"][0]["Endpoint"]
    data = write_keys((node["Address"], node["Port"]), 1000, prefix="seed")

    resp = ec.create_replication_group(ReplicationGroupId="grown", ReplicationGroupDescription="from seed",
                                       PrimaryClusterId="seed", NumCacheClusters=3,
                                       AutomaticFailoverEnabled=True)
    assert resp["ReplicationGroup"]["Status"] == "creating"
    g = wait_group(ec, "grown", timeout=60)
    assert "seed" in g["MemberClusters"] and len(g["MemberClusters"]) == 3
    g = wait_roles_agree(ec, "grown")
    assert primary_id(g) == "seed"
    assert describe(ec, "seed")["ReplicationGroupId"] == "grown"
    assert member_addr(g, "seed") == (node["Address"], node["Port"])
    assert rconn(primary_endpoint(g)).mget(list(data)) == list(data.values())
    for cid in replica_ids(g):
        assert describe(ec, cid)["ReplicationGroupId"] == "grown"
        wait_has_keys(member_addr(g, cid), data, what=f"seed data on {cid}")
    wait_has_keys(reader_endpoint(g), data, what="seed data via the reader endpoint")


def test_delete_group(larder, ec):
    create_group(ec, "gone", 3)
    create_group(ec, "kept", 3)
    g_gone = wait_roles_agree(ec, "gone", timeout=60)
    g_kept = wait_roles_agree(ec, "kept", timeout=60)
    gone_pids = {cid: member_pid(larder, cid) for cid in g_gone["MemberClusters"]}
    kept_pids = {cid: member_pid(larder, cid) for cid in g_kept["MemberClusters"]}
    kept_primary = primary_id(g_kept)
    kept_data = write_keys(primary_endpoint(g_kept), 200, prefix="keep")

    # --- plain delete: group, member clusters and processes all gone
    resp = ec.delete_replication_group(ReplicationGroupId="gone")
    assert resp["ReplicationGroup"]["Status"] == "deleting"
    wait_group_gone(ec, "gone", timeout=60)
    err = api_error(ec.describe_replication_groups, ReplicationGroupId="gone")
    assert error_code(err) == "ReplicationGroupNotFoundFault"
    for cid, pid in gone_pids.items():
        wait_gone(ec, cid, timeout=30)
        wait_until(lambda pid=pid: not pid_alive(pid), 10, what=f"{cid}'s process to stop")
    # the other group is untouched
    assert all(pid_alive(p) for p in kept_pids.values())
    assert describe_group(ec, "kept")["Status"] == "available"

    # --- RetainPrimaryCluster: the primary lives on as a standalone cluster with its data
    resp = ec.delete_replication_group(ReplicationGroupId="kept", RetainPrimaryCluster=True)
    assert resp["ReplicationGroup"]["Status"] == "deleting"
    wait_group_gone(ec, "kept", timeout=60)
    for cid, pid in kept_pids.items():
        if cid == kept_primary:
            continue
        wait_gone(ec, cid, timeout=30)
        wait_until(lambda pid=pid: not pid_alive(pid), 10, what=f"{cid}'s process to stop")
    c = wait_status(ec, kept_primary, timeout=30)
    assert not c.get("ReplicationGroupId"), c.get("ReplicationGroupId")
    assert c["NumCacheNodes"] == 1
    ep = c["CacheNodes"][0]["Endpoint"]
    r = rconn((ep["Address"], ep["Port"]))
    assert r.mget(list(kept_data)) == list(kept_data.values())
    assert r.info("replication")["role"] == "master"
    assert r.set("after", "delete")
    assert [c["CacheClusterId"] for c in describe_all(ec)] == [kept_primary]
    assert all_groups(ec) == []
    wait_until(lambda: len(redis_server_pids(larder)) == 1, 10, what="only the retained primary running")


def _clients_that_ran(node: tuple[str, int], command: str) -> int:
    """Connections on the node whose last command was `command` (health probes and
    this query run other commands, so they are not counted)."""
    return sum(1 for c in rconn(node).client_list() if c["cmd"] == command)


def _get_through(endpoint: tuple[str, int], clients: int) -> list:
    conns = [rconn(endpoint) for _ in range(clients)]
    for i, r in enumerate(conns):
        assert r.set(f"mux:{i}", i)
    for i, r in enumerate(conns):
        assert r.get(f"mux:{i}") == str(i)
    return conns


# Spliced clients bypass multiplexing (each has its own standby), so the
# multiplexing tests turn the kernel splice off.
@pytest.mark.larder_args("--endpoint-kernel-splice", "off")
def test_endpoint_shares_one_node_connection_between_clients(larder, ec):
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    node = member_addr(g, primary_id(g))
    conns = _get_through(primary_endpoint(g), 10)
    # Ten clients, one node connection carrying their GETs.
    assert _clients_that_ran(node, "get") == 1
    # redis-py opened each of them with CLIENT SETINFO; set-up commands like that
    # and CLIENT SETNAME stay shared. A connection-scoped command (CLIENT GETNAME)
    # moves the client to its own node connection, and its name comes along.
    assert conns[0].client_setname("mine")
    assert not [c for c in rconn(node).client_list() if c["name"] == "mine"]
    assert conns[0].client_getname() == "mine"
    assert conns[0].get("mux:0") == "0"
    names = [c for c in rconn(node).client_list() if c["name"] == "mine"]
    assert len(names) == 1 and names[0]["cmd"] == "get", names
    assert all(r.get(f"mux:{i}") == str(i) for i, r in enumerate(conns))
    assert _clients_that_ran(node, "get") == 2


@pytest.mark.larder_args("--endpoint-multiplexing", "off", "--endpoint-kernel-splice", "off")
def test_endpoint_multiplexing_can_be_turned_off(larder, ec):
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    node = member_addr(g, primary_id(g))
    conns = _get_through(primary_endpoint(g), 10)
    assert _clients_that_ran(node, "get") == len(conns)


def kernel_splice_unavailable() -> str | None:
    """Why this host cannot run the kernel splice (root, cgroup v2, Linux 5.15+), or None."""
    if os.geteuid() != 0:
        return f"not root (euid {os.geteuid()}): the splice needs CAP_BPF and CAP_NET_ADMIN"
    if not any(" - cgroup2 " in line for line in Path("/proc/self/mountinfo").read_text().splitlines()):
        return "no cgroup v2 hierarchy mounted"
    release = os.uname().release
    major, minor = (int(x) for x in re.findall(r"\d+", release)[:2])
    if (major, minor) < (5, 15):
        return f"Linux {release} is older than 5.15"
    return None


def test_local_clients_are_spliced_past_the_agent(larder, ec):
    """With the kernel splice (the default where it is available, as here), a
    local client's bytes never pass through the agent that runs the endpoints:
    clients through the primary endpoint keep working, and new ones connect, while
    the agent is frozen with SIGSTOP."""
    if why := kernel_splice_unavailable():
        pytest.skip(f"kernel splice unavailable: {why}")
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    endpoint = primary_endpoint(g)
    # Standbys are opened as the endpoint learns its primary and refilled after
    # each claim; give the pool a moment both times.
    time.sleep(0.5)
    before = rconn(endpoint, timeout=3)
    assert before.set("spliced", "before")
    time.sleep(0.5)
    os.kill(larder.agent_pid, signal.SIGSTOP)
    try:
        assert before.get("spliced") == "before"
        assert before.incr("n") == 1
        late = rconn(endpoint, timeout=3)
        assert late.set("spliced", "while frozen")
        assert late.blpop(["nothing"], timeout=0.2) is None
    finally:
        os.kill(larder.agent_pid, signal.SIGCONT)
    assert rconn(member_addr(g, primary_id(g))).get("spliced") == "while frozen"


@pytest.mark.larder_args("--endpoint-kernel-splice", "off")
def test_without_the_splice_a_frozen_agent_holds_its_clients(larder, ec):
    """The control for the test above: served in userspace, a client through the
    endpoint gets no reply while the agent (which runs the endpoints) is frozen."""
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    before = rconn(primary_endpoint(g), timeout=1)
    assert before.set("k", "v")
    os.kill(larder.agent_pid, signal.SIGSTOP)
    try:
        with pytest.raises(redis.exceptions.TimeoutError):
            before.get("k")
    finally:
        os.kill(larder.agent_pid, signal.SIGCONT)
