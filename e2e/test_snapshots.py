"""Snapshots (issue 11, first slice): CreateSnapshot of a replication group and of a
cluster, DescribeSnapshots, DeleteSnapshot, with boto3 against a real `larder server`
and redis-py on its nodes. The snapshot files are real RDB dumps: the test checks
their checksum and loads one into a bare redis-server to compare every key.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from pathlib import Path

import botocore.exceptions
import pytest

from harness import (
    describe, error_code, free_port, wait_absent, wait_port, wait_status, wait_until,
)
from test_replication_groups import (
    create_group, member_addr, primary_endpoint, primary_id, rconn, replica_ids, wait_group,
)

SNAPSHOT_ARN = "arn:aws:elasticache:us-east-1:000000000000:snapshot:{}"


def describe_snapshot(ec, name: str) -> dict:
    (s,) = ec.describe_snapshots(SnapshotName=name)["Snapshots"]
    return s


def wait_snapshot(ec, name: str, status: str = "available", timeout: float = 60.0) -> dict:
    def reached():
        s = describe_snapshot(ec, name)
        return s if s["SnapshotStatus"] == status else None
    return wait_until(reached, timeout, interval=0.1, what=f"snapshot {name} {status}")


def wait_snapshot_gone(ec, name: str, timeout: float = 30.0) -> None:
    def gone():
        try:
            describe_snapshot(ec, name)
        except botocore.exceptions.ClientError as e:
            return error_code(e) == "SnapshotNotFoundFault"
        return False
    wait_until(gone, timeout, interval=0.1, what=f"snapshot {name} gone")


def refused(call, **kw) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return error_code(info.value)


def fill(r, n: int) -> dict[str, str]:
    data = {f"key:{i}": f"value-{i}-" + "x" * (i % 50) for i in range(n)}
    pipe = r.pipeline(transaction=False)
    for k, v in data.items():
        pipe.set(k, v)
    pipe.execute()
    return data


def load_rdb(tmp_path: Path, rdb: Path) -> dict[str, str]:
    """Every key of an RDB file, as a bare redis-server that loaded it sees them."""
    d = tmp_path / "bare"
    d.mkdir()
    (d / "dump.rdb").write_bytes(rdb.read_bytes())
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(d), "--save", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        r = rconn(("127.0.0.1", port))
        wait_until(lambda: r.info("persistence")["loading"] == 0, 20, what="rdb loaded")
        return {k: r.get(k) for k in r.scan_iter(count=1000)}
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_group_snapshot_is_a_verified_rdb_of_a_replica(larder, ec, tmp_path):
    create_group(ec, "snapg", members=2)
    g = wait_group(ec, "snapg")
    r = rconn(primary_endpoint(g))
    data = fill(r, 5000)
    replica = replica_ids(g)[0]
    rep = rconn(member_addr(g, replica))
    wait_until(lambda: rep.dbsize() == len(data), 20, what="replica caught up")

    s = ec.create_snapshot(ReplicationGroupId="snapg", SnapshotName="Snap-One")["Snapshot"]
    assert s["SnapshotName"] == "snap-one"
    assert s["SnapshotStatus"] == "creating"
    s = wait_snapshot(ec, "snap-one")
    assert s["ReplicationGroupId"] == "snapg"
    assert s["SnapshotSource"] == "manual"
    assert s["Engine"] == "redis" and s["EngineVersion"]
    assert s["CacheNodeType"] == "cache.t4g.micro"
    assert s["NumNodeGroups"] == 1 and s["AutomaticFailover"] == "enabled"
    assert s["ARN"] == SNAPSHOT_ARN.format("snap-one")
    (ns,) = s["NodeSnapshots"]
    # Taken from the replica, so the primary did not fork.
    assert ns["CacheClusterId"] == replica, (ns, primary_id(g))
    assert ns["NodeGroupId"] == "0001" and ns["CacheSize"].endswith(" MB")
    assert "SnapshotCreateTime" in ns
    with_config = ec.describe_snapshots(SnapshotName="snap-one", ShowNodeGroupConfig=True)
    (cfg_ns,) = with_config["Snapshots"][0]["NodeSnapshots"]
    assert cfg_ns["NodeGroupConfiguration"]["ReplicaCount"] == 1

    # The file on the control plane: complete, and a real dump of every key.
    rdb = larder.data_dir / "snapshots" / "snap-one" / f"{replica}-0001.rdb"
    assert rdb.exists(), sorted((larder.data_dir / "snapshots").rglob("*"))
    assert not list(rdb.parent.glob("*.partial"))
    assert load_rdb(tmp_path, rdb) == data
    assert re.search(r"Snapshot snap-one succeeded", " ".join(
        e["Message"] for e in ec.describe_events(
            SourceType="replication-group", SourceIdentifier="snapg", Duration=60)["Events"]))
    # The agent's own copy is gone once the control plane has it.
    agent_copy = larder.data_dir / "nodes" / ".snapshots" / "snap-one"
    wait_until(lambda: not agent_copy.exists(), 10, what="agent copy removed")

    ec.delete_snapshot(SnapshotName="snap-one")
    wait_snapshot_gone(ec, "snap-one")
    assert not rdb.parent.exists()


def test_cluster_snapshot_filters_pagination_and_delete(larder, ec):
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    wait_status(ec, "solo")
    create_group(ec, "grp", members=1, failover=False)
    wait_group(ec, "grp")
    names = []
    for i in range(3):
        name = f"solo-{i}"
        ec.create_snapshot(CacheClusterId="solo", SnapshotName=name)
        wait_snapshot(ec, name)
        names.append(name)
    ec.create_snapshot(ReplicationGroupId="grp", SnapshotName="grp-snap",
                       Tags=[{"Key": "team", "Value": "cache"}])
    wait_snapshot(ec, "grp-snap")
    by_cluster = ec.describe_snapshots(CacheClusterId="solo")["Snapshots"]
    assert sorted(s["SnapshotName"] for s in by_cluster) == names
    assert all(s["CacheClusterId"] == "solo" and "ReplicationGroupId" not in s for s in by_cluster)
    by_group = ec.describe_snapshots(ReplicationGroupId="grp")["Snapshots"]
    assert [s["SnapshotName"] for s in by_group] == ["grp-snap"]
    assert ec.describe_snapshots(SnapshotSource="system")["Snapshots"] == []
    assert len(ec.describe_snapshots(SnapshotSource="user")["Snapshots"]) == 4
    tags = ec.list_tags_for_resource(ResourceName=SNAPSHOT_ARN.format("grp-snap"))["TagList"]
    assert tags == [{"Key": "team", "Value": "cache"}]

    # Pages of 20 at most; with 4 snapshots one page, no marker. The paginator
    # walks markers Larder issues.
    page = ec.describe_snapshots(MaxRecords=20)
    assert len(page["Snapshots"]) == 4 and "Marker" not in page
    walked = [s["SnapshotName"] for p in ec.get_paginator("describe_snapshots").paginate()
              for s in p["Snapshots"]]
    assert walked == sorted(walked) and len(walked) == 4

    deleted = ec.delete_snapshot(SnapshotName="solo-0")["Snapshot"]
    assert deleted["SnapshotStatus"] == "deleting"
    wait_snapshot_gone(ec, "solo-0")
    assert refused(ec.delete_snapshot, SnapshotName="solo-0") == "SnapshotNotFoundFault"


def test_invalid_requests_get_elasticache_codes_and_change_nothing(larder, ec):
    ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    # Still creating: not available yet.
    assert refused(ec.create_snapshot, CacheClusterId="solo",
                   SnapshotName="early") == "InvalidCacheClusterState"
    wait_status(ec, "mc")
    wait_status(ec, "solo")
    cases = [
        (dict(CacheClusterId="mc", SnapshotName="s"), "SnapshotFeatureNotSupportedFault"),
        (dict(CacheClusterId="nope", SnapshotName="s"), "CacheClusterNotFound"),
        (dict(ReplicationGroupId="nope", SnapshotName="s"), "ReplicationGroupNotFoundFault"),
        (dict(SnapshotName="s"), "InvalidParameterCombination"),
        (dict(CacheClusterId="solo", ReplicationGroupId="g", SnapshotName="s"),
         "InvalidParameterCombination"),
        (dict(CacheClusterId="solo", SnapshotName="1bad"), "InvalidParameterValue"),
        (dict(CacheClusterId="solo", SnapshotName="bad--name"), "InvalidParameterValue"),
        (dict(CacheClusterId="solo", SnapshotName="s", KmsKeyId="k"),
         "InvalidParameterCombination"),
    ]
    for kw, code in cases:
        assert refused(ec.create_snapshot, **kw) == code, kw
    assert ec.describe_snapshots()["Snapshots"] == []
    assert refused(ec.describe_snapshots, SnapshotName="nope") == "SnapshotNotFoundFault"
    assert refused(ec.describe_snapshots, CacheClusterId="nope") == "CacheClusterNotFound"
    assert refused(ec.describe_snapshots, MaxRecords=51) == "InvalidParameterValue"
    assert refused(ec.describe_snapshots, SnapshotSource="weekly") == "InvalidParameterValue"

    ec.create_snapshot(CacheClusterId="solo", SnapshotName="once")
    assert refused(ec.create_snapshot, CacheClusterId="solo",
                   SnapshotName="once") == "SnapshotAlreadyExistsFault"
    wait_snapshot(ec, "once")
    assert len(ec.describe_snapshots()["Snapshots"]) == 1


@pytest.mark.larder_args("--workflow-step-delay-ms", "1500")
def test_control_plane_killed_mid_snapshot_finishes_it_after_restart(larder, ec, tmp_path):
    """SIGKILL of the control plane after the node saved and before the copy: the
    restarted daemon copies and verifies the file; the snapshot is never available
    with partial data meanwhile."""
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "solo", timeout=90)
    ep = c["CacheNodes"][0]["Endpoint"]
    data = fill(rconn((ep["Address"], ep["Port"])), 2000)
    ec.create_snapshot(CacheClusterId="solo", SnapshotName="crashy")
    wait_until(lambda: "snapshot crash point snapshot-saved" in larder.log_path.read_text(),
               30, what="crash point reached")
    larder.kill9()
    assert describe_snapshot_file_state(larder, "crashy") != "complete"
    larder.start(extra_args=[])
    s = wait_snapshot(ec, "crashy")
    (ns,) = s["NodeSnapshots"]
    rdb = larder.data_dir / "snapshots" / "crashy" / "solo-0001.rdb"
    assert load_rdb(tmp_path, rdb) == data
    digest = hashlib.sha256(rdb.read_bytes()).hexdigest()
    assert len(digest) == 64 and ns["CacheSize"].endswith(" MB")


def describe_snapshot_file_state(larder, name: str) -> str:
    d = larder.data_dir / "snapshots" / name
    if any(d.glob("*.rdb")):
        return "complete"
    return "partial" if any(d.glob("*.partial")) else "none"


# --------------------------------------------------------------------------- restore


def snapshot_group_with_data(ec, rg_id: str, name: str, n: int = 3000):
    """A group with n keys (some with TTLs) and a snapshot of it; returns the data and TTLs."""
    create_group(ec, rg_id, members=2)
    g = wait_group(ec, rg_id)
    r = rconn(primary_endpoint(g))
    data = fill(r, n)
    for i in range(0, n, 10):
        r.expire(f"key:{i}", 3600)
    rep = rconn(member_addr(g, replica_ids(g)[0]))
    wait_until(lambda: rep.dbsize() == n, 20, what="replica caught up")
    ec.create_snapshot(ReplicationGroupId=rg_id, SnapshotName=name)
    wait_snapshot(ec, name)
    return data


def keys_and_ttls(r) -> tuple[dict[str, str], dict[str, int]]:
    keys = {k: r.get(k) for k in r.scan_iter(count=1000)}
    ttls = {k: r.ttl(k) for k in keys}
    return keys, {k: t for k, t in ttls.items() if t != -1}


def test_restore_into_a_new_cluster_and_a_new_group(larder, ec):
    data = snapshot_group_with_data(ec, "src", "src-snap")
    ec.create_cache_cluster(CacheClusterId="restored", Engine="redis",
                            CacheNodeType="cache.t4g.micro", SnapshotName="src-snap")
    create_group(ec, "regrown", members=2, SnapshotName="src-snap")
    c = wait_status(ec, "restored", timeout=90)
    ep = c["CacheNodes"][0]["Endpoint"]
    keys, ttls = keys_and_ttls(rconn((ep["Address"], ep["Port"])))
    assert keys == data
    assert len(ttls) == len(data) // 10 and all(0 < t <= 3600 for t in ttls.values())

    g = wait_group(ec, "regrown", timeout=90)
    keys, ttls = keys_and_ttls(rconn(primary_endpoint(g)))
    assert keys == data and len(ttls) == len(data) // 10
    # The replica got the data from its primary.
    rep = rconn(member_addr(g, replica_ids(g)[0]))
    wait_until(lambda: rep.dbsize() == len(data), 20, what="restored group's replica synced")
    # A snapshot being restored from cannot be deleted; once the nodes run, it can.
    ec.delete_snapshot(SnapshotName="src-snap")
    wait_snapshot_gone(ec, "src-snap")


def test_restore_refusals(larder, ec):
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    wait_status(ec, "solo")
    base = dict(Engine="redis", CacheNodeType="cache.t4g.micro")
    assert refused(ec.create_cache_cluster, CacheClusterId="r1", SnapshotName="nope",
                   **base) == "SnapshotNotFoundFault"
    assert refused(ec.create_cache_cluster, CacheClusterId="r1", SnapshotName="x",
                   Engine="memcached",
                   CacheNodeType="cache.t4g.micro") == "InvalidParameterCombination"
    assert refused(ec.create_replication_group, ReplicationGroupId="g1",
                   ReplicationGroupDescription="d", SnapshotName="x", PrimaryClusterId="solo",
                   ) == "InvalidParameterCombination"
    assert refused(ec.create_cache_cluster, CacheClusterId="r1", SnapshotName="x",
                   SnapshotArns=["arn:aws:s3:::bucket/key.rdb"],
                   **base) == "InvalidParameterCombination"
    ec.create_snapshot(CacheClusterId="solo", SnapshotName="young")
    # Still creating: nothing to restore yet (or already available on a fast host).
    try:
        ec.create_cache_cluster(CacheClusterId="r2", SnapshotName="young", **base)
    except botocore.exceptions.ClientError as e:
        assert error_code(e) == "InvalidSnapshotState"
    else:
        assert describe_snapshot(ec, "young")["SnapshotStatus"] == "available"
    ids = {c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]}
    assert "r1" not in ids and "g1" not in {
        g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]}


@pytest.mark.larder_args("--node-step-attempts", "2", "--node-step-backoff-ms", "100")
@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_a_damaged_snapshot_file_is_refused_on_restore(larder, ec, damage):
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "solo")
    ep = c["CacheNodes"][0]["Endpoint"]
    fill(rconn((ep["Address"], ep["Port"])), 2000)
    ec.create_snapshot(CacheClusterId="solo", SnapshotName="fragile")
    wait_snapshot(ec, "fragile")
    rdb = larder.data_dir / "snapshots" / "fragile" / "solo-0001.rdb"
    raw = bytearray(rdb.read_bytes())
    if damage == "corrupt":
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = raw[: len(raw) // 2]
    rdb.write_bytes(bytes(raw))

    ec.create_cache_cluster(CacheClusterId="victim", Engine="redis",
                            CacheNodeType="cache.t4g.micro", SnapshotName="fragile")
    wait_status(ec, "victim", status="create-failed", timeout=60)
    msgs = [e["Message"] for e in ec.describe_events(
        SourceType="cache-cluster", SourceIdentifier="victim", Duration=60)["Events"]]
    want = "SHA-256" if damage == "corrupt" else "ends at"
    assert any(want in m for m in msgs), msgs
    # Nothing else is affected, and the failed cluster can be deleted.
    assert wait_status(ec, "solo")["CacheClusterStatus"] == "available"
    ec.delete_cache_cluster(CacheClusterId="victim")


# --------------------------------------------------------------------------- final snapshots


def test_final_snapshots_on_delete_and_restore_from_them(larder, ec):
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "solo")
    ep = c["CacheNodes"][0]["Endpoint"]
    data = fill(rconn((ep["Address"], ep["Port"])), 1500)
    create_group(ec, "grp", members=2)
    g = wait_group(ec, "grp")
    gdata = fill(rconn(primary_endpoint(g)), 1500)
    rep = rconn(member_addr(g, replica_ids(g)[0]))
    wait_until(lambda: rep.dbsize() == len(gdata), 20, what="replica caught up")

    ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    wait_status(ec, "mc")
    assert refused(ec.delete_cache_cluster, CacheClusterId="mc",
                   FinalSnapshotIdentifier="mc-last") == "SnapshotFeatureNotSupportedFault"
    assert wait_status(ec, "mc")["CacheClusterStatus"] == "available"
    ec.create_snapshot(CacheClusterId="solo", SnapshotName="taken")
    wait_snapshot(ec, "taken")
    assert refused(ec.delete_cache_cluster, CacheClusterId="solo",
                   FinalSnapshotIdentifier="taken") == "SnapshotAlreadyExistsFault"
    assert refused(ec.delete_cache_cluster, CacheClusterId="solo",
                   FinalSnapshotIdentifier="bad--name") == "InvalidParameterValue"
    assert describe(ec, "solo")["CacheClusterStatus"] == "available"

    ec.delete_cache_cluster(CacheClusterId="solo", FinalSnapshotIdentifier="solo-last")
    ec.delete_replication_group(ReplicationGroupId="grp", FinalSnapshotIdentifier="grp-last")
    wait_snapshot(ec, "solo-last")
    wait_snapshot(ec, "grp-last")
    wait_absent(lambda: describe(ec, "solo")["CacheClusterStatus"], "CacheClusterNotFound", "solo")
    wait_absent(lambda: ec.describe_replication_groups(ReplicationGroupId="grp")[
        "ReplicationGroups"][0]["Status"], "ReplicationGroupNotFoundFault", "grp")
    # The snapshots outlive their sources and still name them.
    assert [s["SnapshotName"] for s in ec.describe_snapshots(CacheClusterId="solo")[
        "Snapshots"]] == ["solo-last", "taken"]
    assert describe_snapshot(ec, "grp-last")["ReplicationGroupId"] == "grp"

    ec.create_cache_cluster(CacheClusterId="back", Engine="redis",
                            CacheNodeType="cache.t4g.micro", SnapshotName="solo-last")
    create_group(ec, "grp2", members=2, SnapshotName="grp-last")
    ep = wait_status(ec, "back", timeout=90)["CacheNodes"][0]["Endpoint"]
    assert keys_and_ttls(rconn((ep["Address"], ep["Port"])))[0] == data
    g2 = wait_group(ec, "grp2", timeout=90)
    assert keys_and_ttls(rconn(primary_endpoint(g2)))[0] == gdata
