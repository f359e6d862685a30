"""Cache subnet groups through boto3 and the AWS CLI: the `default` group, custom
groups whose subnets stand for availability zones (configured with --subnets, or
derived from a well-formed id), placement kept inside a group's zones, and the
refusals ElastiCache answers, each leaving everything as it was."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness import describe, error_code, wait_status, wait_until

LAB = ["--subnets", "subnet-lab0a=us-east-1a,subnet-lab0b=us-east-1b,subnet-lab0c=us-east-1c"]


def refused(call, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value


def groups(ec) -> dict[str, dict]:
    pages = ec.get_paginator("describe_cache_subnet_groups").paginate()
    return {g["CacheSubnetGroupName"]: g for page in pages for g in page["CacheSubnetGroups"]}


def zones_of(g: dict) -> list[str]:
    return [s["SubnetAvailabilityZone"]["Name"] for s in g["Subnets"]]


def wait_group_available(ec, rg_id: str) -> None:
    def status():
        return ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]["Status"]
    wait_until(lambda: status() == "available", timeout=90, what=f"{rg_id} available")


def test_default_group_covers_every_zone(ec):
    all_groups = groups(ec)
    assert list(all_groups) == ["default"]
    d = all_groups["default"]
    assert zones_of(d) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["SubnetIdentifier"].startswith("subnet-") for s in d["Subnets"])
    assert d["VpcId"].startswith("vpc-") and d["ARN"].endswith(":subnetgroup:default")
    # The same ids every time: Terraform compares them between plans.
    assert groups(ec)["default"] == d


@pytest.mark.larder_args(*LAB)
def test_custom_group_lifecycle_with_configured_and_derived_subnets(ec, aws):
    g = ec.create_cache_subnet_group(
        CacheSubnetGroupName="App-Subnets", CacheSubnetGroupDescription="app",
        SubnetIds=["subnet-lab0b", "subnet-0123456789abcdef0"],
        Tags=[{"Key": "team", "Value": "cache"}])["CacheSubnetGroup"]
    assert g["CacheSubnetGroupName"] == "app-subnets"
    by_id = {s["SubnetIdentifier"]: s["SubnetAvailabilityZone"]["Name"] for s in g["Subnets"]}
    assert by_id["subnet-lab0b"] == "us-east-1b"
    derived = by_id["subnet-0123456789abcdef0"]
    assert derived in ("us-east-1a", "us-east-1b", "us-east-1c")
    # The derived mapping is reported where users look.
    events = ec.describe_events(SourceType="cache-subnet-group", Duration=60)["Events"]
    assert any("subnet-0123456789abcdef0" in e["Message"] and derived in e["Message"] for e in events), events

    assert ec.list_tags_for_resource(ResourceName=g["ARN"])["TagList"] == [{"Key": "team", "Value": "cache"}]
    cli = aws("describe-cache-subnet-groups", "--cache-subnet-group-name", "app-subnets")
    assert zones_of(cli["CacheSubnetGroups"][0]) == zones_of(g)

    m = ec.modify_cache_subnet_group(CacheSubnetGroupName="app-subnets", CacheSubnetGroupDescription="new",
                                     SubnetIds=["subnet-lab0c"])["CacheSubnetGroup"]
    assert m["CacheSubnetGroupDescription"] == "new" and zones_of(m) == ["us-east-1c"]
    assert zones_of(groups(ec)["app-subnets"]) == ["us-east-1c"]

    ec.delete_cache_subnet_group(CacheSubnetGroupName="app-subnets")
    assert list(groups(ec)) == ["default"]
    assert error_code(refused(ec.describe_cache_subnet_groups,
                              CacheSubnetGroupName="app-subnets")) == "CacheSubnetGroupNotFoundFault"


@pytest.mark.larder_args(*LAB)
def test_refusals_change_nothing(ec):
    ec.create_cache_subnet_group(CacheSubnetGroupName="g1", CacheSubnetGroupDescription="d",
                                 SubnetIds=["subnet-lab0a"])
    before = groups(ec)
    cases = [
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="g1", CacheSubnetGroupDescription="d",
                                            SubnetIds=["subnet-lab0b"]), "CacheSubnetGroupAlreadyExists"),
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="default", CacheSubnetGroupDescription="d",
                                            SubnetIds=["subnet-lab0b"]), "CacheSubnetGroupAlreadyExists"),
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="g2", CacheSubnetGroupDescription="d",
                                            SubnetIds=["not-a-subnet"]), "InvalidSubnet"),
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="g2", CacheSubnetGroupDescription="d",
                                            SubnetIds=[f"subnet-{i:08x}" for i in range(21)]),
         "CacheSubnetQuotaExceededFault"),
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="bad--name", CacheSubnetGroupDescription="d",
                                            SubnetIds=["subnet-lab0b"]), "InvalidParameterValue"),
        (ec.create_cache_subnet_group, dict(CacheSubnetGroupName="g2", CacheSubnetGroupDescription="x" * 256,
                                            SubnetIds=["subnet-lab0b"]), "InvalidParameterValue"),
        (ec.modify_cache_subnet_group, dict(CacheSubnetGroupName="g1", SubnetIds=["nope"]), "InvalidSubnet"),
        (ec.modify_cache_subnet_group, dict(CacheSubnetGroupName="nope", CacheSubnetGroupDescription="d"),
         "CacheSubnetGroupNotFoundFault"),
        (ec.modify_cache_subnet_group, dict(CacheSubnetGroupName="default", CacheSubnetGroupDescription="d"),
         "InvalidParameterValue"),
        (ec.delete_cache_subnet_group, dict(CacheSubnetGroupName="default"), "InvalidParameterValue"),
        (ec.delete_cache_subnet_group, dict(CacheSubnetGroupName="nope"), "CacheSubnetGroupNotFoundFault"),
        (ec.create_cache_cluster, dict(CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t4g.micro",
                                       NumCacheNodes=1, CacheSubnetGroupName="nope"),
         "CacheSubnetGroupNotFoundFault"),
        (ec.create_cache_cluster, dict(CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t4g.micro",
                                       NumCacheNodes=1, CacheSubnetGroupName="g1",
                                       PreferredAvailabilityZone="us-east-1c"), "InvalidParameterValue"),
    ]
    for call, kw, code in cases:
        assert error_code(refused(call, **kw)) == code, (call.__name__, kw)
    assert groups(ec) == before
    assert ec.describe_cache_clusters()["CacheClusters"] == []


@pytest.mark.larder_args(*LAB)
def test_a_subnet_group_steers_placement_and_cannot_go_while_used(ec):
    ec.create_cache_subnet_group(CacheSubnetGroupName="only-b", CacheSubnetGroupDescription="zone b",
                                 SubnetIds=["subnet-lab0b"])
    ec.create_replication_group(ReplicationGroupId="rg", ReplicationGroupDescription="d", Engine="redis",
                                CacheNodeType="cache.t4g.micro", NumCacheClusters=3,
                                CacheSubnetGroupName="only-b")
    ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=2, AZMode="cross-az", CacheSubnetGroupName="ONLY-B")
    for cid in ("rg-001", "rg-002", "rg-003", "mc"):
        wait_status(ec, cid, "available", timeout=90)
    for cid in ("rg-001", "rg-002", "rg-003", "mc"):
        c = describe(ec, cid)
        assert c["CacheSubnetGroupName"] == "only-b", cid
        assert {n["CustomerAvailabilityZone"] for n in c["CacheNodes"]} == {"us-east-1b"}, (cid, c["CacheNodes"])
    # Without a group, the same group shape spreads over the zones.
    ec.create_replication_group(ReplicationGroupId="spread", ReplicationGroupDescription="d", Engine="redis",
                                CacheNodeType="cache.t4g.micro", NumCacheClusters=3)
    for cid in ("spread-001", "spread-002", "spread-003"):
        wait_status(ec, cid, "available", timeout=90)
    assert len({describe(ec, c)["PreferredAvailabilityZone"] for c in ("spread-001", "spread-002", "spread-003")}) == 3

    # A replica added later stays in the group's zones too.
    wait_group_available(ec, "rg")
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=3, ApplyImmediately=True)
    wait_status(ec, "rg-004", "available", timeout=90)
    assert describe(ec, "rg-004")["PreferredAvailabilityZone"] == "us-east-1b"

    assert error_code(refused(ec.delete_cache_subnet_group, CacheSubnetGroupName="only-b")) == "CacheSubnetGroupInUse"
    # Moving the group's subnets away from where its nodes run is refused.
    assert error_code(refused(ec.modify_cache_subnet_group, CacheSubnetGroupName="only-b",
                              SubnetIds=["subnet-lab0a"])) == "SubnetInUse"
    assert zones_of(groups(ec)["only-b"]) == ["us-east-1b"]
    # Adding a subnet is fine.
    ec.modify_cache_subnet_group(CacheSubnetGroupName="only-b", SubnetIds=["subnet-lab0b", "subnet-lab0a"])

    wait_group_available(ec, "rg")
    ec.delete_replication_group(ReplicationGroupId="rg")
    ec.delete_cache_cluster(CacheClusterId="mc")

    def gone():
        ids = {c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]}
        return not ({"rg-001", "rg-002", "rg-003", "rg-004", "mc"} & ids)

    wait_until(gone, timeout=90, what="clusters of only-b deleted")
    ec.delete_cache_subnet_group(CacheSubnetGroupName="only-b")


@pytest.mark.larder_args(*LAB)
def test_groups_survive_a_restart(larder, ec):
    ec.create_cache_subnet_group(CacheSubnetGroupName="keep", CacheSubnetGroupDescription="d",
                                 SubnetIds=["subnet-lab0c", "subnet-89abcdef"])
    before = groups(ec)["keep"]
    larder.restart()
    assert groups(larder.client())["keep"] == before
