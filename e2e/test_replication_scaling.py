"""Online vertical scaling of a replication group: every member gets the new node
type's memory limit while it keeps serving and keeps its data."""

from __future__ import annotations

import time

from harness import maintenance_window, wait_until
from test_redis_cluster import expected_maxmemory
from test_replication_groups import (
    create_group,
    describe_group,
    group_events,
    member_addr,
    primary_endpoint,
    rconn,
    redis_server_pids,
    wait_group,
    wait_roles_agree,
    write_keys,
)


def test_modify_node_type_keeps_data_and_processes(larder, ec):
    create_group(ec, "big", 3)
    g = wait_roles_agree(ec, "big", timeout=60)
    data = write_keys(primary_endpoint(g), 500)
    pids = redis_server_pids(larder)
    for cid in g["MemberClusters"]:
        assert int(rconn(member_addr(g, cid)).info("memory")["maxmemory"]) == \
            expected_maxmemory("cache.t4g.micro")

    allowed = ec.list_allowed_node_type_modifications(ReplicationGroupId="big")
    assert "cache.t4g.small" in allowed["ScaleUpModifications"]
    assert "cache.t4g.micro" not in allowed["ScaleUpModifications"] + allowed["ScaleDownModifications"]
    try:
        ec.list_allowed_node_type_modifications(ReplicationGroupId="nope")
        raise AssertionError("unknown group accepted")
    except ec.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ReplicationGroupNotFoundFault"

    resp = ec.modify_replication_group(ReplicationGroupId="big", CacheNodeType="cache.t4g.small",
                                       ApplyImmediately=True)
    assert resp["ReplicationGroup"]["Status"] == "modifying"
    g = wait_group(ec, "big", timeout=60)
    assert g["CacheNodeType"] == "cache.t4g.small"
    for cid in g["MemberClusters"]:
        r = rconn(member_addr(g, cid))
        assert int(r.info("memory")["maxmemory"]) == expected_maxmemory("cache.t4g.small")
        assert r.mget(list(data)) == list(data.values()), f"data lost on {cid}"
        (c,) = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"]
        assert c["CacheNodeType"] == "cache.t4g.small" and c["CacheClusterStatus"] == "available"
    # Scaled in place: the same engine processes, nothing restarted.
    assert redis_server_pids(larder) == pids
    assert any("cache.t4g.small" in m for m in group_events(ec, "big"))
    # An unknown node type is refused and changes nothing.
    try:
        ec.modify_replication_group(ReplicationGroupId="big", CacheNodeType="cache.x9.huge",
                                    ApplyImmediately=True)
        raise AssertionError("unknown node type accepted")
    except ec.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterValue"
    assert describe_group(ec, "big")["CacheNodeType"] == "cache.t4g.small"


def test_node_type_change_waits_for_the_maintenance_window(larder, ec):
    create_group(ec, "later", 2, PreferredMaintenanceWindow=maintenance_window(120))
    g = wait_roles_agree(ec, "later", timeout=60)
    ec.modify_replication_group(ReplicationGroupId="later", CacheNodeType="cache.t4g.small",
                                ApplyImmediately=False)
    time.sleep(1)
    g = describe_group(ec, "later")
    assert g["Status"] == "available" and g["CacheNodeType"] == "cache.t4g.micro"
    for cid in g["MemberClusters"]:
        (c,) = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"]
        assert c["PendingModifiedValues"].get("CacheNodeType") == "cache.t4g.small"
        assert int(rconn(member_addr(g, cid)).info("memory")["maxmemory"]) == \
            expected_maxmemory("cache.t4g.micro")

    # Once the window is open (the scheduler's clock moved two hours ahead), the group
    # applies it to every member by itself.
    larder.shift_clock(125 * 60)
    wait_until(lambda: describe_group(ec, "later")["CacheNodeType"] == "cache.t4g.small", 30,
               what="the pending node type applied in the window")
    g = wait_group(ec, "later", timeout=60)
    for cid in g["MemberClusters"]:
        (c,) = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"]
        assert not c["PendingModifiedValues"].get("CacheNodeType")
        assert int(rconn(member_addr(g, cid)).info("memory")["maxmemory"]) == \
            expected_maxmemory("cache.t4g.small")


def test_a_scale_down_the_data_does_not_fit_is_refused_and_keeps_every_key(larder, ec):
    """With reserved-memory-percent 99 a cache.t4g.micro node may hold ~5 MB and a
    cache.t4g.small ~14 MB: 8 MB of data makes small -> micro a scale down that would
    evict. ElastiCache fails it with an event and keeps the node type; so must we,
    with every member's limit and every key as before."""
    ec.create_cache_parameter_group(CacheParameterGroupName="tight", CacheParameterGroupFamily="redis7",
                                    Description="little room for data")
    ec.modify_cache_parameter_group(CacheParameterGroupName="tight", ParameterNameValues=[
        {"ParameterName": "reserved-memory-percent", "ParameterValue": "99"}])
    create_group(ec, "shrink", 2, CacheNodeType="cache.t4g.small", CacheParameterGroupName="tight")
    g = wait_roles_agree(ec, "shrink", timeout=60)
    r = rconn(primary_endpoint(g))
    value = "x" * 10_000
    pipe = r.pipeline(transaction=False)
    for i in range(800):
        pipe.set(f"big:{i}", value)
    assert all(pipe.execute())
    limits = {cid: int(rconn(member_addr(g, cid)).info("memory")["maxmemory"]) for cid in g["MemberClusters"]}
    assert int(r.info("memory")["used_memory"]) > 8_000_000

    ec.modify_replication_group(ReplicationGroupId="shrink", CacheNodeType="cache.t4g.micro",
                                ApplyImmediately=True)
    wait_until(lambda: any("Failed to scale down" in m for m in group_events(ec, "shrink")), 30,
               what="the refused scale down's event")
    g = wait_group(ec, "shrink", timeout=60)
    assert g["CacheNodeType"] == "cache.t4g.small"
    for cid in g["MemberClusters"]:
        (c,) = ec.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"]
        assert c["CacheNodeType"] == "cache.t4g.small", c
        assert int(rconn(member_addr(g, cid)).info("memory")["maxmemory"]) == limits[cid], cid
    assert r.dbsize() == 800 and r.get("big:799") == value
