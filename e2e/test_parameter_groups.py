"""Cache parameter groups through boto3: the read-only defaults of every installed
family, custom groups created, changed, reset and deleted, and the refusals a user
of ElastiCache would get, each leaving everything as it was."""

from __future__ import annotations

import botocore.exceptions
import pytest
import redis

from harness import describe, error_code, node_endpoints, wait_gone, wait_status, wait_until


def refused(call, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value


def all_parameters(ec, name: str, **kw) -> list[dict]:
    pages = ec.get_paginator("describe_cache_parameters").paginate(CacheParameterGroupName=name, **kw)
    return [p for page in pages for p in page["Parameters"]]


def by_name(params: list[dict]) -> dict[str, dict]:
    return {p["ParameterName"]: p for p in params}


def installed_families(ec) -> set[str]:
    return {v["CacheParameterGroupFamily"] for v in ec.describe_cache_engine_versions()["CacheEngineVersions"]}


def test_default_groups_exist_for_every_installed_family(ec):
    families = installed_families(ec)
    assert {"redis7", "memcached1.6"} <= families
    groups = {g["CacheParameterGroupName"]: g
              for page in ec.get_paginator("describe_cache_parameter_groups").paginate()
              for g in page["CacheParameterGroups"]}
    expected = {f"default.{f}" for f in families}
    expected |= {f"default.{f}.cluster.on" for f in families if not f.startswith("memcached")}
    assert set(groups) == expected
    assert "default.redis6.x" in groups or "redis6.x" not in families
    g = groups["default.redis7.cluster.on"]
    assert g["CacheParameterGroupFamily"] == "redis7" and g["IsGlobal"] is False
    assert g["ARN"].endswith(":parametergroup:default.redis7.cluster.on")

    one = ec.describe_cache_parameter_groups(CacheParameterGroupName="default.memcached1.6")
    assert [x["CacheParameterGroupName"] for x in one["CacheParameterGroups"]] == ["default.memcached1.6"]
    assert error_code(refused(ec.describe_cache_parameter_groups,
                              CacheParameterGroupName="no-such-group")) == "CacheParameterGroupNotFound"


def test_default_parameters_carry_elasticache_defaults_types_and_sources(ec):
    params = all_parameters(ec, "default.redis7")
    p = by_name(params)
    assert p["maxmemory-policy"]["ParameterValue"] == "volatile-lru"
    assert "allkeys-lru" in p["maxmemory-policy"]["AllowedValues"].split(",")
    assert p["maxmemory-policy"]["ChangeType"] == "immediate"
    assert p["reserved-memory-percent"]["ParameterValue"] == "25"
    assert p["reserved-memory-percent"]["DataType"] == "integer"
    assert p["reserved-memory-percent"]["AllowedValues"] == "0-100"
    assert p["cluster-enabled"]["ParameterValue"] == "no"
    assert p["cluster-enabled"]["ChangeType"] == "requires-reboot"
    for fixed in ("bind", "port", "dir", "requirepass", "replicaof"):
        assert p[fixed]["IsModifiable"] is False and p[fixed]["Source"] == "system", fixed
    assert all(x["MinimumEngineVersion"] and x["Description"] for x in params)
    on = by_name(all_parameters(ec, "default.redis7.cluster.on"))
    assert on["cluster-enabled"]["ParameterValue"] == "yes"

    # Pagination: pages of 20 add up to the whole list, in the same order.
    first = ec.describe_cache_parameters(CacheParameterGroupName="default.redis7", MaxRecords=20)
    assert len(first["Parameters"]) == 20 and "Marker" in first
    assert [x["ParameterName"] for x in params][:20] == [x["ParameterName"] for x in first["Parameters"]]

    system = all_parameters(ec, "default.redis7", Source="system")
    assert system and all(x["Source"] == "system" for x in system)
    assert "bind" in by_name(system) and "maxmemory-policy" not in by_name(system)
    assert all_parameters(ec, "default.redis7", Source="user") == []

    engine = ec.describe_engine_default_parameters(CacheParameterGroupFamily="memcached1.6")["EngineDefaults"]
    assert engine["CacheParameterGroupFamily"] == "memcached1.6"
    mc = by_name(engine["Parameters"])
    assert mc["max_item_size"]["ParameterValue"] == "1048576"
    assert mc["max_item_size"]["ChangeType"] == "requires-reboot"
    assert error_code(refused(ec.describe_engine_default_parameters,
                              CacheParameterGroupFamily="redis99")) == "InvalidParameterValue"


def test_custom_group_lifecycle(ec):
    g = ec.create_cache_parameter_group(CacheParameterGroupName="My-Params", CacheParameterGroupFamily="redis7",
                                        Description="for tests",
                                        Tags=[{"Key": "team", "Value": "cache"}])["CacheParameterGroup"]
    assert g["CacheParameterGroupName"] == "my-params" and g["Description"] == "for tests"
    assert ec.list_tags_for_resource(ResourceName=g["ARN"])["TagList"] == [{"Key": "team", "Value": "cache"}]
    assert all_parameters(ec, "my-params", Source="user") == []

    ec.modify_cache_parameter_group(CacheParameterGroupName="my-params", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
        {"ParameterName": "timeout", "ParameterValue": "300"},
        {"ParameterName": "databases", "ParameterValue": "32"},
    ])
    user = by_name(all_parameters(ec, "my-params", Source="user"))
    assert {k: v["ParameterValue"] for k, v in user.items()} == \
        {"maxmemory-policy": "allkeys-lru", "timeout": "300", "databases": "32"}
    # The default group is untouched.
    assert by_name(all_parameters(ec, "default.redis7"))["maxmemory-policy"]["ParameterValue"] == "volatile-lru"

    ec.reset_cache_parameter_group(CacheParameterGroupName="my-params",
                                   ParameterNameValues=[{"ParameterName": "timeout"}])
    assert set(by_name(all_parameters(ec, "my-params", Source="user"))) == {"maxmemory-policy", "databases"}
    ec.reset_cache_parameter_group(CacheParameterGroupName="my-params", ResetAllParameters=True)
    assert all_parameters(ec, "my-params", Source="user") == []
    assert by_name(all_parameters(ec, "my-params"))["timeout"]["Source"] == "engine-default"

    listed = [x["CacheParameterGroupName"] for x in ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
    assert "my-params" in listed
    ec.delete_cache_parameter_group(CacheParameterGroupName="my-params")
    assert error_code(refused(ec.describe_cache_parameter_groups,
                              CacheParameterGroupName="my-params")) == "CacheParameterGroupNotFound"
    assert error_code(refused(ec.delete_cache_parameter_group,
                              CacheParameterGroupName="my-params")) == "CacheParameterGroupNotFound"
    assert error_code(refused(ec.list_tags_for_resource, ResourceName=g["ARN"])) == "CacheParameterGroupNotFound"


def test_refusals_change_nothing(ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="pg", CacheParameterGroupFamily="redis7",
                                    Description="d")
    ec.modify_cache_parameter_group(CacheParameterGroupName="pg", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"}])

    def state():
        return (all_parameters(ec, "pg"), all_parameters(ec, "default.redis7"),
                ec.describe_cache_parameter_groups()["CacheParameterGroups"])

    before = state()
    modify = ec.modify_cache_parameter_group
    cases = [
        (ec.create_cache_parameter_group, dict(CacheParameterGroupName="pg", CacheParameterGroupFamily="redis7",
                                              Description="d"), "CacheParameterGroupAlreadyExists"),
        (ec.create_cache_parameter_group, dict(CacheParameterGroupName="other", CacheParameterGroupFamily="redis99",
                                              Description="d"), "InvalidParameterValue"),
        (ec.create_cache_parameter_group, dict(CacheParameterGroupName="other", CacheParameterGroupFamily="redis7",
                                              Description="d" * 256), "InvalidParameterValue"),
        (ec.create_cache_parameter_group, dict(CacheParameterGroupName="default.mine",
                                              CacheParameterGroupFamily="redis7", Description="d"),
         "InvalidParameterValue"),
        # One bad entry among good ones: nothing is applied.
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "60"},
            {"ParameterName": "maxmemory-policy", "ParameterValue": "sometimes"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "soon"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "reserved-memory-percent", "ParameterValue": "101"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "port", "ParameterValue": "7000"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "no-such-parameter", "ParameterValue": "1"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": str(i)} for i in range(21)]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="pg", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "1"},
            {"ParameterName": "timeout", "ParameterValue": "2"}]), "InvalidParameterCombination"),
        (modify, dict(CacheParameterGroupName="default.redis7", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "60"}]), "InvalidParameterValue"),
        (modify, dict(CacheParameterGroupName="nope", ParameterNameValues=[
            {"ParameterName": "timeout", "ParameterValue": "60"}]), "CacheParameterGroupNotFound"),
        (ec.reset_cache_parameter_group, dict(CacheParameterGroupName="default.redis7", ResetAllParameters=True),
         "InvalidParameterValue"),
        (ec.reset_cache_parameter_group, dict(CacheParameterGroupName="pg"), "InvalidParameterCombination"),
        (ec.reset_cache_parameter_group, dict(CacheParameterGroupName="pg", ResetAllParameters=True,
                                             ParameterNameValues=[{"ParameterName": "timeout"}]),
         "InvalidParameterCombination"),
        (ec.delete_cache_parameter_group, dict(CacheParameterGroupName="default.redis7"), "InvalidParameterValue"),
        (ec.describe_cache_parameters, dict(CacheParameterGroupName="pg", Source="nobody"), "InvalidParameterValue"),
    ]
    failures = []
    for call, kw, code in cases:
        got = error_code(refused(call, **kw))
        if got != code:
            failures.append((call.__name__, kw, got, code))
    assert failures == []
    assert state() == before


