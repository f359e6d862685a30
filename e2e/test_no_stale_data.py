"""Nodes run without persistence: a node never comes back with data from a file a
full sync (or anything else) left in its directory."""

from __future__ import annotations

from harness import wait_until
from test_replication_groups import (
    create_group,
    member_addr,
    primary_endpoint,
    primary_id,
    rconn,
    settled_after_restart,
    wait_group,
    wait_roles_agree,
)


def test_a_former_replica_restarted_as_primary_comes_back_empty(larder, ec):
    create_group(ec, "fresh", 2)
    g = wait_roles_agree(ec, "fresh", timeout=60)
    rconn(primary_endpoint(g)).set("old", "data")
    # The new member full-syncs while "old" exists.
    ec.increase_replica_count(ReplicationGroupId="fresh", NewReplicaCount=2, ApplyImmediately=True)
    wait_group(ec, "fresh", timeout=60)
    g = wait_roles_agree(ec, "fresh", timeout=60)
    new = "fresh-003"
    wait_until(lambda: rconn(member_addr(g, new)).get("old") == "data", 20,
               what="the key on the new replica")
    rconn(primary_endpoint(g)).delete("old")
    ec.modify_replication_group(ReplicationGroupId="fresh", PrimaryClusterId=new,
                                ApplyImmediately=True)
    wait_group(ec, "fresh", timeout=60)
    g = wait_roles_agree(ec, "fresh", timeout=60)
    assert primary_id(g) == new

    # A clean daemon restart stops the nodes and starts them again, empty.
    larder.restart(kill9=False)
    ec, g = settled_after_restart(larder, "fresh", ["fresh-001", "fresh-002", "fresh-003"])
    assert primary_id(g) == new
    for cid in g["MemberClusters"]:
        assert rconn(member_addr(g, cid)).dbsize() == 0, f"{cid} came back with old data"
    assert not (larder.node_dir(new, "0001") / "dump.rdb").exists()
