#!/usr/bin/python3
"""Compare ranged GetObject and HeadObject through s3seal with the backend.

ranges.sh uploads each test file twice: through s3seal as enc-SIZE (stored
encrypted) and straight to the backend as plain-SIZE. For every Range in the
table below, this script sends the same GetObject and HeadObject to s3seal
for enc-SIZE and to the backend for plain-SIZE, and checks the status,
Content-Length, Content-Range and body (or error code) of s3seal's response.

The reference is the backend's response when it follows the Range rules that
AWS S3 applies, which are those of RFC 9110 section 14 limited to one range
per request. Where the backend responds otherwise (Ceph RGW 16.2 does for
several forms, listed in expected_response), s3seal is compared with those
rules instead, and the backend's deviation is printed as a "#" line.

Only the Python standard library is used, so Debian's /usr/bin/python3 runs
it without boto3. Requests are signed with AWS Signature Version 4 here.

Prints one "ok - ..." or "not ok - ..." line per check and a last line
"# checks N failures N known N". Exits 1 if a check failed.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import re
import ssl
import sys
import urllib.parse
from dataclasses import dataclass

CHUNK = 65536
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Cases that fail because of a known s3seal bug, by (method, label), each
# with the bug as its value. Such checks print "not ok ... # TODO" and do not
# fail the run unless S3SEAL_TEST_STRICT=1. Remove an entry once its bug is
# fixed.
KNOWN_BUGS = {}


@dataclass
class Response:
    status: int
    headers: dict  # lower-case name to value
    body: bytes

    def header(self, name):
        return self.headers.get(name.lower())

    def error_code(self):
        match = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return match.group(1).decode() if match else None


@dataclass
class Expected:
    status: int
    content_range: str | None
    first: int = 0  # first plaintext byte of the body, for 200 and 206
    length: int = 0  # body length, for 200 and 206


class S3Client:
    """Sends signed GET and HEAD requests to one endpoint with one key pair."""

    def __init__(self, endpoint, access_key, secret_key, region, ca_file=None):
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or url.hostname is None:
            raise ValueError(f"endpoint must be http://host:port or https://host:port, got {endpoint!r}")
        self.host = url.hostname
        self.tls = None
        if url.scheme == "https":
            # verifies the certificate and host name, against ca_file or the system CA store
            self.tls = ssl.create_default_context(cafile=ca_file)
        self.port = url.port or (443 if self.tls else 80)
        self.host_header = url.netloc
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    def _authorization(self, method, path, amz_date):
        date = amz_date[:8]
        canonical_headers = f"host:{self.host_header}\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{amz_date}\n"
        signed_headers = "host;x-amz-content-sha256;x-amz-date"
        canonical_request = "\n".join([method, path, "", canonical_headers, signed_headers, EMPTY_SHA256])
        scope = f"{date}/{self.region}/s3/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret_key).encode()
        for part in (date, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        return (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )

    def request(self, method, bucket, key, extra_headers):
        """Send one request on a new connection and read the whole response."""
        path = "/" + urllib.parse.quote(bucket, safe="") + "/" + urllib.parse.quote(key, safe="/-_.~")
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            "Host": self.host_header,
            "x-amz-date": amz_date,
            "x-amz-content-sha256": EMPTY_SHA256,
            "Authorization": self._authorization(method, path, amz_date),
        }
        headers.update(extra_headers)
        if self.tls is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.tls)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        finally:
            conn.close()


def expected_response(size, range_value):
    """Return the response of AWS S3 to GetObject with this Range on a size-byte object.

    These are the rules of RFC 9110 section 14, with one range per request:
    - a Range of another unit, with several ranges, with a syntax error or
      with last < first is ignored: 200 and the whole object. AWS S3 treats
      several ranges so. Ceph RGW 16.2 instead serves the first range (206),
      returns 416 for bytes=5-2, and returns 416 for any Range on an empty
      object, even one it should ignore.
    - bytes=first-last and bytes=first- are unsatisfiable (416) when first is
      not below the size. A last past the end is clamped to the end.
    - bytes=-n selects the last n bytes, or the whole object when n exceeds the
      size. It is unsatisfiable when n is 0 (RFC 9110 section 14.1.1: a
      suffix-length of 0 selects no bytes). Ceph RGW 16.2 returns 206 and the
      whole object for bytes=-0.
    - every range of an empty object is unsatisfiable, and AWS S3 returns 416.
    A 416 carries "Content-Range: bytes */SIZE" (RFC 9110 section 15.5.17).
    Ceph RGW 16.2 sends no Content-Range with its 416.
    """
    whole = Expected(200, None, 0, size)
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_value)
    if match is None or (match.group(1) == "" and match.group(2) == ""):
        return whole
    unsatisfiable = Expected(416, f"bytes */{size}")
    if match.group(1) == "":
        suffix = int(match.group(2))
        if suffix == 0 or size == 0:
            return unsatisfiable
        first, last = max(0, size - suffix), size - 1
    else:
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) != "" else None
        if last is not None and last < first:
            return whole
        if first >= size:
            return unsatisfiable
        last = size - 1 if last is None else min(last, size - 1)
    return Expected(206, f"bytes {first}-{last}/{size}", first, last - first + 1)


def range_table(size):
    """Return (label, Range value) pairs for an object of size bytes."""
    cases = [("first byte", "bytes=0-0")]
    if size > 1:
        cases.append(("last byte", f"bytes={size - 1}-{size - 1}"))
    for edge in range(CHUNK, size, CHUNK):
        cases.append((f"chunk edge {edge}", f"bytes={edge - 1}-{edge}"))
    if size > 2:
        cases.append(("middle third", f"bytes={size // 3}-{2 * size // 3}"))
    cases += [
        ("whole from 0", "bytes=0-"),
        ("suffix 1", "bytes=-1"),
        ("suffix of the size", f"bytes=-{size}"),
        ("suffix longer than the size", f"bytes=-{size + 70000}"),
        ("suffix 0", "bytes=-0"),
        ("open-ended from the middle", f"bytes={size // 2}-"),
        ("open-ended at the size", f"bytes={size}-"),
        ("start past the end", f"bytes={size + 10}-{size + 20}"),
        ("end past the end", f"bytes={size // 2}-{size + 100000}"),
        ("last < first (ignored)", "bytes=5-2"),
        ("two ranges (ignored)", "bytes=0-1,3-4"),
        ("other unit (ignored)", "items=0-1"),
        ("start above 2^64-1", "bytes=99999999999999999999-"),
        ("end above 2^64-1", f"bytes={size // 2}-99999999999999999999"),
    ]
    return cases


def deviation_text(method, label, reference, expected):
    """Describe a backend response that differs from AWS S3 without the size, so that cases group."""
    if reference.status == expected.status == 416 and reference.header("content-range") is None:
        return "every 416: backend sends no Content-Range"
    text = f"{method} {label}: backend returns {reference.status}"
    if reference.status != expected.status:
        return text + f" where AWS S3 returns {expected.status}"
    if reference.header("content-range") != expected.content_range:
        return text + f" with Content-Range where AWS S3 sends {expected.content_range or 'none'}"
    return text + " with another Content-Length or body"


def differences(resp, expected, plain, method):
    """List how resp differs from expected. The body is checked on GET only."""
    diffs = []
    if resp.status != expected.status:
        diffs.append(f"status: expected {expected.status}, got {resp.status}")
    got_range = resp.header("content-range")
    if got_range != expected.content_range:
        diffs.append(f"Content-Range: expected {expected.content_range}, got {got_range}")
    if expected.status == 416:
        if method == "GET" and resp.error_code() != "InvalidRange":
            diffs.append(f"error code: expected InvalidRange, got {resp.error_code()}")
        return diffs
    got_length = resp.header("content-length")
    if got_length != str(expected.length):
        diffs.append(f"Content-Length: expected {expected.length}, got {got_length}")
    if method == "GET" and resp.status == expected.status:
        want = plain[expected.first : expected.first + expected.length]
        if resp.body != want:
            diffs.append(f"body: expected {len(want)} bytes from offset {expected.first}, got {len(resp.body)} other bytes")
    return diffs


def passthrough_differences(resp, reference):
    """List how s3seal's response for an object without an envelope differs from the backend's."""
    diffs = []
    if resp.status != reference.status:
        diffs.append(f"status: backend {reference.status}, s3seal {resp.status}")
    for name in ("content-range", "content-length", "etag"):
        # Error bodies contain each server's own request id, so their lengths differ.
        if name == "content-length" and reference.status >= 400:
            continue
        if resp.header(name) != reference.header(name):
            diffs.append(f"{name}: backend {reference.header(name)}, s3seal {resp.header(name)}")
    if reference.status >= 400:
        if resp.error_code() != reference.error_code():
            diffs.append(f"error code: backend {reference.error_code()}, s3seal {resp.error_code()}")
    elif resp.body != reference.body:
        diffs.append(f"body: backend {len(reference.body)} bytes, s3seal {len(resp.body)} other bytes")
    return diffs


class Report:
    def __init__(self, strict):
        self.strict = strict
        self.checks = 0
        self.failures = 0
        self.known = 0
        self.deviations = {}  # description to list of cases

    def check(self, name, diffs, known_bug=None):
        self.checks += 1
        if not diffs:
            print(f"ok - {name}")
        elif known_bug is not None and not self.strict:
            self.known += 1
            print(f"not ok - {name}: {'; '.join(diffs)} # TODO {known_bug}")
        else:
            self.failures += 1
            print(f"not ok - {name}: {'; '.join(diffs)}")
        sys.stdout.flush()

    def deviation(self, description, case):
        self.deviations.setdefault(description, []).append(case)


def check_table(args, proxy, backend, report):
    for size in args.sizes:
        with open(os.path.join(args.data_dir, f"plain-{size}.bin"), "rb") as f:
            plain = f.read()
        if len(plain) != size:
            raise SystemExit(f"{args.data_dir}/plain-{size}.bin has {len(plain)} bytes, expected {size}")
        for label, range_value in range_table(size):
            expected = expected_response(size, range_value)
            for method in ("GET", "HEAD"):
                case = f"{method} size {size} {range_value} ({label})"
                reference = backend.request(method, args.bucket, f"plain-{size}", {"Range": range_value})
                if differences(reference, expected, plain, method):
                    report.deviation(deviation_text(method, label, reference, expected), f"{method} size {size} {range_value}")
                    source = "AWS S3 rules, backend deviates"
                else:
                    source = "backend"
                got = proxy.request(method, args.bucket, f"enc-{size}", {"Range": range_value})
                report.check(
                    f"{case}: s3seal matches {source}",
                    differences(got, expected, plain, method),
                    KNOWN_BUGS.get((method, label)),
                )
                if method == "GET":
                    # An object without an envelope passes through unchanged.
                    got = proxy.request(method, args.bucket, f"plain-{size}", {"Range": range_value})
                    report.check(f"{case}: s3seal passes plain-{size} through", passthrough_differences(got, reference))


def check_conditional(args, proxy, report):
    """Check If-Match and If-None-Match on a ranged GET of an encrypted object."""
    size = max(args.sizes)
    key = f"enc-{size}"
    with open(os.path.join(args.data_dir, f"plain-{size}.bin"), "rb") as f:
        plain = f.read()
    head = proxy.request("HEAD", args.bucket, key, {})
    etag = head.header("etag")
    report.check(f"HEAD {key} returns an ETag", [] if head.status == 200 and etag else [f"got {head.status}, ETag {etag}"])
    if not etag:
        return

    range_value = f"bytes=100-{CHUNK + 100}"
    expected = expected_response(size, range_value)
    got = proxy.request("GET", args.bucket, key, {"Range": range_value, "If-Match": etag})
    report.check(f"GET {key} {range_value} with If-Match of its ETag: 206", differences(got, expected, plain, "GET"))

    got = proxy.request("GET", args.bucket, key, {"If-Match": etag})
    report.check(f"GET {key} with If-Match of its ETag: 200", differences(got, expected_response(size, ""), plain, "GET"))

    got = proxy.request("GET", args.bucket, key, {"Range": range_value, "If-Match": '"0123456789abcdef0123456789abcdef"'})
    diffs = [] if got.status == 412 else [f"status: expected 412, got {got.status}"]
    if got.error_code() != "PreconditionFailed":
        diffs.append(f"error code: expected PreconditionFailed, got {got.error_code()}")
    report.check(f"GET {key} {range_value} with a wrong If-Match: 412 PreconditionFailed", diffs)

    got = proxy.request("GET", args.bucket, key, {"Range": range_value, "If-None-Match": etag})
    diffs = [] if got.status == 304 else [f"status: expected 304, got {got.status}"]
    if got.body:
        diffs.append(f"body: expected none, got {len(got.body)} bytes")
    report.check(f"GET {key} {range_value} with If-None-Match of its ETag: 304", diffs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", required=True, help="s3seal endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--backend", required=True, help="backend endpoint, http://HOST:PORT or https://HOST:PORT")
    parser.add_argument("--region", required=True, help="region both endpoints sign for")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--data-dir", required=True, help="folder with plain-SIZE.bin, the uploaded plaintexts")
    parser.add_argument("sizes", nargs="+", type=int, help="object sizes in bytes, as uploaded by ranges.sh")
    args = parser.parse_args()

    # Keys come from the environment so that they do not show in the process list.
    try:
        proxy = S3Client(args.proxy, os.environ["RANGES_CLIENT_ACCESS_KEY"], os.environ["RANGES_CLIENT_SECRET_KEY"], args.region)
        backend = S3Client(args.backend, os.environ["RANGES_BACKEND_ACCESS_KEY"], os.environ["RANGES_BACKEND_SECRET_KEY"], args.region,
                           ca_file=os.environ.get("BACKEND_CA_FILE") or None)
    except KeyError as e:
        raise SystemExit(f"environment variable {e.args[0]} is not set; ranges.sh sets it") from None

    report = Report(strict=os.environ.get("S3SEAL_TEST_STRICT") == "1")
    check_table(args, proxy, backend, report)
    check_conditional(args, proxy, report)

    for description, cases in report.deviations.items():
        print(f"# backend deviation from AWS S3: {description} ({len(cases)} cases, e.g. {cases[0]})")
    print(f"# checks {report.checks} failures {report.failures} known {report.known}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
