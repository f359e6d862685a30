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


def s3_args(endpoint: str) -> list[str]:
    """The server flags of a daemon that uses the moto server at `endpoint`."""
    return ["--s3-endpoint", endpoint, "--node-step-attempts", "2", "--node-step-backoff-ms", "100"]


@pytest.fixture
def moto_s3(tmp_path):
    """A real S3-compatible server (moto in server mode) on a free local port, and a
    boto3 S3 client for it. Stopped even when the test fails."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import boto3

    from harness import free_port, wait_port

    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_port("127.0.0.1", port, timeout=30)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        yield endpoint, client
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def s3_larder(request, tmp_path, moto_s3):
    """A daemon whose S3 client talks to the moto server (`--s3-endpoint`, the usual
    AWS credential variables)."""
    endpoint, _ = moto_s3
    marker = request.node.get_closest_marker("larder_args")
    daemon = Larder(tmp_path, [*s3_args(endpoint), *(marker.args if marker else [])])
    daemon.env_extra.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                             "AWS_REGION": "us-east-1"})
    try:
        daemon.start()
    except BaseException:
        daemon.cleanup()
        raise
    yield daemon
    _finish(request, daemon)
