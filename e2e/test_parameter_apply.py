"""Changes to a parameter group in use reach the running caches (boto3 + redis-py):
dynamic parameters at once on every node of a 3-node replication group, static
ones shown as pending-reboot until RebootCacheCluster, invalid values refused with
everything left as it was, and caches switched to another group."""

from __future__ import annotations

import botocore.exceptions
import pytest
import redis

from harness import describe, error_code, node_endpoints, wait_status, wait_until

pytestmark = pytest.mark.larder_args("--allow-restricted-commands")


def refused(call, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value


def config_get(addr, name: str) -> str:
    r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=5)
    try:
        return r.config_get(name)[name]
    finally:
        r.close()


def new_group(ec, name: str, **values: str) -> None:
    ec.create_cache_parameter_group(CacheParameterGroupName=name, CacheParameterGroupFamily="redis7",
                                    Description="apply tests")
    if values:
        set_values(ec, name, **values)


def set_values(ec, name: str, **values: str) -> None:
    ec.modify_cache_parameter_group(CacheParameterGroupName=name, ParameterNameValues=[
        {"ParameterName": k.replace("_", "-"), "ParameterValue": v} for k, v in values.items()])


def three_node_group(ec, rg: str, parameter_group: str) -> list[str]:
    ec.create_replication_group(ReplicationGroupId=rg, ReplicationGroupDescription="d", Engine="redis",
                                CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                CacheParameterGroupName=parameter_group)
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]["Status"]
               == "available", timeout=120, what=f"{rg} available")
    return ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]["MemberClusters"]


def apply_status(ec, member: str) -> dict:
    return describe(ec, member)["CacheParameterGroup"]


def wait_apply(ec, members: list[str], status: str, timeout: float = 30) -> None:
    wait_until(lambda: all(apply_status(ec, m)["ParameterApplyStatus"] == status for m in members),
               timeout=timeout, what=f"{members} {status}")


def node_of(ec, member: str):
    return node_endpoints(describe(ec, member))["0001"]


