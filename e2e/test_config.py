"""Configuration sources: TOML file, LARDER_* environment, credentials and account flags."""

from __future__ import annotations

import botocore.exceptions
import pytest

from harness import Larder, error_code, make_client, wait_status


class ConfiguredLarder(Larder):
    """A Larder whose listen address comes from somewhere other than --listen."""

    def __init__(self, workdir, how: str, extra_args=None):
        super().__init__(workdir, extra_args)
        self.how = how
        if how == "env":
            self.env_extra["LARDER_LISTEN"] = f"127.0.0.1:{self.port}"
        elif how == "toml":
            self.config_path = self.workdir / "larder.toml"
            self.config_path.write_text(f'listen = "127.0.0.1:{self.port}"\n')

    def args(self, extra):
        full = super().args(extra)
        i = full.index("--listen")
        del full[i:i + 2]
        if self.how == "toml":
            full += ["--config", str(self.config_path)]
        return full


@pytest.mark.parametrize("how", ["env", "toml"])
def test_listen_address_from_env_or_config_file(tmp_path, how):
    daemon = ConfiguredLarder(tmp_path, how)
    try:
        daemon.start()
        assert daemon.client().describe_cache_clusters()["CacheClusters"] == []
    finally:
        daemon.cleanup()


def test_custom_credentials_and_account(tmp_path):
    daemon = Larder(tmp_path, ["--access-key-id", "alice", "--secret-access-key", "s3cret",
                               "--account-id", "123456789012"])
    daemon.client = lambda **kw: make_client(daemon.endpoint_url, "alice", "s3cret")
    try:
        daemon.start()
        ec = daemon.client()
        ec.create_cache_cluster(CacheClusterId="acct", Engine="memcached",
                                CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
        c = wait_status(ec, "acct", timeout=30)
        assert c["ARN"] == "arn:aws:elasticache:us-east-1:123456789012:cluster:acct"
        ec.add_tags_to_resource(ResourceName=c["ARN"], Tags=[{"Key": "k", "Value": "v"}])
        assert ec.list_tags_for_resource(ResourceName=c["ARN"])["TagList"] == [{"Key": "k", "Value": "v"}]
        with pytest.raises(botocore.exceptions.ClientError) as info:
            make_client(daemon.endpoint_url).describe_cache_clusters()
        assert error_code(info.value) == "InvalidClientTokenId"
    finally:
        daemon.cleanup()
