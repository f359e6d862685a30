"""The host-level node quota (--max-nodes): every operation that adds nodes answers
NodeQuotaForCustomerExceeded past it and changes nothing."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness import describe_all, wait_status


def code_of(call, **kw) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value.response["Error"]["Code"]


@pytest.mark.larder_args("--max-nodes", "3")
def test_node_quota_for_the_host(larder, ec):
    ec.create_cache_cluster(CacheClusterId="first", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    wait_status(ec, "first")
    before = describe_all(ec)

    assert code_of(ec.create_cache_cluster, CacheClusterId="second", Engine="memcached",
                   CacheNodeType="cache.t4g.micro", NumCacheNodes=2) == "NodeQuotaForCustomerExceeded"
    assert code_of(ec.modify_cache_cluster, CacheClusterId="first", NumCacheNodes=4,
                   ApplyImmediately=True) == "NodeQuotaForCustomerExceeded"
    assert code_of(ec.create_replication_group, ReplicationGroupId="rg", ReplicationGroupDescription="d",
                   Engine="redis", CacheNodeType="cache.t4g.micro",
                   NumCacheClusters=2) == "NodeQuotaForCustomerExceeded"
    assert describe_all(ec) == before
    assert ec.describe_replication_groups()["ReplicationGroups"] == []

    # One more node still fits.
    ec.create_cache_cluster(CacheClusterId="third", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    wait_status(ec, "third")