def test_quota_of_150_custom_groups(ec):
    for i in range(150):
        ec.create_cache_parameter_group(CacheParameterGroupName=f"g{i}", CacheParameterGroupFamily="memcached1.6",
                                        Description="d")
    e = refused(ec.create_cache_parameter_group, CacheParameterGroupName="one-more",
                CacheParameterGroupFamily="memcached1.6", Description="d")
    assert error_code(e) == "CacheParameterGroupQuotaExceeded"
    names = [g["CacheParameterGroupName"]
             for page in ec.get_paginator("describe_cache_parameter_groups").paginate(PaginationConfig={"PageSize": 20})
             for g in page["CacheParameterGroups"]]
    assert len([n for n in names if not n.startswith("default.")]) == 150
    assert "one-more" not in names


def test_caches_refuse_groups_larder_would_not_apply(ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="mc-custom", CacheParameterGroupFamily="memcached1.6",
                                    Description="d")
    ec.create_cache_parameter_group(CacheParameterGroupName="unapplied", CacheParameterGroupFamily="redis7",
                                    Description="d")
    ec.modify_cache_parameter_group(CacheParameterGroupName="unapplied", ParameterNameValues=[
        {"ParameterName": "close-on-replica-write", "ParameterValue": "no"}])
    ec.create_cache_parameter_group(CacheParameterGroupName="clustered", CacheParameterGroupFamily="redis7",
                                    Description="d")
    ec.modify_cache_parameter_group(CacheParameterGroupName="clustered", ParameterNameValues=[
        {"ParameterName": "cluster-enabled", "ParameterValue": "yes"}])
    redis = dict(Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    memcached = dict(Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    cases = [(redis, "unapplied", "InvalidParameterCombination"),
             (redis, "clustered", "InvalidParameterCombination"),
             (redis, "default.redis7.cluster.on", "InvalidParameterCombination"),
             (redis, "default.memcached1.6", "InvalidParameterCombination"),
             (redis, "mc-custom", "InvalidParameterCombination"),
             (redis, "missing", "CacheParameterGroupNotFound"),
             (memcached, "mc-custom", "InvalidParameterCombination"),
             (memcached, "default.redis7", "InvalidParameterCombination")]
    for base, group, code in cases:
        e = refused(ec.create_cache_cluster, CacheClusterId="c1", CacheParameterGroupName=group, **base)
        assert error_code(e) == code, (group, e)
        if base is redis:
            e = refused(ec.create_replication_group, ReplicationGroupId="rg1", ReplicationGroupDescription="d",
                        Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheClusters=1,
                        CacheParameterGroupName=group)
            assert error_code(e) == code, (group, e)
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    assert ec.describe_replication_groups()["ReplicationGroups"] == []


def config_get(addr, name: str) -> str:
    r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=5)
    try:
        return r.config_get(name)[name]
    finally:
        r.close()


def run_id(addr) -> str | None:
    try:
        r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=2)
        try:
            return r.info("server")["run_id"]
        finally:
            r.close()
    except redis.RedisError:
        return None


