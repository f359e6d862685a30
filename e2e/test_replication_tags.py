"""Tags on replication groups: given at create, changed later, gone with the group."""

from __future__ import annotations

import botocore.exceptions
import pytest

from test_replication_groups import create_group, wait_group, wait_group_gone


def test_group_tags(larder, ec):
    create_group(ec, "tagged", 2, failover=False, Tags=[{"Key": "team", "Value": "cart"}])
    g = wait_group(ec, "tagged", timeout=60)
    arn = g["ARN"]
    assert arn == "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:tagged"
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "team", "Value": "cart"}]
    ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "dev"}])
    keys = {t["Key"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}
    assert keys == {"team", "env"}
    ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ec.list_tags_for_resource(ResourceName=arn.replace(":tagged", ":missing"))
    assert info.value.response["Error"]["Code"] == "ReplicationGroupNotFoundFault"

    ec.delete_replication_group(ReplicationGroupId="tagged")
    wait_group_gone(ec, "tagged")
    # Re-creating the same id starts with no tags: they went with the group.
    create_group(ec, "tagged", 1, failover=False)
    wait_group(ec, "tagged", timeout=60)
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == []


def test_describe_can_leave_out_group_members(larder, ec):
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1)
    create_group(ec, "pair", 2, failover=False)
    wait_group(ec, "pair", timeout=60)
    everything = {c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]}
    assert everything == {"solo", "pair-001", "pair-002"}
    standalone = ec.describe_cache_clusters(ShowCacheClustersNotInReplicationGroups=True)["CacheClusters"]
    assert [c["CacheClusterId"] for c in standalone] == ["solo"]
