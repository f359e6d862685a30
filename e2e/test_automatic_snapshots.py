"""Automatic backups (issue 11 point 2): SnapshotRetentionLimit and SnapshotWindow with
boto3 against a real `larder server`, the scheduler's clock moved with
`shift_clock`, and redis-py on the nodes. Each automated snapshot is a real RDB
dump with every key; retention keeps the newest, manual snapshots stay, and the
automated ones go with their group. Invalid settings answer ElastiCache's codes
and change nothing.
"""

from __future__ import annotations

import datetime as dt

import botocore.exceptions
import pytest

from harness import describe, error_code, wait_until
from test_replication_groups import member_addr, primary_endpoint, rconn, replica_ids, wait_group
from test_snapshots import fill, load_rdb, wait_snapshot

DAY = 86400


def refused(call, **kw) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return error_code(info.value)


def automated(ec, group: str) -> list[dict]:
    snaps = ec.describe_snapshots(ReplicationGroupId=group, SnapshotSource="system")["Snapshots"]
    return sorted(snaps, key=lambda s: s["SnapshotName"])


def windows(now: dt.datetime) -> tuple[str, str, dt.datetime]:
    """A daily window three hours from now, a maintenance window clear of it, and the
    moment five minutes into the window's next occurrence."""
    hour = (now.hour + 3) % 24
    snapshot = f"{hour:02}:00-{(hour + 1) % 24:02}:00"
    m = (hour + 12) % 24
    # An hour on Sunday; one starting at 23:00 ends on Monday.
    maintenance = f"sun:{m:02}:00-{'mon' if m == 23 else 'sun'}:{(m + 1) % 24:02}:00"
    start = now.replace(hour=hour, minute=5, second=0, microsecond=0)
    if start <= now:
        start += dt.timedelta(days=1)
    return snapshot, maintenance, start


