"""Settings Larder does not implement yet are refused, never echoed as if they worked.

Each not-yet-implemented parameter with a value that would ask for something answers
InvalidParameterCombination naming the parameter (or the NotFound code for a name
that does not exist) and changes nothing; the value that asks for nothing (`0`,
`false`, `ipv4`, the `default` subnet group) is accepted. Descriptions carry no
`active` notification topic, no `active` security group and no `in-sync` parameter
status, since none of those exist in Larder yet.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness import describe_all, error_code, wait_status
from test_replication_groups import create_group, wait_group

REDIS = dict(Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
GROUP = dict(ReplicationGroupDescription="d", Engine="redis", CacheNodeType="cache.t4g.micro",
             NumCacheClusters=1)

# (parameter, request keywords that ask for it, expected code)
REFUSED = [
    ("NotificationTopicArn", dict(NotificationTopicArn="arn:aws:sns:us-east-1:000000000000:t"),
     "InvalidParameterCombination"),
    ("SecurityGroupIds", dict(SecurityGroupIds=["sg-12345678"]), "InvalidParameterCombination"),
    ("CacheSubnetGroupName", dict(CacheSubnetGroupName="my-subnets"), "CacheSubnetGroupNotFoundFault"),
    ("TransitEncryptionEnabled", dict(TransitEncryptionEnabled=True), "InvalidParameterCombination"),
    ("NetworkType", dict(NetworkType="dual_stack"), "InvalidParameterCombination"),
    ("IpDiscovery", dict(IpDiscovery="ipv6"), "InvalidParameterCombination"),
    ("CacheParameterGroupName", dict(CacheParameterGroupName="my-params"), "CacheParameterGroupNotFound"),
]
GROUP_ONLY = [
    ("AtRestEncryptionEnabled", dict(AtRestEncryptionEnabled=True), "InvalidParameterCombination"),
    ("ClusterMode", dict(ClusterMode="enabled"), "InvalidParameterCombination"),
]
MODIFY_REFUSED = [
    ("NotificationTopicArn", dict(NotificationTopicArn="arn:aws:sns:us-east-1:000000000000:t"),
     "InvalidParameterCombination"),
    ("NotificationTopicStatus", dict(NotificationTopicStatus="inactive"), "InvalidParameterCombination"),
    ("SecurityGroupIds", dict(SecurityGroupIds=["sg-12345678"]), "InvalidParameterCombination"),
    ("CacheParameterGroupName", dict(CacheParameterGroupName="my-params"), "CacheParameterGroupNotFound"),
]


def _refusal(call, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value


def _check_all(cases, call, base, state):
    before = state()
    failures = []
    for i, (name, extra, code) in enumerate(cases):
        kw = dict(base(i), **extra)
        try:
            call(**kw)
            failures.append(f"{name}: accepted")
            continue
        except botocore.exceptions.ClientError as e:
            got, msg = error_code(e), e.response["Error"].get("Message", "")
            if got != code:
                failures.append(f"{name}: {got} ({msg}), want {code}")
            elif code == "InvalidParameterCombination" and name not in msg:
                failures.append(f"{name}: the message does not name the parameter: {msg!r}")
        if state() != before:
            failures.append(f"{name}: state changed")
    assert not failures, "\n".join(failures)


def _groups(ec):
    return ec.describe_replication_groups()["ReplicationGroups"]


def test_creates_refuse_what_larder_cannot_do_and_change_nothing(ec):
    _check_all(REFUSED, ec.create_cache_cluster, lambda i: dict(REDIS, CacheClusterId=f"c{i}"),
               lambda: describe_all(ec))
    _check_all(REFUSED + GROUP_ONLY, ec.create_replication_group,
               lambda i: dict(GROUP, ReplicationGroupId=f"g{i}"), lambda: _groups(ec))
    assert describe_all(ec) == [] and _groups(ec) == []


def test_modifies_refuse_what_larder_cannot_do_and_change_nothing(ec):
    ec.create_cache_cluster(CacheClusterId="plain", **REDIS)
    wait_status(ec, "plain")
    create_group(ec, "grp", 1, failover=False)
    wait_group(ec, "grp")
    _check_all(MODIFY_REFUSED, ec.modify_cache_cluster,
               lambda i: dict(CacheClusterId="plain", ApplyImmediately=True), lambda: describe_all(ec))
    _check_all([c for c in MODIFY_REFUSED if c[0] != "NotificationTopicStatus"],
               ec.modify_replication_group,
               lambda i: dict(ReplicationGroupId="grp", ApplyImmediately=True), lambda: _groups(ec))


def test_do_nothing_values_are_accepted_and_nothing_is_reported_as_working(ec):
    c = ec.create_cache_cluster(CacheClusterId="inert", SnapshotRetentionLimit=0,
                                TransitEncryptionEnabled=False, NetworkType="ipv4", IpDiscovery="ipv4",
                                CacheSubnetGroupName="default", CacheParameterGroupName="default.redis7",
                                **REDIS)["CacheCluster"]
    assert c["CacheSubnetGroupName"] == "default"
    c = wait_status(ec, "inert")
    assert c["SnapshotRetentionLimit"] == 0
    # Automatic backups are real now (test_automatic_snapshots.py); every redis cache
    # gets a window, as on the service, and retention 0 keeps them off.
    assert "SnapshotWindow" in c
    assert "NotificationConfiguration" not in c
    assert c["SecurityGroups"] == []
    assert c["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"
    # Parameter changes are applied to running caches now, so the status is real.
    assert c["CacheParameterGroup"]["ParameterApplyStatus"] == "in-sync", c["CacheParameterGroup"]
    for node in c["CacheNodes"]:
        assert "ParameterGroupStatus" not in node, node
