"""The Query API surface: auth, errors, validation, pagination, tags, engine versions."""

from __future__ import annotations

import re
import subprocess

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest
import requests

from harness import (
    cluster_arn,
    describe_all,
    error_code,
    make_client,
    signed_post,
    wait_gone,
    wait_status,
    xml_error_code,
)

VERSION = "2015-02-02"


def _client_error(call, **kw) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    return info.value


def _mc(ec, cluster_id, nodes=1, **kw):
    return ec.create_cache_cluster(CacheClusterId=cluster_id, Engine="memcached",
                                   CacheNodeType="cache.t4g.micro", NumCacheNodes=nodes, **kw)


# --------------------------------------------------------------------------- protocol & auth


def test_unknown_action_is_invalid_action(larder):
    resp = signed_post(larder.endpoint_url, {"Action": "MakeMeASandwich", "Version": VERSION})
    assert resp.status_code == 400, resp.text
    assert xml_error_code(resp.text) == "InvalidAction", resp.text


def test_missing_action_is_missing_action(larder):
    resp = signed_post(larder.endpoint_url, {"Version": VERSION})
    assert resp.status_code == 400, resp.text
    assert xml_error_code(resp.text) == "MissingAction", resp.text


def test_wrong_secret_is_signature_does_not_match(larder):
    bad = make_client(larder.endpoint_url, secret_key="not-the-secret")
    err = _client_error(bad.describe_cache_clusters)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(err) == "SignatureDoesNotMatch"


def test_unknown_access_key_is_invalid_client_token(larder):
    bad = make_client(larder.endpoint_url, access_key="AKIDNOBODY", secret_key="whatever")
    err = _client_error(bad.describe_cache_clusters)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(err) == "InvalidClientTokenId"


def test_unsigned_request_is_missing_authentication_token(larder):
    resp = requests.post(
        larder.endpoint_url + "/",
        data=f"Action=DescribeCacheClusters&Version={VERSION}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert resp.status_code == 403, resp.text
    assert xml_error_code(resp.text) == "MissingAuthenticationToken", resp.text


def test_tampered_body_fails_signature(larder):
    # Sign one body, send another: the payload hash no longer matches.
    body = f"Action=DescribeCacheClusters&Version={VERSION}"
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=larder.endpoint_url + "/", data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("larder", "larder"),
                            "elasticache", "us-east-1").add_auth(req)
    resp = requests.post(req.url, data=(body + "&MaxRecords=20").encode(),
                         headers=dict(req.headers), timeout=10)
    assert resp.status_code == 403, resp.text
    assert xml_error_code(resp.text) == "SignatureDoesNotMatch", resp.text


@pytest.mark.parametrize("body", [
    b"\xff\xfe\x00garbage%%%&&==",
    b"Version=2015-02-02",  # no Action at all
    b"",
])
def test_malformed_body_is_a_client_error(larder, body):
    resp = signed_post(larder.endpoint_url, body=body)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    assert xml_error_code(resp.text), resp.text
    # and the daemon is still serving
    assert larder.client().describe_cache_clusters()["CacheClusters"] == []


