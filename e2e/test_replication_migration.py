"""Online migration from a self-managed redis-server into a replication group, and a
daemon crash in the middle of a replica change."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from harness import free_port, wait_until
from test_replication_groups import (
    api_error,
    create_group,
    describe_group,
    group_events,
    member_addr,
    primary_endpoint,
    primary_id,
    rconn,
    replica_ids,
    settled_after_restart,
    wait_group,
    wait_roles_agree,
)


@pytest.fixture
def source_redis(tmp_path):
    """A standalone redis-server the user runs outside Larder."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port, socket_timeout=5, decode_responses=True)
        wait_until(lambda: r.ping(), 10, what="source redis")
        yield port, r
    finally:
        proc.kill()
        proc.wait()


def test_migration_from_standalone_redis(larder, ec, source_redis):
    port, src = source_redis
    for i in range(2000):
        src.set(f"pre:{i}", i)
    create_group(ec, "mig", 2, failover=False)
    g = wait_roles_agree(ec, "mig", timeout=60)
    endpoint = [{"Address": "127.0.0.1", "Port": port}]

    # TestMigration reaches the source; an unreachable one is refused and changes nothing.
    assert ec.test_migration(ReplicationGroupId="mig", CustomerNodeEndpointList=endpoint)
    dead = [{"Address": "127.0.0.1", "Port": free_port()}]
    err = api_error(ec.start_migration, ReplicationGroupId="mig", CustomerNodeEndpointList=dead)
    assert err.response["Error"]["Code"] == "InvalidParameterValue"
    assert describe_group(ec, "mig")["Status"] == "available"
    err = api_error(ec.complete_migration, ReplicationGroupId="mig")
    assert err.response["Error"]["Code"] == "ReplicationGroupNotUnderMigrationFault"

    ec.start_migration(ReplicationGroupId="mig", CustomerNodeEndpointList=endpoint)
    assert describe_group(ec, "mig")["Status"] == "migrating"
    err = api_error(ec.start_migration, ReplicationGroupId="mig", CustomerNodeEndpointList=endpoint)
    assert err.response["Error"]["Code"] == "ReplicationGroupAlreadyUnderMigrationFault"

    # The group's primary follows the source, with writes made during the migration.
    prim = rconn(member_addr(g, primary_id(g)))
    wait_until(lambda: prim.get("pre:1999") == "1999", 30, what="initial data on the group")
    src.set("during", "migration")
    wait_until(lambda: prim.get("during") == "migration", 10, what="live writes on the group")
    with pytest.raises(redis.ReadOnlyError):
        rconn(primary_endpoint(g)).set("blocked", "1")

    ec.complete_migration(ReplicationGroupId="mig")
    g = wait_group(ec, "mig", timeout=60)
    g = wait_roles_agree(ec, "mig", timeout=30)
    p = rconn(primary_endpoint(g))
    assert p.info("replication")["role"] == "master"
    assert p.get("pre:0") == "0" and p.get("during") == "migration"
    assert p.dbsize() == 2001
    assert p.set("after", "cutover")
    replica = rconn(member_addr(g, replica_ids(g)[0]))
    wait_until(lambda: replica.get("after") == "cutover", 10, what="replica follows the new primary")
    # The source is untouched and no longer feeds the group.
    src.set("late", "write")
    time.sleep(0.5)
    assert p.get("late") is None
    messages = group_events(ec, "mig")
    assert any(m.startswith("Migration started from 127.0.0.1:") for m in messages), messages
    assert any(m.startswith("Migration from 127.0.0.1:") and m.endswith("completed") for m in messages)


@pytest.mark.larder_args("--workflow-step-delay-ms", "400")
def test_daemon_killed_during_replica_increase(larder, ec):
    create_group(ec, "grow", 2)
    g = wait_roles_agree(ec, "grow", timeout=60)
    ec.increase_replica_count(ReplicationGroupId="grow", NewReplicaCount=3, ApplyImmediately=True)
    time.sleep(0.2)  # inside the 400 ms pause before the new node starts
    assert describe_group(ec, "grow")["Status"] == "modifying"
    larder.kill9()

    larder.restart(kill9=True, extra_args=[])
    ec, g = settled_after_restart(larder, "grow", ["grow-001", "grow-002", "grow-003", "grow-004"])
    rconn(primary_endpoint(g)).set("k", "v")
    for cid in replica_ids(g):
        r = rconn(member_addr(g, cid))
        wait_until(lambda r=r: r.get("k") == "v", 20, what=f"data on {cid}")
