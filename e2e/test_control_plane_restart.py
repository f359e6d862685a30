"""The data plane outlives the control plane: `larder server` stopped, killed,
restarted from another binary file, with a client writing through the primary
endpoint the whole time; and the agent keeping nodes alive while no server runs."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

from harness import LARDER_BIN, pid_alive, pids_listening_on, wait_status, wait_until  # noqa: F401
from test_replication_groups import (
    create_group,
    member_addr,
    primary_endpoint,
    primary_id,
    rconn,
    replica_ids,
    wait_roles_agree,
)


class Writer(threading.Thread):
    """INCRs one key over one connection, with no retries; counts every reply and
    error and remembers the connection's local port, so a drop cannot hide."""

    def __init__(self, address):
        super().__init__(daemon=True)
        self.client = rconn(address, timeout=5)
        self.client.ping()
        self.conn = self.client.connection_pool.get_connection()
        self.sockname = self.conn._sock.getsockname()
        self.acked = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.conn.send_command("INCR", "counter")
                value = int(self.conn.read_response())
                self.acked += 1
                assert value == self.acked, (value, self.acked)
            except Exception as e:  # noqa: BLE001 - every failure is counted
                self.errors.append(repr(e))
                return
            time.sleep(0.002)

    def finish(self):
        self.stop.set()
        self.join(timeout=10)
        return self.conn._sock.getsockname() if self.conn._sock else None


def test_server_stop_kill_and_upgrade_drop_no_command_and_no_connection(larder, ec, tmp_path):
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    agent = larder.agent_pid
    writer = Writer(primary_endpoint(g))
    writer.start()
    wait_until(lambda: writer.acked > 50, 10, what="writes flowing")

    # A clean stop, a crash, and an "upgrade": the server started from another file.
    larder.terminate()
    time.sleep(1.0)
    larder.start(extra_args=[])
    larder.kill9()
    time.sleep(1.0)
    upgraded = tmp_path / "larder-next"
    shutil.copy2(LARDER_BIN, upgraded)
    larder.start(extra_args=[])
    before_upgrade = writer.acked
    larder.terminate()
    larder.bin_override = upgraded
    try:
        larder.start(extra_args=[])
    finally:
        larder.bin_override = None
    wait_until(lambda: writer.acked > before_upgrade + 50, 10, what="writes after the upgrade")

    sockname = writer.finish()
    assert writer.errors == [], writer.errors
    assert sockname == writer.sockname, "the client's connection was replaced"
    assert larder.agent_pid == agent, "the agent was restarted"
    # Every acknowledged write is there, on the primary itself.
    g = wait_roles_agree(larder.client(), "rg1", timeout=30)
    assert int(rconn(member_addr(g, primary_id(g))).get("counter")) == writer.acked
    print(f"{writer.acked} writes through 3 control-plane restarts, 0 errors")


def _listener(port: int, exclude: set[int]) -> int | None:
    pids = pids_listening_on(port) - exclude
    return pids.pop() if len(pids) == 1 else None


def test_with_no_server_the_agent_restarts_a_dead_replica_and_a_lone_node(larder, ec):
    create_group(ec, "rg1", 2)
    ec.create_cache_cluster(CacheClusterId="lone", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    lone = wait_status(ec, "lone", timeout=30)
    primary = member_addr(g, primary_id(g))
    (replica_id,) = replica_ids(g)
    replica = member_addr(g, replica_id)
    lone_port = lone["CacheNodes"][0]["Endpoint"]["Port"]
    rconn(primary).set("kept", "yes")
    wait_until(lambda: rconn(replica).get("kept") == "yes", 10, what="replica in sync")
    # The server has told the agent what to do by now (policies go with each pass).
    time.sleep(1.0)

    larder.terminate()
    exclude = {larder.agent_pid}
    old_replica = _listener(replica[1], exclude)
    old_lone = _listener(lone_port, exclude)
    os.kill(old_replica, signal.SIGKILL)
    os.kill(old_lone, signal.SIGKILL)

    new_replica = wait_until(
        lambda: (p := _listener(replica[1], exclude)) not in (None, old_replica) and p, 30,
        what="the agent to restart the replica")
    new_lone = wait_until(
        lambda: (p := _listener(lone_port, exclude)) not in (None, old_lone) and p, 30,
        what="the agent to restart the lone node")
    assert pid_alive(new_replica) and pid_alive(new_lone)

    def attached():
        info = rconn(replica, timeout=2).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up" and info
    info = wait_until(attached, 30, what="the restarted replica to follow its primary")
    assert info["master_port"] == primary[1]
    assert rconn(replica).get("kept") == "yes", "the restarted replica did not resync"
    assert rconn(("127.0.0.1", lone_port)).ping()
    assert "node restarted by its agent" in larder.log_tail(400)


def test_with_no_server_a_dead_primary_waits_for_the_failover(larder, ec):
    """Restarting a dead primary empty would make its replica drop its copy: the
    agent leaves it, and the next server fails over to the replica."""
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    old_primary = primary_id(g)
    primary = member_addr(g, old_primary)
    (replica_id,) = replica_ids(g)
    rconn(primary).set("kept", "yes")
    wait_until(lambda: rconn(member_addr(g, replica_id)).get("kept") == "yes", 10,
               what="replica in sync")
    time.sleep(1.0)

    larder.terminate()
    exclude = {larder.agent_pid}
    pid = _listener(primary[1], exclude)
    os.kill(pid, signal.SIGKILL)
    time.sleep(2.0)  # several times the agent's first restart delay
    assert _listener(primary[1], exclude) is None, "the agent restarted a primary on its own"

    larder.start(extra_args=[])
    g = wait_until(lambda: (x := wait_roles_agree(larder.client(), "rg1", timeout=60))
                   and primary_id(x) == replica_id and x, 60, what="failover to the replica")
    assert rconn(primary_endpoint(g)).get("kept") == "yes"


def test_a_dead_local_agent_is_started_again_by_the_server(larder, ec):
    """The agent crashes (SIGKILL) while the server runs: the server starts a new
    one, which adopts the nodes that kept running and serves the endpoints again."""
    create_group(ec, "rg1", 2)
    g = wait_roles_agree(ec, "rg1", timeout=60)
    primary = member_addr(g, primary_id(g))
    rconn(primary).set("kept", "yes")
    old_agent = larder.agent_pid
    node = _listener(primary[1], {old_agent})
    os.kill(old_agent, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old_agent), 5, what="the agent to die")
    wait_until(lambda: larder.agent_pid != old_agent and pid_alive(larder.agent_pid), 30,
               what="the server to start a new agent")
    # Same node process, same data, and the endpoint answers again.
    assert _listener(primary[1], {larder.agent_pid}) == node
    wait_until(lambda: _endpoint_get(primary_endpoint(g)) == "yes", 30,
               what="the primary endpoint to serve again")
    assert wait_roles_agree(larder.client(), "rg1", timeout=30)["Status"] == "available"
    assert "a new one serves this host" in larder.log_tail(400)


def _endpoint_get(address):
    try:
        return rconn(address, timeout=2).get("kept")
    except Exception:  # noqa: BLE001 - not serving yet
        return None
