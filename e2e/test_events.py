"""DescribeEvents: what is recorded and how the time and source filters narrow it."""

from __future__ import annotations

import datetime as dt
import time

from harness import maintenance_window, wait_status


def _now():
    return dt.datetime.now(dt.timezone.utc)


def test_event_filters(larder, ec):
    before = _now() - dt.timedelta(seconds=2)
    for cid in ("ev-a", "ev-b"):
        ec.create_cache_cluster(CacheClusterId=cid, Engine="memcached",
                                CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    for cid in ("ev-a", "ev-b"):
        wait_status(ec, cid, timeout=30)
    time.sleep(1.1)
    after = _now()

    ours = ec.describe_events(SourceType="cache-cluster", SourceIdentifier="ev-a", Duration=60)["Events"]
    assert any(e["Message"] == "Cache cluster created" for e in ours), ours
    for e in ours:
        assert e["SourceIdentifier"] == "ev-a"
        assert e["SourceType"] == "cache-cluster"
        assert before <= e["Date"] <= after, (e["Date"], before, after)

    both = ec.describe_events(SourceType="cache-cluster", Duration=60)["Events"]
    assert {e["SourceIdentifier"] for e in both} >= {"ev-a", "ev-b"}

    in_window = ec.describe_events(SourceType="cache-cluster", SourceIdentifier="ev-a",
                                   StartTime=before, EndTime=after)["Events"]
    assert [e["Message"] for e in in_window] == [e["Message"] for e in ours]
    assert ec.describe_events(SourceType="cache-cluster", SourceIdentifier="ev-a",
                              StartTime=after)["Events"] == []
    assert ec.describe_events(SourceType="cache-cluster", SourceIdentifier="ev-a",
                              EndTime=before)["Events"] == []


def test_apply_later_node_type_is_pending(larder, ec):
    # A window that starts two hours from now, so the change stays pending whenever
    # the test runs (the default window, sun:05:00-06:00, would apply it on Sundays).
    ec.create_cache_cluster(CacheClusterId="pend", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1,
                            PreferredMaintenanceWindow=maintenance_window(120))
    wait_status(ec, "pend", timeout=30)
    resp = ec.modify_cache_cluster(CacheClusterId="pend", CacheNodeType="cache.t4g.small",
                                   ApplyImmediately=False)
    assert resp["CacheCluster"]["PendingModifiedValues"].get("CacheNodeType") == "cache.t4g.small"
    time.sleep(1)
    c = wait_status(ec, "pend", timeout=5)
    assert c["CacheNodeType"] == "cache.t4g.micro"
    assert c["PendingModifiedValues"].get("CacheNodeType") == "cache.t4g.small"
