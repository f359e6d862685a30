"""Managed-engine command limits, as on ElastiCache: clients cannot run the restricted
commands (nor lift the limits or cut Larder's control), and the node stays managed."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import redis

from harness import describe, node_endpoints, pid_alive, wait_status, wait_until
from test_replication_groups import (
    create_group,
    describe_group,
    group_events,
    member_addr,
    primary_endpoint,
    primary_id,
    rconn,
    wait_group,
    wait_roles_agree,
)

# ElastiCache's restricted commands, each with arguments it would accept.
RESTRICTED = [
    ("BGREWRITEAOF",), ("BGSAVE",), ("CONFIG", "GET", "maxmemory"),
    ("CONFIG", "SET", "maxmemory", "1"), ("DEBUG", "SLEEP", "0"),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "1000"), ("REPLICAOF", "NO", "ONE"),
    ("SAVE",), ("SLAVEOF", "127.0.0.1", "1"), ("SHUTDOWN", "NOSAVE"), ("SYNC",),
]

# What an attacker would try next: lift the limits, or cut Larder's control.
CONTROL = [
    ("ACL", "SETUSER", "default", "+@all"), ("ACL", "SETUSER", "larder-admin", "off"),
    ("ACL", "DELUSER", "larder-admin"), ("ACL", "LIST"), ("ACL", "GETUSER", "larder-admin"),
    ("CLIENT", "KILL", "USER", "larder-admin"), ("CLIENT", "KILL", "TYPE", "replica"),
    ("CLIENT", "PAUSE", "60000"), ("CLIENT", "UNPAUSE"), ("MODULE", "LIST"),
    ("FAILOVER",), ("PSYNC", "?", "-1"), ("REPLCONF", "ACK", "1"),
    ("LARDER-CONFIG", "GET", "maxmemory"), ("LARDER-REPLICAOF", "NO", "ONE"),
]


def _refused(r: redis.Redis, *cmd: str) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*cmd)
    return str(e.value)


def _assert_limited(r: redis.Redis, writable: bool = True) -> None:
    for cmd in RESTRICTED:
        msg = _refused(r, *cmd)
        assert msg.startswith(f"unknown command '{cmd[0].lower()}'") or \
            msg.startswith(f"unknown command '{cmd[0]}'"), f"{cmd}: {msg}"
    for cmd in CONTROL:
        msg = _refused(r, *cmd)
        assert "no permissions" in msg or "not allowed" in msg, f"{cmd}: {msg}"
    # Scripts and transactions cannot smuggle one in.
    for script in ["return redis.call('config', 'get', 'maxmemory')",
                   "return redis.call('replicaof', 'no', 'one')",
                   "return redis.call('acl', 'setuser', 'default', '+@all')"]:
        msg = _refused(r, "EVAL", script, "0")
        assert "Unknown Redis command" in msg or "not allowed from script" in msg, msg
    if writable:
        r.execute_command("FUNCTION", "LOAD", "REPLACE",
                          "#!lua name=evil\nredis.register_function('f', function() "
                          "return redis.call('shutdown', 'nosave') end)")
        assert "Unknown Redis command" in _refused(r, "FCALL", "f", "0")
    p = r.pipeline(transaction=True)
    p.execute_command("SET", "k", "v")
    p.execute_command("CONFIG", "SET", "maxmemory", "1")
    with pytest.raises(redis.ResponseError):
        p.execute()
    # Harmless commands still work.
    assert r.execute_command("ACL", "WHOAMI") == "default"
    if writable:
        assert r.set("still", "works") and r.get("still") == "works"
    assert int(r.info("memory")["maxmemory"]) > 1


def _assert_masterauth_gives_no_control(r: redis.Redis) -> None:
    """Where clients may read `masterauth`, it lets them replicate, not manage nodes."""
    password = r.config_get("masterauth")["masterauth"]
    assert password
    with pytest.raises(redis.AuthenticationError):
        r.execute_command("AUTH", "larder-admin", password)
    r.execute_command("AUTH", "larder-replica", password)
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.execute_command("CONFIG", "SET", "maxmemory", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.execute_command("ACL", "SETUSER", "default", "+@all")


@pytest.mark.parametrize("path", [
    "default",
    # Clients on this host are spliced to the node in the kernel where the host allows
    # it; without the splice the endpoint carries them in userspace.
    pytest.param("userspace", marks=pytest.mark.larder_args("--endpoint-kernel-splice", "off")),
])
def test_clients_cannot_run_restricted_commands_and_the_group_stays_managed(larder, ec, path):
    create_group(ec, "locked", 2)
    g = wait_roles_agree(ec, "locked", timeout=60)
    old = primary_id(g)
    _assert_limited(rconn(member_addr(g, old)))
    _assert_limited(rconn(primary_endpoint(g)))
    replica = "locked-002" if old == "locked-001" else "locked-001"
    _assert_limited(rconn(member_addr(g, replica)), writable=False)

    # Larder still manages the group: a failover goes through.
    ec.test_failover(ReplicationGroupId="locked", NodeGroupId="0001")
    wait_group(ec, "locked", timeout=60)
    g = wait_roles_agree(ec, "locked", timeout=30)
    assert primary_id(g) != old
    r = rconn(primary_endpoint(g))
    assert r.set("after", "failover") and r.get("after") == "failover"
    assert rconn(member_addr(g, old)).info("replication")["role"] == "slave"


@pytest.mark.larder_args("--allow-restricted-commands")
def test_the_host_flag_lifts_the_limits(larder, ec):
    ec.create_cache_cluster(CacheClusterId="open", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "open", timeout=30)
    r = rconn(node_endpoints(c)["0001"])
    assert int(r.config_get("maxmemory")["maxmemory"]) > 0
    assert r.execute_command("DEBUG", "SLEEP", "0")
    assert r.execute_command("ACL", "WHOAMI") == "default"
    _assert_masterauth_gives_no_control(r)

    # Groups still replicate and fail over (Larder's commands are not renamed here).
    create_group(ec, "opengrp", 2)
    g = wait_roles_agree(ec, "opengrp", timeout=60)
    old = primary_id(g)
    ec.test_failover(ReplicationGroupId="opengrp", NodeGroupId="0001")
    wait_group(ec, "opengrp", timeout=60)
    g = wait_roles_agree(ec, "opengrp", timeout=30)
    assert primary_id(g) != old


# What a config written before the command limits lacked.
_NEW_DIRECTIVES = ("user ", "masteruser ", "masterauth ", "rename-command ", "enable-debug-command ",
                   "rdb-del-sync-files ", "repl-diskless-load ")


def _run_with_an_old_config(larder, cluster_id: str) -> None:
    """Replace a member's redis-server by one running the config an older Larder wrote."""
    d = larder.node_dir(cluster_id, "0001")
    pid = int((d / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 10, what=f"{cluster_id} to exit")
    conf = d / "redis.conf"
    lines = [l for l in conf.read_text().splitlines() if not l.startswith(_NEW_DIRECTIVES)]
    conf.write_text("\n".join(lines) + "\n")
    subprocess.Popen(["redis-server", str(conf)], cwd=d, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_nodes_from_before_the_admin_user_are_adopted_and_managed(larder, ec):
    create_group(ec, "legacy", 2)
    g = wait_roles_agree(ec, "legacy", timeout=60)
    old = primary_id(g)
    larder.kill9()
    for cid in g["MemberClusters"]:
        _run_with_an_old_config(larder, cid)
    larder.start(extra_args=[])
    ec = larder.client()
    g = wait_roles_agree(ec, "legacy", timeout=60)
    # Until it restarts, such a node keeps its old, unrestricted default user.
    assert rconn(member_addr(g, old)).config_get("maxmemory")["maxmemory"]

    # Larder still manages it: a failover goes through and the old primary follows.
    ec.test_failover(ReplicationGroupId="legacy", NodeGroupId="0001")
    wait_group(ec, "legacy", timeout=60)
    g = wait_roles_agree(ec, "legacy", timeout=30)
    assert primary_id(g) != old
    r = rconn(primary_endpoint(g))
    assert r.set("after", "failover")
    _assert_masterauth_gives_no_control(rconn(member_addr(g, old)))

    # A restart renders the full config: limits on, and the replica syncs as Larder.
    pidfile = larder.node_dir(old, "0001") / "redis.pid"
    before = pidfile.read_text()
    ec.reboot_cache_cluster(CacheClusterId=old, CacheNodeIdsToReboot=["0001"])
    wait_until(lambda: pidfile.exists() and pidfile.read_text() != before
               and describe(ec, old)["CacheClusterStatus"] == "available", 60,
               what=f"{old} restarted")
    g = wait_roles_agree(ec, "legacy", timeout=60)
    wait_until(lambda: rconn(member_addr(g, old)).get("after") == "failover", 20,
               what="the restarted replica synced")
    with pytest.raises(redis.ResponseError, match="(?i)unknown command 'config'"):
        rconn(member_addr(g, old)).config_get("maxmemory")


def test_a_node_refusing_larders_credentials_is_not_failed_over(larder, ec):
    """Health probes judge liveness: a primary that answers but refuses Larder's
    secret (here: the secret file replaced behind the daemon's back) is not fenced."""
    create_group(ec, "wrongkey", 2)
    g = wait_roles_agree(ec, "wrongkey", timeout=60)
    primary = primary_id(g)
    pid = int((larder.node_dir(primary, "0001") / "redis.pid").read_text())
    secret_file = larder.data_dir / "nodes" / "larder-admin.secret"
    admin = redis.Redis(*member_addr(g, primary), username="larder-admin",
                        password=secret_file.read_text().strip(), socket_timeout=5,
                        decode_responses=True)
    larder.kill9()
    # The agent reads the secret when it starts: kill it too (its nodes keep running).
    agent = larder.agent_pid
    os.kill(agent, signal.SIGKILL)
    wait_until(lambda: not pid_alive(agent), 5, what="the agent to exit")
    secret_file.write_text("f" * 64)
    larder.start(extra_args=[])
    assert larder.agent_pid != agent

    def refused_probes() -> int:
        try:
            log = admin.acl_log()
        except redis.ConnectionError:
            return 1000  # the primary is gone: the assertions below say why
        return sum(int(e["count"]) for e in log if e["reason"] == "auth")

    # More refused probes than the health check's 3 misses in a row.
    wait_until(lambda: refused_probes() >= 10 or None, 20, what="refused health probes")
    assert pid_alive(pid), "the primary was fenced"
    ec = larder.client()
    g = describe_group(ec, "wrongkey")
    assert primary_id(g) == primary
    assert not [e for e in group_events(ec, "wrongkey") if "failover" in e.lower()]
    assert rconn(member_addr(g, primary)).set("still", "serving")