@pytest.mark.larder_args("--allow-restricted-commands")
def test_nodes_start_with_their_custom_group_values(ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="tuned", CacheParameterGroupFamily="redis7",
                                    Description="d")
    ec.modify_cache_parameter_group(CacheParameterGroupName="tuned", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"},
        {"ParameterName": "timeout", "ParameterValue": "123"},
        {"ParameterName": "notify-keyspace-events", "ParameterValue": "KEA"},
        {"ParameterName": "reserved-memory-percent", "ParameterValue": "50"},
    ])
    ec.create_cache_cluster(CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1, CacheParameterGroupName="tuned")
    ec.create_replication_group(ReplicationGroupId="rg1", ReplicationGroupDescription="d", Engine="redis",
                                CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
                                CacheParameterGroupName="Tuned")
    c = wait_status(ec, "c1")
    assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "tuned"
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId="rg1")["ReplicationGroups"][0]["Status"]
               == "available", timeout=90, what="rg1 available")
    members = ec.describe_replication_groups(ReplicationGroupId="rg1")["ReplicationGroups"][0]["MemberClusters"]
    nodes = [node_endpoints(wait_status(ec, m))["0001"] for m in ["c1", *members]]
    assert len(nodes) == 3
    half = 536870912 // 2
    for addr in nodes:
        assert config_get(addr, "maxmemory-policy") == "allkeys-lfu", addr
        assert config_get(addr, "timeout") == "123", addr
        assert set(config_get(addr, "notify-keyspace-events")) == set("AKE"), addr
        assert config_get(addr, "maxmemory") == str(half), addr
    # A default group leaves redis with ElastiCache's defaults.
    ec.create_cache_cluster(CacheClusterId="plain", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    plain = node_endpoints(wait_status(ec, "plain"))["0001"]
    assert config_get(plain, "maxmemory-policy") == "volatile-lru"
    assert config_get(plain, "timeout") == "0"

    # In use: deletion is refused (changes reach the running nodes: test_parameter_apply.py).
    before = all_parameters(ec, "tuned")
    e = refused(ec.delete_cache_parameter_group, CacheParameterGroupName="tuned")
    assert error_code(e) == "InvalidCacheParameterGroupState"
    assert all_parameters(ec, "tuned") == before
    assert describe(ec, "plain")["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"

    # A rebooted node comes back with the group's values.
    first_run = run_id(nodes[0])
    ec.reboot_cache_cluster(CacheClusterId="c1", CacheNodeIdsToReboot=["0001"])
    wait_until(lambda: run_id(nodes[0]) not in (None, first_run), timeout=60, what="c1's node restarted")
    wait_status(ec, "c1", timeout=60)
    assert config_get(nodes[0], "timeout") == "123"

    ec.delete_cache_cluster(CacheClusterId="c1")
    ec.delete_replication_group(ReplicationGroupId="rg1")
    wait_gone(ec, "c1")
    for m in members:
        wait_gone(ec, m)
    ec.delete_cache_parameter_group(CacheParameterGroupName="tuned")


@pytest.mark.larder_args("--allow-restricted-commands")
def test_groups_survive_a_restart_and_a_grown_group_keeps_its_primarys(larder, ec):
    ec.create_cache_parameter_group(CacheParameterGroupName="kept", CacheParameterGroupFamily="redis7",
                                    Description="kept across restarts")
    ec.modify_cache_parameter_group(CacheParameterGroupName="kept", ParameterNameValues=[
        {"ParameterName": "timeout", "ParameterValue": "77"}])
    ec.create_cache_cluster(CacheClusterId="seed", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1, CacheParameterGroupName="kept")
    wait_status(ec, "seed")

    larder.restart(extra_args=["--allow-restricted-commands"])
    user = by_name(all_parameters(ec, "kept", Source="user"))
    assert {k: v["ParameterValue"] for k, v in user.items()} == {"timeout": "77"}
    assert ec.describe_cache_parameter_groups(CacheParameterGroupName="kept")["CacheParameterGroups"][0][
        "Description"] == "kept across restarts"

    e = refused(ec.create_replication_group, ReplicationGroupId="grown", ReplicationGroupDescription="d",
                PrimaryClusterId="seed", NumCacheClusters=2, CacheParameterGroupName="default.redis7")
    assert error_code(e) == "InvalidParameterCombination"
    ec.create_replication_group(ReplicationGroupId="grown", ReplicationGroupDescription="d",
                                PrimaryClusterId="seed", NumCacheClusters=2)
    wait_until(lambda: ec.describe_replication_groups(ReplicationGroupId="grown")["ReplicationGroups"][0]["Status"]
               == "available", timeout=90, what="grown available")
    members = ec.describe_replication_groups(ReplicationGroupId="grown")["ReplicationGroups"][0]["MemberClusters"]
    assert len(members) == 2
    for m in members:
        c = wait_status(ec, m)
        assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "kept", m
        assert config_get(node_endpoints(c)["0001"], "timeout") == "77", m


@pytest.mark.larder_args("--allow-restricted-commands")
def test_a_default_group_node_runs_every_value_describe_reports(ec):
    """Every modifiable engine parameter DescribeCacheParameters reports for
    default.redis7 is what a node of that group answers to CONFIG GET: ElastiCache's
    defaults where they differ from redis' own (maxmemory-samples 3, not 5) are
    written into the node, and nothing is listed that the binary does not have."""
    ec.create_cache_cluster(CacheClusterId="dflt", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    c = wait_status(ec, "dflt", "available", timeout=60)
    group = c["CacheParameterGroup"]["CacheParameterGroupName"]
    assert group == "default.redis7"
    (addr,) = node_endpoints(c).values()
    r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=5)
    engine = r.config_get("*")
    service_own = {"reserved-memory-percent", "reserved-memory", "cluster-enabled", "close-on-replica-write"}
    listed = [p for p in all_parameters(ec, group)
              if p["IsModifiable"] and p["ParameterName"] not in service_own
              and not p["ParameterName"].startswith("client-output-buffer-limit-")]
    assert len(listed) > 30
    unknown = [p["ParameterName"] for p in listed if p["ParameterName"] not in engine]
    assert not unknown, f"listed but not a parameter of the binary: {unknown}"
    differ = {p["ParameterName"]: (p.get("ParameterValue"), engine[p["ParameterName"]]) for p in listed
              if p.get("ParameterValue") is not None and p["ParameterValue"] != engine[p["ParameterName"]]}
    assert not differ, f"reported value != the node's: {differ}"
    assert engine["maxmemory-samples"] == "3"
