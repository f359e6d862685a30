"""pytest fixtures: a fresh `larder server` per test, cleaned up even when the test fails."""

from __future__ import annotations

import pytest

from harness import Larder, run_aws


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so fixtures can tell whether the test failed.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _start(request, tmp_path, extra_args):
    daemon = Larder(tmp_path, extra_args)
    try:
        daemon.start()
    except BaseException:
        daemon.cleanup()
        raise
    return daemon


def _finish(request, daemon: Larder):
    daemon.cleanup()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n---- larder log ({daemon.log_path}) ----\n{daemon.log_tail(80)}")


@pytest.fixture
def larder(request, tmp_path):
    """A running daemon on a temp data dir. Mark a test with
    @pytest.mark.larder_args("--flag", "value") to pass extra server flags."""
    marker = request.node.get_closest_marker("larder_args")
    extra = list(marker.args) if marker else []
    daemon = _start(request, tmp_path, extra)
    yield daemon
    _finish(request, daemon)


@pytest.fixture
def ec(larder):
    """boto3 ElastiCache client for the `larder` fixture's daemon."""
    return larder.client()


@pytest.fixture
def aws(larder):
    """Run `aws elasticache ...` against the daemon; returns parsed JSON."""
    def run(*args, check=True):
        return run_aws(larder.endpoint_url, larder.workdir, *args, check=check)
    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "larder_args(*args): extra flags for `larder server`")
