"""SigV4 against botocore's signer: many random requests signed by
`botocore.auth.SigV4Auth` (random form bodies with non-ASCII values, random extra
headers, query strings on GET, odd paths) must all be accepted, and each way of
tampering with a signed request or signing it wrongly must be refused with the AWS
code for it. Seeded, so a failure can be replayed.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from urllib.parse import quote

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests

from harness import ACCESS_KEY, REGION, SECRET_KEY, xml_error_code

SEED = 20260901
CREDS = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
FORM = "application/x-www-form-urlencoded; charset=utf-8"
# Characters a path may carry unencoded, and values the form and query draw from.
PATH_CHARS = "abcXYZ019-._~@:=!$'()*,;"
VALUE_CHARS = "aZ09 -_.~+&=%/?#:;,'\"é日本ß€\u2603\t"


def _text(rng: random.Random, alphabet: str, lo: int = 0, hi: int = 12) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _encode(rng: random.Random, s: str) -> str:
    # Both spellings of a space occur in the wild; the signature covers the bytes sent.
    return quote(s, safe="-_.~") if rng.random() < 0.5 else quote(s, safe="-_.~").replace("%20", "+")


def _params(rng: random.Random) -> list[tuple[str, str]]:
    out = [("Action", "DescribeCacheClusters"), ("Version", "2015-02-02")]
    for i in range(rng.randint(0, 6)):
        out.append((f"Larder{i}.{_text(rng, 'abcXYZ09', 1, 6)}", _text(rng, VALUE_CHARS)))
    rng.shuffle(out)
    return out


def _path(rng: random.Random) -> str:
    segs = []
    for _ in range(rng.randint(0, 4)):
        kind = rng.random()
        if kind < 0.15:
            segs.append(rng.choice([".", "..", ""]))
        elif kind < 0.35:
            segs.append(quote(_text(rng, VALUE_CHARS, 1, 6), safe=""))
        else:
            segs.append(_text(rng, PATH_CHARS, 1, 8))
    if segs and segs[-1] in (".", ".."):
        # urllib3 resolves a trailing dot segment to a trailing slash that botocore's
        # normalization drops, so the two disagree before the request is even sent.
        segs.append("end")
    return "/" + "/".join(segs) + ("/" if segs and rng.random() < 0.3 else "")


def _headers(rng: random.Random) -> dict[str, str]:
    h = {}
    for i in range(rng.randint(0, 4)):
        value = _text(rng, "aZ09-_.:;,/ ()=\"'", 1, 20).strip() or "v"
        h[f"X-Larder-Test{i}-{_text(rng, 'abcxyz', 1, 5)}"] = value
    return h


def build(rng: random.Random, base: str):
    """A random request: (method, url, headers, body)."""
    params = _params(rng)
    encoded = "&".join(f"{_encode(rng, k)}={_encode(rng, v)}" for k, v in params)
    path = _path(rng)
    headers = _headers(rng)
    if rng.random() < 0.3:
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)
        return "GET", f"{base}{path}?{query}", headers, b""
    headers["Content-Type"] = FORM
    return "POST", f"{base}{path}", headers, encoded.encode()


def sign(method, url, headers, body, region=REGION, auth_class=botocore.auth.SigV4Auth):
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    auth_class(CREDS, "elasticache", region).add_auth(req)
    return dict(req.headers.items())


def send(method, url, headers, body) -> requests.Response:
    return requests.request(method, url, data=body or None, headers=headers, timeout=30)


def test_random_requests_signed_by_botocore_are_accepted(larder):
    rng = random.Random(SEED)
    refused = []
    for i in range(150):
        method, url, headers, body = build(rng, larder.endpoint_url)
        r = send(method, url, sign(method, url, headers, body), body)
        if r.status_code != 200:
            refused.append((i, method, url, headers, body[:80], r.status_code, xml_error_code(r.text)))
    assert not refused, f"{len(refused)} of 150 refused, first: {refused[:3]}"


class _NoHostAuth(botocore.auth.SigV4Auth):
    """Signs without the Host header, as a broken client would."""

    def headers_to_sign(self, request):
        h = super().headers_to_sign(request)
        del h["host"]
        return h


def _with_clock(monkeypatch, delta: datetime.timedelta):
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + delta)


def _mutations(base: str, rng: random.Random, monkeypatch):
    """(name, expected code, method, url, headers, body) for each way to get it wrong."""
    method, url, headers, body = build(rng, base)
    headers["X-Larder-Signed"] = "original"
    if method == "GET":
        method, headers["Content-Type"], body = "POST", FORM, b"Action=DescribeCacheClusters&Version=2015-02-02"
        url = url.split("?")[0]
    good = sign(method, url, headers, body)
    yield "body changed", "SignatureDoesNotMatch", method, url, good, body + b"&CacheClusterId=x"
    changed = dict(good, **{"X-Larder-Signed": "changed"})
    yield "signed header changed", "SignatureDoesNotMatch", method, url, changed, body
    yield ("another region", "SignatureDoesNotMatch", method, url,
           sign(method, url, headers, body, region="eu-west-1"), body)
    for delta in (datetime.timedelta(minutes=-16), datetime.timedelta(minutes=-15, seconds=-59),
                  datetime.timedelta(minutes=16)):
        with monkeypatch.context() as m:
            _with_clock(m, delta)
            skewed = sign(method, url, headers, body)
        yield f"clock skew {delta}", "SignatureDoesNotMatch", method, url, skewed, body
    unsigned = dict(headers, **{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    yield ("UNSIGNED-PAYLOAD", "SignatureDoesNotMatch", method, url,
           sign(method, url, unsigned, body), body)
    yield ("host not signed", "IncompleteSignature", method, url,
           sign(method, url, headers, body, auth_class=_NoHostAuth), body)
    other = b"Action=DeleteCacheCluster&CacheClusterId=prod&Version=2015-02-02"
    claimed = dict(headers, **{"X-Amz-Content-SHA256": hashlib.sha256(other).hexdigest()})
    yield ("x-amz-content-sha256 of another body", "SignatureDoesNotMatch", method, url,
           sign(method, url, claimed, body), body)
    replay = dict(headers, **{"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    yield ("signed x-amz-content-sha256 replayed with another body", "SignatureDoesNotMatch",
           method, url, sign(method, url, replay, body), other)


def test_each_mistake_is_refused_with_its_code(larder, ec, monkeypatch):
    rng = random.Random(SEED + 1)
    before = ec.describe_cache_clusters()["CacheClusters"]
    wrong = []
    for _ in range(5):
        for name, code, method, url, headers, body in _mutations(larder.endpoint_url, rng, monkeypatch):
            r = send(method, url, headers, body)
            got = xml_error_code(r.text)
            status = 400 if code == "IncompleteSignature" else 403
            if got != code or r.status_code != status:
                wrong.append((name, code, r.status_code, got))
    assert not wrong, wrong
    assert ec.describe_cache_clusters()["CacheClusters"] == before


def test_a_matching_content_sha256_header_is_accepted(larder):
    body = b"Action=DescribeCacheClusters&Version=2015-02-02"
    headers = {"Content-Type": FORM, "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    url = larder.endpoint_url + "/"
    r = send("POST", url, sign("POST", url, headers, body), body)
    assert r.status_code == 200, r.text[:300]