def test_automated_snapshots_daily_in_the_window_kept_by_retention_gone_with_the_group(
        larder, ec, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    window, maintenance, opens = windows(now)
    g = ec.create_replication_group(
        ReplicationGroupId="auto", ReplicationGroupDescription="backups", Engine="redis",
        CacheNodeType="cache.t4g.micro", NumCacheClusters=2, AutomaticFailoverEnabled=True,
        SnapshotRetentionLimit=2, SnapshotWindow=window,
        PreferredMaintenanceWindow=maintenance)["ReplicationGroup"]
    assert (g["SnapshotRetentionLimit"], g["SnapshotWindow"]) == (2, window)
    g = wait_group(ec, "auto")
    replica = replica_ids(g)[0]
    assert g["SnapshottingClusterId"] == replica == "auto-002"
    member = describe(ec, replica)
    assert (member["SnapshotRetentionLimit"], member["SnapshotWindow"]) == (2, window)
    data = fill(rconn(primary_endpoint(g)), 2000)
    rep = rconn(member_addr(g, replica))
    wait_until(lambda: rep.dbsize() == len(data), 20, what="replica caught up")
    assert automated(ec, "auto") == [], "nothing before the window"

    # Day 1: the window opens, one automated snapshot with every key.
    base = (opens - now).total_seconds()
    larder.shift_clock(int(base))
    day = [f"automatic.auto-{(opens + dt.timedelta(days=k)):%Y-%m-%d-%H}-00" for k in range(3)]
    wait_until(lambda: [s["SnapshotName"] for s in automated(ec, "auto")] == day[:1], 30,
               interval=0.2, what="the first automated snapshot")
    s = wait_snapshot(ec, day[0])
    assert s["SnapshotSource"] == "automated"
    assert (s["SnapshotRetentionLimit"], s["SnapshotWindow"]) == (2, window)
    (ns,) = s["NodeSnapshots"]
    assert ns["CacheClusterId"] == replica
    rdb = larder.data_dir / "snapshots" / day[0] / f"{replica}-0001.rdb"
    assert load_rdb(tmp_path, rdb) == data

    # A manual snapshot never counts against retention.
    ec.create_snapshot(ReplicationGroupId="auto", SnapshotName="by-hand")
    wait_snapshot(ec, "by-hand")

    # Days 2 and 3: one more each; the oldest goes once the third is complete.
    for k in (1, 2):
        larder.shift_clock(int(base) + k * DAY)
        wait_until(lambda: [(s["SnapshotName"], s["SnapshotStatus"]) for s in automated(ec, "auto")]
                   == [(n, "available") for n in day[max(0, k - 1):k + 1]], 45,
                   interval=0.2, what=f"automated snapshots on day {k + 1}")
    assert describe_names(ec) == sorted(["by-hand", day[1], day[2]])

    # The group goes with its automated snapshots; the manual and final ones stay.
    ec.delete_replication_group(ReplicationGroupId="auto", FinalSnapshotIdentifier="last")
    wait_until(lambda: describe_names(ec) == ["by-hand", "last"], 60, interval=0.2,
               what="automated snapshots removed with the group")


def describe_names(ec) -> list[str]:
    return sorted(s["SnapshotName"] for s in ec.describe_snapshots()["Snapshots"])


def test_invalid_backup_settings_answer_the_service_codes_and_change_nothing(ec):
    redis = dict(Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    cases = [
        (dict(SnapshotRetentionLimit=36), "InvalidParameterValue"),
        (dict(SnapshotRetentionLimit=1, SnapshotWindow="05:00-05:30"), "InvalidParameterValue"),
        (dict(SnapshotWindow="05:00-06:00", PreferredMaintenanceWindow="sun:05:30-sun:06:30"),
         "InvalidParameterValue"),
    ]
    for extra, code in cases:
        assert refused(ec.create_cache_cluster, CacheClusterId="bad", **redis, **extra) == code, extra
        assert refused(ec.create_replication_group, ReplicationGroupId="bad",
                       ReplicationGroupDescription="d", Engine="redis",
                       CacheNodeType="cache.t4g.micro", NumCacheClusters=1, **extra) == code, extra
    for extra in (dict(SnapshotRetentionLimit=1), dict(SnapshotWindow="05:00-06:00")):
        assert refused(ec.create_cache_cluster, CacheClusterId="mc", Engine="memcached",
                       CacheNodeType="cache.t4g.micro", NumCacheNodes=1,
                       **extra) == "InvalidParameterCombination", extra
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    assert ec.describe_replication_groups()["ReplicationGroups"] == []

    # A group created without backups: turning them on needs SnapshottingClusterId, as
    # on the service; a window meeting the maintenance window is refused.
    ec.create_replication_group(ReplicationGroupId="plain", ReplicationGroupDescription="d",
                                Engine="redis", CacheNodeType="cache.t4g.micro",
                                NumCacheClusters=1, SnapshotWindow="01:00-02:00",
                                PreferredMaintenanceWindow="sun:05:00-sun:06:00")
    before = wait_group(ec, "plain")
    assert refused(ec.modify_replication_group, ReplicationGroupId="plain",
                   SnapshotRetentionLimit=3, ApplyImmediately=True) == "InvalidParameterCombination"
    assert refused(ec.modify_replication_group, ReplicationGroupId="plain",
                   SnapshotWindow="05:00-06:00", ApplyImmediately=True) == "InvalidParameterValue"
    assert refused(ec.modify_replication_group, ReplicationGroupId="plain",
                   SnapshottingClusterId="nobody", SnapshotRetentionLimit=3,
                   ApplyImmediately=True) == "InvalidParameterValue"
    assert wait_group(ec, "plain") == before
    g = ec.modify_replication_group(ReplicationGroupId="plain", SnapshotRetentionLimit=3,
                                    SnapshottingClusterId="plain-001",
                                    ApplyImmediately=True)["ReplicationGroup"]
    assert (g["SnapshotRetentionLimit"], g["SnapshottingClusterId"]) == (3, "plain-001")
