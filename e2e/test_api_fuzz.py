"""Front-door fuzz of the Query API against a running daemon: random methods, bodies
(random bytes, invalid UTF-8, broken percent-encoding, NULs, sizes up to past the
limit), header sets, garbage Authorization values, and requests that botocore signs
correctly but whose parameters are wrong. Every reply must be an AWS XML error
document or a valid XML response (never a 5xx, never the framework's text), an
error must change no state (Describe* before and after are equal), and the daemon
must stay up. Seeded and bounded (a few hundred requests). Request heads stay within
what hyper reads (under 100 headers, URIs under 64 KiB): past that, hyper itself
answers 431/414 with an empty body before the API sees the request.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from urllib.parse import quote

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests

from harness import ACCESS_KEY, REGION, SECRET_KEY, wait_status
from test_replication_groups import create_group, wait_group

SEED = 9_2026
REQUESTS = 300
NS = "{http://elasticache.amazonaws.com/doc/2015-02-02/}"
MUTATING = ["CreateCacheCluster", "DeleteCacheCluster", "ModifyCacheCluster", "RebootCacheCluster",
            "CreateReplicationGroup", "DeleteReplicationGroup", "ModifyReplicationGroup",
            "IncreaseReplicaCount", "DecreaseReplicaCount", "TestFailover", "StartMigration",
            "CompleteMigration", "AddTagsToResource", "RemoveTagsFromResource"]
READING = ["DescribeCacheClusters", "DescribeReplicationGroups", "DescribeEvents",
           "DescribeCacheEngineVersions", "ListTagsForResource"]
PARAMS = ["CacheClusterId", "ReplicationGroupId", "NumCacheNodes", "Engine", "CacheNodeType",
          "ApplyImmediately", "NodeGroupId", "ResourceName", "Tags.Tag.1.Key", "Tags.Tag.1.Value",
          "TagKeys.member.1", "NewReplicaCount", "CacheNodeIdsToRemove.CacheNodeId.1",
          "PrimaryClusterId", "AutomaticFailoverEnabled", "MaxRecords", "Marker",
          "CustomerNodeEndpointList.member.1.Address", "CustomerNodeEndpointList.member.1.Port"]
# Values that no valid request carries for these parameters: ids with `--`, a leading
# digit or too long, malformed numbers and booleans, ARNs of nothing, control bytes.
BAD_VALUES = ["", "a--b", "9lives", "x" * 60, "-1", "1e9x", "maybe", "TRUE ", "\x00", "\u00e9t\u00e9",
              "arn:aws:elasticache:us-east-1:000000000000:cluster:nope", "redis\n", "%zz", "0",
              "99999999999999999999", "fuzz-a--", " fuzz-a", "memcached ", "cache.x.nano"]
CREDS = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)


def _bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def _unsigned(rng: random.Random, url: str):
    """A request that never passes authentication: random shape, random bytes."""
    method = rng.choice(["GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    kind = rng.random()
    if kind < 0.2:
        body = _bytes(rng, rng.choice([0, 1, 17, 4096]))
    elif kind < 0.35:
        body = b"Action=DescribeCacheClusters&" + b"%zz%%%" * rng.randint(1, 50) + b"\xff\xfe\x00"
    elif kind < 0.45:
        body = b"A" * rng.choice([(1 << 20) - 1, (1 << 20) + 1, 3 << 20])
    elif kind < 0.6:
        body = "&".join(f"Action=X{i}" for i in range(rng.randint(1, 2000))).encode()
    else:
        body = f"Action={rng.choice(MUTATING + READING)}&Version=2015-02-02".encode()
    headers = {}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(["Authorization", "X-Amz-Date", "Content-Type", "X-Amz-Content-SHA256",
                           "Host", "X-Whatever", "Content-Encoding"])
        headers[name] = rng.choice([
            "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=larder/2026/us-east-1/elasticache/aws4_request",
            "AWS4-HMAC-SHA256 Credential=larder/20260101/us-east-1/elasticache/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00",
            "Basic Zm9vOmJhcg==", "20260101T000000Z", "yesterday", "UNSIGNED-PAYLOAD", "gzip",
            "application/json", "text/plain; charset=latin1", "a\tb", "x" * 2000,
        ])
    query = rng.choice(["", "Action=DescribeCacheClusters", "%zz=%", "a=" + "b" * 3000, "=&&=="])
    return method, url + ("/?" + query if query else "/"), headers, body


def _signed(rng: random.Random, url: str):
    """A correctly signed request whose parameters are wrong by construction."""
    params = [("Action", rng.choice(MUTATING + READING)), ("Version", "2015-02-02")]
    for name in rng.sample(PARAMS, rng.randint(1, 5)):
        params.append((name, rng.choice(BAD_VALUES)))
    rng.shuffle(params)
    style = rng.random()
    if style < 0.5:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params).encode()
    elif style < 0.8:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='').replace('%20', '+')}"
                        for k, v in params).encode()
    else:  # raw UTF-8, unencoded, as a careless client sends it
        body = "&".join(f"{k}={v}" for k, v in params).encode()
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=url + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(CREDS, "elasticache", REGION).add_auth(req)
    return "POST", url + "/", dict(req.headers.items()), body


def _check_reply(r: requests.Response, what) -> bool:
    """True when the reply is an error. Fails unless it is AWS-shaped XML."""
    assert r.status_code < 500, (what, r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("text/xml"), (what, r.headers, r.text[:200])
    try:
        root = ET.fromstring(r.content)
    except ET.ParseError as e:
        raise AssertionError(f"not XML ({e}): {what} -> {r.content[:300]!r}") from None
    if r.status_code == 200:
        assert root.tag.startswith(NS) and root.tag.endswith("Response"), (what, r.text[:200])
        return False
    assert root.tag.endswith("ErrorResponse"), (what, r.text[:300])
    code = root.find(f"{NS}Error/{NS}Code")
    assert code is not None and code.text, (what, r.text[:300])
    return True


def _state(ec) -> tuple:
    clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    groups = ec.describe_replication_groups()["ReplicationGroups"]
    tags = ec.list_tags_for_resource(
        ResourceName=f"arn:aws:elasticache:{REGION}:000000000000:cluster:fuzz-a")["TagList"]
    return clusters, groups, tags


def test_front_door_fuzz(larder, ec):
    ec.create_cache_cluster(CacheClusterId="fuzz-a", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1, Tags=[{"Key": "k", "Value": "v"}])
    create_group(ec, "fuzz-g", 1, failover=False)
    wait_status(ec, "fuzz-a")
    wait_group(ec, "fuzz-g")
    rng = random.Random(SEED)
    before = _state(ec)
    errors = accepted = 0
    session = requests.Session()
    for i in range(REQUESTS):
        method, url, headers, body = (_signed if rng.random() < 0.5 else _unsigned)(rng, larder.endpoint_url)
        what = (i, method, url[:120], {k: v[:60] for k, v in headers.items()}, body[:120])
        r = session.request(method, url, data=body, headers=headers, timeout=30)
        if _check_reply(r, what):
            errors += 1
            after = _state(ec)
            assert after == before, f"state changed after an error reply to {what}: {r.text[:300]}"
        else:
            accepted += 1
            # Only reads may succeed: the mutating requests are wrong by construction.
            assert any(a in r.text[:200] for a in READING), (what, r.text[:300])
    assert larder.proc.poll() is None, "the daemon died"
    assert _state(ec) == before
    print(f"\n{REQUESTS} requests: {errors} errors, {accepted} valid replies")