def test_a_dynamic_change_reaches_every_node_of_a_replication_group(ec):
    new_group(ec, "live")
    members = three_node_group(ec, "rg", "live")
    nodes = [node_of(ec, m) for m in members]
    assert [config_get(a, "maxmemory-policy") for a in nodes] == ["volatile-lru"] * 3
    assert all(apply_status(ec, m)["ParameterApplyStatus"] == "in-sync" for m in members)

    set_values(ec, "live", maxmemory_policy="allkeys-lru", timeout="300")
    wait_apply(ec, members, "in-sync")
    assert [config_get(a, "maxmemory-policy") for a in nodes] == ["allkeys-lru"] * 3
    assert [config_get(a, "timeout") for a in nodes] == ["300"] * 3
    # reserved-memory-percent moves maxmemory live: half of the type's 0.5 GiB.
    set_values(ec, "live", reserved_memory_percent="50")
    wait_apply(ec, members, "in-sync")
    assert [config_get(a, "maxmemory") for a in nodes] == [str(536870912 // 2)] * 3

    ec.reset_cache_parameter_group(CacheParameterGroupName="live", ResetAllParameters=True)
    wait_apply(ec, members, "in-sync")
    assert [config_get(a, "maxmemory-policy") for a in nodes] == ["volatile-lru"] * 3
    assert [config_get(a, "timeout") for a in nodes] == ["0"] * 3
    assert [config_get(a, "maxmemory") for a in nodes] == [str(536870912 * 3 // 4)] * 3
    e = refused(ec.delete_cache_parameter_group, CacheParameterGroupName="live")
    assert error_code(e) == "InvalidCacheParameterGroupState"


def test_a_static_change_is_pending_reboot_until_the_node_restarts(ec):
    new_group(ec, "static")
    members = three_node_group(ec, "rg", "static")
    primary = ec.describe_replication_groups(ReplicationGroupId="rg")["ReplicationGroups"][0][
        "NodeGroups"][0]["NodeGroupMembers"]
    primary = next(m["CacheClusterId"] for m in primary if m["CurrentRole"] == "primary")
    replicas = [m for m in members if m != primary]

    set_values(ec, "static", databases="32")
    wait_apply(ec, members, "pending-reboot")
    for m in members:
        assert apply_status(ec, m)["CacheNodeIdsToReboot"] == ["0001"], m
        assert config_get(node_of(ec, m), "databases") == "16", m

    for m in replicas:
        ec.reboot_cache_cluster(CacheClusterId=m, CacheNodeIdsToReboot=["0001"])
    wait_apply(ec, replicas, "in-sync", timeout=60)
    for m in replicas:
        wait_status(ec, m)
        assert config_get(node_of(ec, m), "databases") == "32", m
        assert apply_status(ec, m)["CacheNodeIdsToReboot"] == [], m
    assert apply_status(ec, primary)["ParameterApplyStatus"] == "pending-reboot"
    assert config_get(node_of(ec, primary), "databases") == "16"

    # Rebooting the primary switches the primary away first (a restarted primary
    # would come back empty), then reboots it as a replica: no data lost.
    def group():
        return ec.describe_replication_groups(ReplicationGroupId="rg")["ReplicationGroups"][0]

    ep = group()["NodeGroups"][0]["PrimaryEndpoint"]
    redis.Redis(host=ep["Address"], port=ep["Port"]).set("kept", "yes")
    ec.reboot_cache_cluster(CacheClusterId=primary, CacheNodeIdsToReboot=["0001"])
    wait_apply(ec, [primary], "in-sync", timeout=60)
    wait_until(lambda: group()["Status"] == "available", timeout=60, what="the group after the reboot")
    roles = {m["CacheClusterId"]: m["CurrentRole"] for m in group()["NodeGroups"][0]["NodeGroupMembers"]}
    assert roles[primary] == "replica", roles
    assert config_get(node_of(ec, primary), "databases") == "32"
    assert redis.Redis(host=ep["Address"], port=ep["Port"]).get("kept") == b"yes"


def test_invalid_values_for_a_group_in_use_change_nothing(ec):
    new_group(ec, "steady", timeout="60")
    members = three_node_group(ec, "rg", "steady")
    before = ec.describe_cache_parameters(CacheParameterGroupName="steady", Source="user")["Parameters"]
    samples = [config_get(node_of(ec, m), "maxmemory-samples") for m in members]
    cases = [("maxmemory-policy", "sometimes", "InvalidParameterValue"),
             ("timeout", "-1", "InvalidParameterValue"),
             ("port", "7000", "InvalidParameterValue"),
             ("no-such-parameter", "1", "InvalidParameterValue"),
             ("reserved-memory", "1000", "InvalidParameterCombination"),
             ("cluster-enabled", "yes", "InvalidParameterCombination")]
    for name, value, code in cases:
        e = refused(ec.modify_cache_parameter_group, CacheParameterGroupName="steady",
                    ParameterNameValues=[{"ParameterName": "maxmemory-samples", "ParameterValue": "10"},
                                         {"ParameterName": name, "ParameterValue": value}])
        assert error_code(e) == code, (name, e)
    assert ec.describe_cache_parameters(CacheParameterGroupName="steady", Source="user")["Parameters"] == before
    for m in members:
        assert apply_status(ec, m)["ParameterApplyStatus"] == "in-sync", m
        assert config_get(node_of(ec, m), "maxmemory-policy") == "volatile-lru", m
        assert config_get(node_of(ec, m), "timeout") == "60", m
    assert [config_get(node_of(ec, m), "maxmemory-samples") for m in members] == samples


def test_caches_switch_groups_within_their_family(ec):
    new_group(ec, "first", timeout="42")
    new_group(ec, "second", timeout="43", maxmemory_policy="allkeys-lfu")
    ec.create_cache_parameter_group(CacheParameterGroupName="mc", CacheParameterGroupFamily="memcached1.6",
                                    Description="d")
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    solo = node_endpoints(wait_status(ec, "solo"))["0001"]
    assert config_get(solo, "timeout") == "0"

    for group, code in [("mc", "InvalidParameterCombination"),
                        ("default.memcached1.6", "InvalidParameterCombination"),
                        ("default.redis7.cluster.on", "InvalidParameterCombination"),
                        ("missing", "CacheParameterGroupNotFound")]:
        e = refused(ec.modify_cache_cluster, CacheClusterId="solo", CacheParameterGroupName=group,
                    ApplyImmediately=True)
        assert error_code(e) == code, (group, e)
    assert apply_status(ec, "solo")["CacheParameterGroupName"] == "default.redis7"

    ec.modify_cache_cluster(CacheClusterId="solo", CacheParameterGroupName="first", ApplyImmediately=True)
    wait_apply(ec, ["solo"], "in-sync")
    assert apply_status(ec, "solo")["CacheParameterGroupName"] == "first"
    assert config_get(solo, "timeout") == "42"

    members = three_node_group(ec, "rg", "first")
    ec.modify_replication_group(ReplicationGroupId="rg", CacheParameterGroupName="second", ApplyImmediately=True)
    wait_apply(ec, members, "in-sync")
    for m in members:
        assert apply_status(ec, m)["CacheParameterGroupName"] == "second", m
        assert config_get(node_of(ec, m), "timeout") == "43", m
        assert config_get(node_of(ec, m), "maxmemory-policy") == "allkeys-lfu", m
    # Back to the default: its values again, and the group it left is free to delete.
    ec.modify_replication_group(ReplicationGroupId="rg", CacheParameterGroupName="default.redis7",
                                ApplyImmediately=True)
    wait_apply(ec, members, "in-sync")
    assert [config_get(node_of(ec, m), "timeout") for m in members] == ["0"] * 3
    ec.delete_cache_parameter_group(CacheParameterGroupName="second")
