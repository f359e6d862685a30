"""Health checks catch a primary that still runs but stopped answering (SIGSTOP):
the group fails over, the hung node is fenced, and it comes back as a replica."""

from __future__ import annotations

import os
import re
import signal

from harness import pid_alive, wait_until
from test_replication_groups import (
    SeqWriter,
    create_group,
    group_events,
    member_pid,
    primary_endpoint,
    primary_id,
    rconn,
    roles,
    wait_group,
    wait_group_event,
    wait_roles_agree,
)


def test_hung_primary_is_failed_over_and_fenced(larder, ec):
    create_group(ec, "hang", 3)
    g = wait_roles_agree(ec, "hang", timeout=60)
    old = primary_id(g)
    old_pid = member_pid(larder, old)
    w = SeqWriter(primary_endpoint(g))
    w.start()
    try:
        w.wait_acked(200, 30, what="writes before the hang")
        os.kill(old_pid, signal.SIGSTOP)
        wait_group_event(ec, "hang", r"Primary node \S+ failed \(not answering health checks\)", timeout=30)
        w.wait_acked(w.acked + 200, 30, what="writes through the primary endpoint after the hang")
    finally:
        w.stop()
        try:
            os.kill(old_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_group(ec, "hang", timeout=60)
    g = wait_roles_agree(ec, "hang", timeout=60)
    new = primary_id(g)
    assert new != old and roles(g)[old] == "replica"
    # Fenced: the hung process was killed rather than left to wake up as a second primary.
    wait_until(lambda: not pid_alive(old_pid), 10, what="the hung primary to be killed")
    assert member_pid(larder, old) != old_pid
    assert rconn(primary_endpoint(g)).info("replication")["role"] == "master"
    messages = group_events(ec, "hang")
    assert any(re.fullmatch(rf"Failover from primary node {old} to replica node {new} completed", m)
               for m in messages), messages