def test_describe_engine_versions_reports_installed_engines(ec):
    redis_version = re.search(r"v=(\d+\.\d+\.\d+)",
                              subprocess.run(["redis-server", "--version"], capture_output=True,
                                             text=True, check=True).stdout).group(1)
    mc_version = subprocess.run(["memcached", "-V"], capture_output=True, text=True,
                                check=True).stdout.split()[1]

    redis = ec.describe_cache_engine_versions(Engine="redis")["CacheEngineVersions"]
    assert [(v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in redis] == \
        [(redis_version, "redis7")]
    mc = ec.describe_cache_engine_versions(Engine="memcached")["CacheEngineVersions"]
    assert [(v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in mc] == \
        [(mc_version, "memcached1.6")]
    everything = ec.describe_cache_engine_versions()["CacheEngineVersions"]
    assert {v["Engine"] for v in everything} == {"redis", "memcached"}


def test_cli_describe_with_no_clusters(aws):
    assert aws("describe-cache-clusters")["CacheClusters"] == []


# --------------------------------------------------------------------------- validation

LONG_ID = "a" + "b" * 49  # 50 characters: the longest legal id


def _bad_create_cases():
    base = dict(Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    r = dict(base, Engine="redis")
    return [
        ("starts-with-digit", dict(base, CacheClusterId="1abc"), "InvalidParameterValue"),
        ("underscore", dict(base, CacheClusterId="ab_c"), "InvalidParameterValue"),
        ("double-hyphen", dict(base, CacheClusterId="a--b"), "InvalidParameterValue"),
        ("trailing-hyphen", dict(base, CacheClusterId="abc-"), "InvalidParameterValue"),
        ("too-long", dict(base, CacheClusterId=LONG_ID + "c"), "InvalidParameterValue"),
        ("existing-id", dict(base, CacheClusterId="keep-mc"), "CacheClusterAlreadyExists"),
        ("existing-id-upper", dict(base, CacheClusterId="KEEP-MC"), "CacheClusterAlreadyExists"),
        ("unknown-engine", dict(base, CacheClusterId="x1", Engine="mongodb"), "InvalidParameterValue"),
        ("unknown-node-type", dict(base, CacheClusterId="x2", CacheNodeType="cache.z9.huge"),
         "InvalidParameterValue"),
        ("unknown-version", dict(r, CacheClusterId="x3", EngineVersion="6.9"),
         "InvalidParameterCombination"),
        ("redis-two-nodes", dict(r, CacheClusterId="x4", NumCacheNodes=2), "InvalidParameterValue"),
        ("memcached-41-nodes", dict(base, CacheClusterId="x5", NumCacheNodes=41),
         "NodeQuotaForClusterExceeded"),
        # Checked from the operation's table alone (docs/DESIGN.md, Validation).
        ("zero-nodes", dict(base, CacheClusterId="x6", NumCacheNodes=0), "InvalidParameterValue"),
        ("redis-cross-az", dict(r, CacheClusterId="x7", AZMode="cross-az"),
         "InvalidParameterCombination"),
        ("unknown-az-mode", dict(base, CacheClusterId="x8", AZMode="sideways"),
         "InvalidParameterValue"),
        ("port-zero", dict(base, CacheClusterId="x9", Port=0), "InvalidParameterValue"),
        ("port-too-big", dict(base, CacheClusterId="x10", Port=65536), "InvalidParameterValue"),
        ("short-window", dict(base, CacheClusterId="x11",
                              PreferredMaintenanceWindow="sun:05:00-sun:05:30"),
         "InvalidParameterValue"),
        ("zones-both-ways", dict(base, CacheClusterId="x12", PreferredAvailabilityZone="us-east-1a",
                                 PreferredAvailabilityZones=["us-east-1a"]),
         "InvalidParameterCombination"),
        ("zone-per-node", dict(base, CacheClusterId="x13", NumCacheNodes=2,
                               PreferredAvailabilityZones=["us-east-1a"]), "InvalidParameterValue"),
        ("aws-tag", dict(base, CacheClusterId="x14", Tags=[{"Key": "aws:team", "Value": "v"}]),
         "InvalidParameterValue"),
    ]


@pytest.fixture
def populated(larder, ec):
    """One available memcached and one available redis cluster, as baseline state."""
    _mc(ec, "keep-mc")
    ec.create_cache_cluster(CacheClusterId="keep-redis", Engine="redis",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    wait_status(ec, "keep-mc")
    wait_status(ec, "keep-redis")
    return describe_all(ec)


def test_every_validation_rule_answers_its_code_and_changes_nothing(ec, larder, populated):
    failures = []
    for name, kwargs, code in _bad_create_cases():
        try:
            ec.create_cache_cluster(**kwargs)
            failures.append(f"{name}: accepted")
        except botocore.exceptions.ClientError as e:
            if error_code(e) != code:
                failures.append(f"{name}: {error_code(e)} ({e.response['Error'].get('Message')}), want {code}")
        if describe_all(ec) != populated:
            failures.append(f"{name}: state changed")
    assert not failures, "\n".join(failures)


def test_missing_required_parameter(larder, ec, populated):
    # boto3 refuses to send this, so go raw.
    resp = signed_post(larder.endpoint_url, {
        "Action": "CreateCacheCluster", "Version": VERSION,
        "Engine": "memcached", "CacheNodeType": "cache.t4g.micro", "NumCacheNodes": "1",
    })
    assert resp.status_code == 400, resp.text
    assert xml_error_code(resp.text) == "InvalidParameterValue", resp.text
    assert "CacheClusterId" in resp.text
    assert describe_all(ec) == populated


def test_unknown_cluster_everywhere(ec, populated):
    calls = [
        (ec.describe_cache_clusters, dict(CacheClusterId="nope")),
        (ec.modify_cache_cluster, dict(CacheClusterId="nope", CacheNodeType="cache.t4g.small",
                                       ApplyImmediately=True)),
        (ec.delete_cache_cluster, dict(CacheClusterId="nope")),
        (ec.reboot_cache_cluster, dict(CacheClusterId="nope", CacheNodeIdsToReboot=["0001"])),
        (ec.list_allowed_node_type_modifications, dict(CacheClusterId="nope")),
    ]
    for call, kw in calls:
        err = _client_error(call, **kw)
        assert error_code(err) == "CacheClusterNotFound", (call.__name__, err.response["Error"])
    assert describe_all(ec) == populated


def test_max_records_bounds(ec, populated):
    for bad in (19, 101):
        err = _client_error(ec.describe_cache_clusters, MaxRecords=bad)
        assert error_code(err) == "InvalidParameterValue", bad


def test_upper_case_id_is_stored_lower_case(ec):
    resp = _mc(ec, LONG_ID.upper())
    assert resp["CacheCluster"]["CacheClusterId"] == LONG_ID
    c = wait_status(ec, LONG_ID)
    assert c["CacheClusterId"] == LONG_ID
    # and the upper-case spelling finds it too
    assert ec.describe_cache_clusters(CacheClusterId=LONG_ID.upper())["CacheClusters"][0][
        "CacheClusterId"] == LONG_ID


def test_create_accepts_major_minor_version(ec):
    ec.create_cache_cluster(CacheClusterId="r70", Engine="redis", EngineVersion="7.0",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    c = wait_status(ec, "r70")
    installed = ec.describe_cache_engine_versions(Engine="redis")["CacheEngineVersions"][0]["EngineVersion"]
    assert c["EngineVersion"] == installed


@pytest.mark.larder_args("--workflow-step-delay-ms", "1500")
def test_operations_while_creating_are_invalid_state(ec):
    _mc(ec, "slow")
    before = describe_all(ec)
    assert [c["CacheClusterStatus"] for c in before] == ["creating"]
    calls = [
        (ec.modify_cache_cluster, dict(CacheClusterId="slow", NumCacheNodes=2, ApplyImmediately=True)),
        (ec.reboot_cache_cluster, dict(CacheClusterId="slow", CacheNodeIdsToReboot=["0001"])),
        (ec.delete_cache_cluster, dict(CacheClusterId="slow")),
    ]
    for call, kw in calls:
        err = _client_error(call, **kw)
        assert error_code(err) == "InvalidCacheClusterState", (call.__name__, err.response["Error"])
    after = describe_all(ec)
    assert [(c["CacheClusterId"], c["CacheClusterStatus"], c["NumCacheNodes"]) for c in after] == \
        [("slow", "creating", 1)]
    wait_status(ec, "slow", timeout=30)


# --------------------------------------------------------------------------- pagination


def test_pagination_returns_every_cluster_exactly_once(ec):
    ids = {f"page-{i:02d}" for i in range(25)}
    for cid in sorted(ids):
        _mc(ec, cid)

    def walk(max_records):
        seen, marker, pages = [], None, 0
        while True:
            kw = {"MaxRecords": max_records}
            if marker:
                kw["Marker"] = marker
            page = ec.describe_cache_clusters(**kw)
            pages += 1
            assert len(page["CacheClusters"]) <= max_records
            seen += [c["CacheClusterId"] for c in page["CacheClusters"]]
            marker = page.get("Marker")
            if not marker:
                return seen, pages
            assert pages < 10, "pagination does not terminate"

    seen, pages = walk(20)
    assert sorted(seen) == sorted(ids) and len(seen) == 25
    assert pages == 2
    seen, pages = walk(100)
    assert sorted(seen) == sorted(ids) and pages == 1

    # Markers survive a cluster being deleted between pages.
    first = ec.describe_cache_clusters(MaxRecords=20)
    for cid in sorted(ids):
        wait_status(ec, cid)
    gone = first["CacheClusters"][0]["CacheClusterId"]
    ec.delete_cache_cluster(CacheClusterId=gone)
    wait_gone(ec, gone)
    second = ec.describe_cache_clusters(MaxRecords=20, Marker=first["Marker"])
    rest = {c["CacheClusterId"] for c in second["CacheClusters"]}
    assert rest.isdisjoint({c["CacheClusterId"] for c in first["CacheClusters"]})
    assert len(rest) == 5


# --------------------------------------------------------------------------- tags


def test_tags_add_list_remove(ec):
    _mc(ec, "tagged")
    arn = cluster_arn("tagged")
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == []
    resp = ec.add_tags_to_resource(ResourceName=arn, Tags=[
        {"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "test"}])
    assert sorted((t["Key"], t["Value"]) for t in resp["TagList"]) == [("env", "test"), ("team", "storage")]
    # overwriting a key keeps one entry
    ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "prod"}])
    tags = ec.list_tags_for_resource(ResourceName=arn)["TagList"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "storage")]
    resp = ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
    assert [(t["Key"], t["Value"]) for t in resp["TagList"]] == [("env", "prod")]
    assert [(t["Key"], t["Value"]) for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]] == \
        [("env", "prod")]


def test_bad_arn(ec):
    for name in ("not-an-arn", "arn:aws:s3:::bucket"):
        err = _client_error(ec.list_tags_for_resource, ResourceName=name)
        assert error_code(err) == "InvalidARN", (name, err.response["Error"])
        err = _client_error(ec.add_tags_to_resource, ResourceName=name, Tags=[{"Key": "k", "Value": "v"}])
        assert error_code(err) == "InvalidARN", (name, err.response["Error"])


def _signed_get(url: str, params: dict, secret: str = "larder") -> requests.Response:
    req = botocore.awsrequest.AWSRequest(method="GET", url=url + "/", params=params)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("larder", secret),
                            "elasticache", "us-east-1").add_auth(req)
    prepared = req.prepare()
    return requests.get(prepared.url, headers=dict(prepared.headers), timeout=10)


def test_get_with_a_query_string(larder, ec):
    ec.create_cache_cluster(CacheClusterId="viaget", Engine="memcached",
                            CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    params = {"Action": "DescribeCacheClusters", "Version": VERSION, "CacheClusterId": "viaget"}
    resp = _signed_get(larder.endpoint_url, params)
    assert resp.status_code == 200, resp.text
    assert "<DescribeCacheClustersResponse" in resp.text
    assert "<CacheClusterId>viaget</CacheClusterId>" in resp.text
    wrong = _signed_get(larder.endpoint_url, params, secret="wrong")
    assert wrong.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in wrong.text
