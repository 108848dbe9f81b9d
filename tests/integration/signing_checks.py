"""Protocol and negative checks of s3seal with hand-built requests, run by
signing.sh.

Requests go over a raw socket to 127.0.0.1 so that every byte is under the
test's control: SigV4 header and presigned signatures, the aws-chunked chunk
signature chain and trailer signature, HTTP chunked framing, Expect:
100-continue and virtual-hosted Host headers. The signing follows the AWS
documentation "Signature Version 4 signing process" and "Signature
calculations for the Authorization header: Transferring payload in multiple
chunks" (S3 API reference).

Settings come from the environment: PROXY_ENDPOINT (http://127.0.0.1:PORT),
CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION, BUCKET, BASE_DOMAIN (the
S3SEAL_BASE_DOMAINS entry) and the backend settings that clients_py.py reads.
Prints one "ok - ..." or "not ok - ..." line per check.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients_py  # noqa: E402  (backend checks shared with objects_check.py)
from clients_py import report  # noqa: E402

ENDPOINT = urllib.parse.urlsplit(os.environ["PROXY_ENDPOINT"])
HOST, PORT = ENDPOINT.hostname, ENDPOINT.port
ACCESS_KEY = os.environ["CLIENT_ACCESS_KEY"]
SECRET_KEY = os.environ["CLIENT_SECRET_KEY"]
REGION = os.environ["REGION"]
BUCKET = os.environ["BUCKET"]
BASE_DOMAIN = os.environ["BASE_DOMAIN"]
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Every response, for the Date header check at the end: (request line, headers).
RESPONSES = []


# ---------------------------------------------------------------- checksums

def _crc_table(poly, width):
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _crc_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _crc_table(0x9A6C9329AC4BC9B5, 64)


def _reflected_crc(data, table, width):
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def checksum_b64(algorithm, data):
    """Return the base64 value of x-amz-checksum-ALGORITHM for DATA."""
    if algorithm == "crc32":
        raw = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif algorithm == "crc32c":
        raw = _reflected_crc(data, _CRC32C_TABLE, 32).to_bytes(4, "big")
    elif algorithm == "crc64nvme":
        raw = _reflected_crc(data, _CRC64NVME_TABLE, 64).to_bytes(8, "big")
    elif algorithm == "sha1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(f"unknown checksum algorithm {algorithm}")
    return base64.b64encode(raw).decode()


# Check values for "123456789" from the CRC catalogue (CRC-32/ISCSI and
# CRC-64/NVME), so that a wrong table fails here and not as an s3seal bug.
assert _reflected_crc(b"123456789", _CRC32C_TABLE, 32) == 0xE3069283
assert _reflected_crc(b"123456789", _CRC64NVME_TABLE, 64) == 0xAE8B14860A799888


# ------------------------------------------------------------------ SigV4

def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


def uri_encode(text, keep_slash):
    return urllib.parse.quote(text, safe="/~" if keep_slash else "~")


def canonical_query(pairs):
    encoded = sorted((uri_encode(k, False), uri_encode(v, False)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


class Signer:
    """SigV4 for one request time; keeps the scope and signing key."""

    def __init__(self, when=None, secret=SECRET_KEY, region=REGION):
        when = when or datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        self.day = when.strftime("%Y%m%d")
        self.scope = f"{self.day}/{region}/s3/aws4_request"
        key = _hmac(("AWS4" + secret).encode(), self.day)
        for part in (region, "s3", "aws4_request"):
            key = _hmac(key, part)
        self.key = key

    def signature(self, string_to_sign):
        return hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def canonical_request(self, method, path, query, headers, payload_hash):
        names = sorted(headers)
        canonical_headers = "".join(f"{n}:{' '.join(str(headers[n]).split())}\n" for n in names)
        return "\n".join([method, path, canonical_query(query), canonical_headers, ";".join(names), payload_hash]), ";".join(names)

    def sign_headers(self, method, path, query, headers, payload_hash):
        """Add x-amz-date, x-amz-content-sha256 and Authorization to HEADERS
        (lower-case names, all signed). Return the seed signature."""
        headers["x-amz-date"] = self.amz_date
        headers["x-amz-content-sha256"] = payload_hash
        canonical, signed = self.canonical_request(method, path, query, headers, payload_hash)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        sig = self.signature(to_sign)
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{self.scope}, "
                                    f"SignedHeaders={signed}, Signature={sig}")
        return sig

    def presign(self, method, path, host, expires, extra_query=()):
        query = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                 ("X-Amz-Credential", f"{ACCESS_KEY}/{self.scope}"),
                 ("X-Amz-Date", self.amz_date),
                 ("X-Amz-Expires", str(expires)),
                 ("X-Amz-SignedHeaders", "host"), *extra_query]
        canonical, _ = self.canonical_request(method, path, query, {"host": host}, "UNSIGNED-PAYLOAD")
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        return query + [("X-Amz-Signature", self.signature(to_sign))]

    def chunk_signature(self, previous, data):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous,
                             EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        return self.signature(to_sign)

    def trailer_signature(self, previous, trailer_text):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous,
                             hashlib.sha256(trailer_text.encode()).hexdigest()])
        return self.signature(to_sign)


# ----------------------------------------------------------- raw HTTP I/O

class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def code(self):
        match = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return match.group(1).decode() if match else ""

    def describe(self):
        return f"{self.status} {self.code() or self.body[:120]!r}"


class Connection:
    def __init__(self, timeout=15):
        self.sock = socket.create_connection((HOST, PORT), timeout=timeout)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by s3seal")
        self.buffer += data

    def _read_line(self):
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_response(self, method, request_line):
        status_line = self._read_line().decode("latin-1")
        _, status, reason = (status_line.split(" ", 2) + [""])[:3]
        headers = {}
        while True:
            line = self._read_line().decode("latin-1")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status)
        body = b""
        if method == "HEAD" or status in (100, 204, 304):
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    while self._read_line():
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                body, self.buffer = self.buffer, b""
        if status != 100:
            RESPONSES.append((request_line, headers))
        return Response(status, reason, headers, body)

    def close(self):
        self.sock.close()


def build_head(method, target, headers):
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def target_of(path, query):
    return path + ("?" + canonical_query(query) if query else "")


def request(method, path, query=(), headers=None, body=b"", payload_hash=None, signer=None,
            host=None, sign=True, raw_body=None, content_length=True):
    """Send one signed request on a fresh connection and return the Response.

    PATH is already URI-encoded. BODY is the payload; RAW_BODY, when given,
    is sent instead of BODY (an aws-chunked or HTTP-chunked encoding)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers["host"] = host or f"{HOST}:{PORT}"
    wire = body if raw_body is None else raw_body
    if content_length and "transfer-encoding" not in headers:
        headers["content-length"] = str(len(wire))
    if sign:
        (signer or Signer()).sign_headers(method, path, list(query), headers,
                                          payload_hash or hashlib.sha256(body).hexdigest())
    headers["connection"] = "close"
    conn = Connection()
    try:
        conn.send(build_head(method, target_of(path, query), headers) + wire)
        return conn.read_response(method, f"{method} {path}")
    finally:
        conn.close()


def object_path(key, bucket=BUCKET):
    return "/" + bucket + "/" + uri_encode(key, True)


def put(key, data, headers=None, **kw):
    return request("PUT", object_path(key), headers=headers, body=data, **kw)


def get(key, **kw):
    return request("GET", object_path(key), **kw)


def delete(key):
    return request("DELETE", object_path(key))


# --------------------------------------------------------- body encodings

def split_chunks(data, sizes):
    out, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        out.append(data[pos:pos + size])
        pos += size
    if pos < len(data):
        out.append(data[pos:])
    return out


def signed_chunked_body(signer, seed, chunks, trailer=None, bad_chunk=None, bad_trailer_sig=False):
    """Encode CHUNKS as STREAMING-AWS4-HMAC-SHA256-PAYLOAD (or -TRAILER when
    TRAILER is a (name, value) pair). BAD_CHUNK is the index of a chunk whose
    signature is replaced by a wrong one."""
    previous, out = seed, b""
    for index, chunk in enumerate(chunks + [b""]):
        sig = signer.chunk_signature(previous, chunk)
        previous = sig
        if index == bad_chunk:
            sig = "0" * 64
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk
        if chunk or trailer is None:
            out += b"\r\n"
    if trailer is not None:
        name, value = trailer
        trailer_sig = signer.trailer_signature(previous, f"{name}:{value}\n")
        if bad_trailer_sig:
            trailer_sig = "f" * 64
        out += f"{name}:{value}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n".encode()
    return out


def unsigned_trailer_body(chunks, name, value):
    out = b""
    for chunk in chunks:
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    return out + f"0\r\n{name}:{value}\r\n\r\n".encode()


def http_chunked(data, piece=8192):
    out = b""
    for pos in range(0, len(data), piece):
        part = data[pos:pos + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def put_signed_chunked(key, data, chunk_sizes, trailer_algorithm=None, bad_chunk=None,
                       bad_trailer_sig=False, trailer_value=None):
    signer = Signer()
    chunks = split_chunks(data, chunk_sizes)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    trailer = None
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    if trailer_algorithm:
        mode += "-TRAILER"
        name = f"x-amz-checksum-{trailer_algorithm}"
        headers["x-amz-trailer"] = name
        trailer = (name, trailer_value or checksum_b64(trailer_algorithm, data))
    # The encoded length depends only on the chunk sizes, not on signature
    # values, so a placeholder seed gives the Content-Length to sign.
    headers["content-length"] = str(len(signed_chunked_body(signer, "0" * 64, chunks, trailer)))
    headers["host"] = f"{HOST}:{PORT}"
    seed = signer.sign_headers("PUT", object_path(key), [], headers, mode)
    body = signed_chunked_body(signer, seed, chunks, trailer, bad_chunk, bad_trailer_sig)
    assert len(body) == int(headers["content-length"])
    return send_signed("PUT", object_path(key), headers, body)


def send_signed(method, path, headers, body):
    """Send HEADERS (already signed) and BODY as they are."""
    headers = dict(headers)
    headers["connection"] = "close"
    conn = Connection()
    try:
        conn.send(build_head(method, path, headers) + body)
        return conn.read_response(method, f"{method} {path}")
    finally:
        conn.close()


def put_unsigned_trailer(key, data, algorithm="crc32", value=None, te_chunked=True,
                         decoded_length=None):
    name = f"x-amz-checksum-{algorithm}"
    encoded = unsigned_trailer_body(split_chunks(data, [65536] * 64), name,
                                    value or checksum_b64(algorithm, data))
    headers = {"content-encoding": "aws-chunked", "x-amz-trailer": name,
               "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length)}
    if te_chunked:
        headers["transfer-encoding"] = "chunked"
        wire = http_chunked(encoded)
    else:
        wire = encoded
    return request("PUT", object_path(key), headers=headers, raw_body=wire,
                   payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")


# ------------------------------------------------------------- assertions

BACKEND = clients_py.backend_client()


def expect(resp, status, code, name):
    ok = resp.status == status and (code is None or resp.code() == code)
    report(ok, name, f"expected {status} {code or ''}, got {resp.describe()}")


def expect_roundtrip(key, data, name):
    resp = get(key)
    ok = resp.status == 200 and resp.body == data
    report(ok, f"{name}: GET returns the bytes", f"GET {resp.status}, {len(resp.body)} bytes, expected {len(data)}")
    clients_py.check_stored(name, BUCKET, key, len(data), BACKEND)


def expect_absent(key, name):
    clients_py.check_absent(name, BUCKET, key, BACKEND)


def payload(size, seed):
    return hashlib.shake_256(seed.encode()).digest(size)


# ------------------------------------------------------------------ cases

def check_signed_chunks():
    data = payload(150000, "signed-chunks")
    resp = put_signed_chunked("chunked/signed-ok", data, [65536, 65536])
    expect(resp, 200, None, "signed aws-chunked, 3 chunks: PUT succeeds")
    expect_roundtrip("chunked/signed-ok", data, "signed aws-chunked, 3 chunks")

    resp = put_signed_chunked("chunked/signed-bad", data, [65536, 65536], bad_chunk=1)
    expect(resp, 403, "SignatureDoesNotMatch", "signed aws-chunked, bad middle chunk signature: 403")
    expect_absent("chunked/signed-bad", "signed aws-chunked, bad middle chunk signature")


def check_signed_trailers():
    data = payload(100000, "signed-trailer")
    for algorithm in ("crc32c", "crc64nvme", "sha1", "sha256"):
        key = f"trailer/signed-{algorithm}"
        name = f"signed trailer x-amz-checksum-{algorithm}"
        resp = put_signed_chunked(key, data, [65536], trailer_algorithm=algorithm)
        expect(resp, 200, None, f"{name}: PUT succeeds")
        echoed = resp.headers.get(f"x-amz-checksum-{algorithm}")
        report(echoed == checksum_b64(algorithm, data), f"{name}: response echoes the checksum",
               f"got {echoed!r}")
        expect_roundtrip(key, data, name)

        bad_value = checksum_b64(algorithm, data + b"x")
        resp = put_signed_chunked(key + "-bad", data, [65536], trailer_algorithm=algorithm, trailer_value=bad_value)
        expect(resp, 400, "BadDigest", f"{name}, wrong value: 400 BadDigest")
        expect_absent(key + "-bad", f"{name}, wrong value")

    resp = put_signed_chunked("trailer/signed-badsig", data, [65536], trailer_algorithm="crc32c", bad_trailer_sig=True)
    expect(resp, 403, "SignatureDoesNotMatch", "signed trailer, wrong trailer signature: 403")
    expect_absent("trailer/signed-badsig", "signed trailer, wrong trailer signature")


def check_unsigned_trailer():
    data = payload(200000, "unsigned-trailer")
    resp = put_unsigned_trailer("trailer/unsigned-ok", data)
    expect(resp, 200, None, "unsigned trailer in HTTP chunked: PUT succeeds")
    expect_roundtrip("trailer/unsigned-ok", data, "unsigned trailer in HTTP chunked")

    resp = put_unsigned_trailer("trailer/unsigned-bad", data, value=checksum_b64("crc32", data[:-1]))
    expect(resp, 400, "BadDigest", "unsigned trailer in HTTP chunked, wrong CRC32: 400 BadDigest")
    expect_absent("trailer/unsigned-bad", "unsigned trailer in HTTP chunked, wrong CRC32")

    for delta, label in ((-1, "one byte short"), (1, "one byte long")):
        key = f"trailer/decoded-{'short' if delta < 0 else 'long'}"
        resp = put_unsigned_trailer(key, data, te_chunked=False, decoded_length=len(data) + delta)
        report(400 <= resp.status < 500, f"x-amz-decoded-content-length {label}: 4xx", f"got {resp.describe()}")
        expect_absent(key, f"x-amz-decoded-content-length {label}")


def check_empty_trailer_body():
    """An empty aws-chunked body inside HTTP chunked framing must be answered
    only after the terminating HTTP chunk, as the JavaScript SDK v3 sends a
    0-byte stream body in two writes."""
    name = "x-amz-checksum-crc32"
    label = "empty aws-chunked body in HTTP chunked"
    inner = unsigned_trailer_body([], name, checksum_b64("crc32", b""))
    headers = {"content-encoding": "aws-chunked", "x-amz-trailer": name, "x-amz-decoded-content-length": "0",
               "transfer-encoding": "chunked", "host": f"{HOST}:{PORT}"}
    path = object_path("trailer/empty")
    Signer().sign_headers("PUT", path, [], headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    conn = Connection()
    try:
        conn.send(build_head("PUT", path, headers) + f"{len(inner):x}\r\n".encode() + inner + b"\r\n")
        conn.sock.settimeout(1.0)
        try:
            early = conn.read_response("PUT", f"PUT {path}")
            report(False, f"{label}: no response before the terminating chunk",
                   f"got {early.describe()} before the client sent 0\\r\\n\\r\\n")
            return
        except socket.timeout:
            report(True, f"{label}: no response before the terminating chunk")
        conn.sock.settimeout(10)
        conn.send(b"0\r\n\r\n")
        expect(conn.read_response("PUT", f"PUT {path}"), 200, None, f"{label}: 200 after the terminating chunk")
    except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout) as err:
        report(False, f"{label}: 200 after the terminating chunk", f"connection failed: {err!r}")
    finally:
        conn.close()
    expect_roundtrip("trailer/empty", b"", label)


def check_digests():
    old = payload(1000, "old-content")
    new = payload(70000, "new-content")
    resp = put("digest/existing", old)
    expect(resp, 200, None, "digest: put the object to overwrite")

    bad_md5 = base64.b64encode(hashlib.md5(new + b"x").digest()).decode()
    resp = put("digest/md5", new, headers={"Content-MD5": bad_md5})
    expect(resp, 400, "BadDigest", "wrong Content-MD5: 400 BadDigest")
    expect_absent("digest/md5", "wrong Content-MD5")

    resp = put("digest/sha256", new, payload_hash=hashlib.sha256(new + b"x").hexdigest())
    expect(resp, 400, "XAmzContentSHA256Mismatch", "x-amz-content-sha256 mismatch: 400 XAmzContentSHA256Mismatch")
    expect_absent("digest/sha256", "x-amz-content-sha256 mismatch")

    resp = put("digest/existing", new, headers={"Content-MD5": bad_md5})
    expect(resp, 400, "BadDigest", "failed overwrite with wrong Content-MD5: 400")
    resp = put("digest/existing", new, payload_hash=hashlib.sha256(new + b"x").hexdigest())
    expect(resp, 400, "XAmzContentSHA256Mismatch", "failed overwrite with wrong x-amz-content-sha256: 400")
    resp = put_signed_chunked("digest/existing", new, [65536], bad_chunk=0)
    expect(resp, 403, "SignatureDoesNotMatch", "failed overwrite with wrong chunk signature: 403")
    expect_roundtrip("digest/existing", old, "object after failed overwrites keeps its old content")


def check_presigned():
    data = payload(5000, "presigned")
    put("presign/object", data)
    host = f"{HOST}:{PORT}"
    path = object_path("presign/object")

    def send(query):
        return request("GET", path, query=query, sign=False, content_length=False)

    resp = send(Signer().presign("GET", path, host, 300))
    report(resp.status == 200 and resp.body == data, "presigned GET, valid: 200 with the bytes", resp.describe())

    query = Signer().presign("GET", path, host, 1)
    time.sleep(2)
    expect(send(query), 403, None, "presigned GET, expired (X-Amz-Expires=1, 2 s later): 403")

    query = [(k, "301" if k == "X-Amz-Expires" else v) for k, v in Signer().presign("GET", path, host, 300)]
    expect(send(query), 403, "SignatureDoesNotMatch", "presigned GET, tampered X-Amz-Expires: 403")

    resp = send(Signer().presign("GET", path, host, 604801))
    report(resp.status == 400, "presigned GET, X-Amz-Expires 604801: 400", resp.describe())


def check_skew_and_date():
    signer = Signer(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20))
    resp = request("GET", object_path("presign/object"), signer=signer)
    expect(resp, 403, "RequestTimeTooSkewed", "x-amz-date 20 minutes off: 403 RequestTimeTooSkewed")
    for element in ("RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"):
        report(f"<{element}>".encode() in resp.body, f"RequestTimeTooSkewed XML has {element}", resp.body[:300])


def check_date_headers():
    now = datetime.datetime.now(datetime.timezone.utc)
    bad = []
    for request_line, headers in RESPONSES:
        try:
            date = email.utils.parsedate_to_datetime(headers["date"])
            if abs((date - now).total_seconds()) > 600:
                bad.append(f"{request_line}: Date {headers['date']} is far from now")
        except (KeyError, TypeError, ValueError):
            bad.append(f"{request_line}: Date {headers.get('date')!r}")
    report(not bad and len(RESPONSES) > 20, f"every response ({len(RESPONSES)}) has a valid Date header", "; ".join(bad[:5]))


def check_expect_continue():
    data = payload(3000, "expect")
    for good in (False, True):
        label = "Expect: 100-continue, " + ("good signature" if good else "bad signature")
        key = f"expect/{'good' if good else 'bad'}"
        headers = {"host": f"{HOST}:{PORT}", "content-length": str(len(data)), "expect": "100-continue"}
        signer = Signer() if good else Signer(secret="wrong" + SECRET_KEY)
        signer.sign_headers("PUT", object_path(key), [], headers, hashlib.sha256(data).hexdigest())
        conn = Connection(timeout=10)
        try:
            conn.send(build_head("PUT", object_path(key), headers))
            first = conn.read_response("PUT", f"PUT {object_path(key)}")
            if good:
                report(first.status == 100, f"{label}: interim 100 first", f"got {first.describe()}")
                conn.send(data)
                final = conn.read_response("PUT", f"PUT {object_path(key)}")
                expect(final, 200, None, f"{label}: final 200")
                expect_roundtrip(key, data, label)
                continue
            expect(first, 403, "SignatureDoesNotMatch", f"{label}: final 403 without an interim 100")
            # The body was never sent. s3seal may keep the connection for a
            # next request or close it, but must do one of them.
            try:
                next_head = {"host": f"{HOST}:{PORT}", "connection": "close"}
                Signer().sign_headers("GET", object_path("presign/object"), [], next_head, EMPTY_SHA256)
                conn.send(build_head("GET", object_path("presign/object"), next_head))
                following = conn.read_response("GET", "GET after rejected 100-continue")
                report(following.status == 200, f"{label}: connection serves the next request",
                       f"got {following.describe()}")
            except (EOFError, ConnectionResetError, BrokenPipeError) as err:
                closed_cleanly = first.headers.get("connection", "").lower() == "close"
                report(closed_cleanly, f"{label}: connection closed with Connection: close",
                       f"closed ({err!r}) but the 403 did not say Connection: close")
            except socket.timeout:
                report(False, f"{label}: connection serves the next request or closes",
                       "no answer within 10 s and no close")
            expect_absent(key, label)
        except (EOFError, ConnectionResetError, socket.timeout) as err:
            report(False, label, f"connection failed: {err!r}")
        finally:
            conn.close()


def check_keys():
    special = ["keys/with space", "keys/plus+sign", "keys/percent%20sign", "keys/equals=sign",
               "keys/amp&sand", "keys/question?mark", "keys/utf8-\u00e9\u4e2d\U0001f600",
               "keys/a//b", "keys/a/./b", "keys/trail/", "keys/trail"]
    long_key = "keys/" + "k" * (1024 - len("keys/"))
    assert len(long_key.encode()) == 1024
    expected = {}
    for index, key in enumerate(special + [long_key]):
        data = payload(100 + index, key)
        resp = put(key, data)
        if resp.status != 200:
            report(False, f"key {clients_py.short(key)!r}: PUT", resp.describe())
            continue
        got = get(key)
        report(got.status == 200 and got.body == data, f"key {clients_py.short(key)!r}: round-trips", got.describe())
        expected[key] = len(data)

    # ListObjectsV2 with encoding-type=url, so that every key survives XML.
    listed = {}
    token = None
    while True:
        query = [("list-type", "2"), ("prefix", "keys/"), ("encoding-type", "url")]
        if token:
            query.append(("continuation-token", token))
        resp = request("GET", "/" + BUCKET, query=query)
        if resp.status != 200:
            report(False, "keys: ListObjectsV2", resp.describe())
            return
        root = ET.fromstring(resp.body)
        for item in root.findall(f"{S3_NS}Contents"):
            listed[urllib.parse.unquote(item.find(f"{S3_NS}Key").text)] = int(item.find(f"{S3_NS}Size").text)
        token = root.findtext(f"{S3_NS}NextContinuationToken")
        if not token:
            break
    report(listed == expected, "keys: ListObjectsV2 lists every key once as a distinct object",
           f"missing {sorted(set(expected) - set(listed))}, extra {sorted(set(listed) - set(expected))}")

    too_long = "keys/" + "k" * (1025 - len("keys/"))
    resp = put(too_long, b"x")
    report(400 <= resp.status < 500, "1025-byte key: PUT is rejected with 4xx", resp.describe())
    # RGW returns 400 to HeadObject of a key over 1024 bytes.
    clients_py.check_absent("1025-byte key", BUCKET, too_long, BACKEND, absent_statuses=(400, 404))


def check_virtual_hosted():
    data = payload(2000, "vhost")
    host = f"{BUCKET}.{BASE_DOMAIN}:{PORT}"
    resp = request("PUT", "/vhost/object", body=data, host=host)
    expect(resp, 200, None, "virtual-hosted PUT")
    got = get("vhost/object")
    report(got.status == 200 and got.body == data, "virtual-hosted PUT: path-style GET returns the bytes", got.describe())
    clients_py.check_stored("virtual-hosted PUT", BUCKET, "vhost/object", len(data), BACKEND)
    got = request("GET", "/vhost/object", host=host)
    report(got.status == 200 and got.body == data, "virtual-hosted GET returns the bytes", got.describe())
    got = request("GET", "/", query=[("list-type", "2"), ("prefix", "vhost/")], host=host)
    report(got.status == 200 and b"<Key>vhost/object</Key>" in got.body, "virtual-hosted ListObjectsV2", got.describe())

    dotted = os.environ["DOTTED_BUCKET"]
    dotted_host = f"{dotted}.{BASE_DOMAIN}:{PORT}"
    resp = request("PUT", "/dotted/object", body=data, host=dotted_host)
    expect(resp, 200, None, "virtual-hosted PUT to a dotted bucket")
    got = request("GET", "/dotted/object", host=dotted_host)
    report(got.status == 200 and got.body == data, "virtual-hosted GET from a dotted bucket", got.describe())
    clients_py.check_stored("virtual-hosted dotted bucket", dotted, "dotted/object", len(data), BACKEND)
    got = request("GET", object_path("dotted/object", dotted))
    report(got.status == 200 and got.body == data, "path-style GET from the dotted bucket", got.describe())

    plain = request("GET", "/" + BUCKET, query=[("list-type", "2"), ("prefix", "vhost/")])
    slash = request("GET", "/" + BUCKET + "/", query=[("list-type", "2"), ("prefix", "vhost/")])
    report(plain.status == 200 and slash.status == 200 and plain.body == slash.body,
           "/BUCKET and /BUCKET/ return the same listing", f"{plain.describe()} vs {slash.describe()}")
    plain = request("HEAD", "/" + BUCKET)
    slash = request("HEAD", "/" + BUCKET + "/")
    report(plain.status == slash.status == 200, "HEAD /BUCKET and /BUCKET/ both return 200",
           f"{plain.status} vs {slash.status}")


def check_rejected_protocols():
    # Signature Version 2, from aws-cli 1.45 "s3 presign" (its default for
    # presigned S3 URLs).
    put("sigv2/object", b"sigv2")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION=REGION)
    out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", os.environ["PROXY_ENDPOINT"],
                          "s3", "presign", f"s3://{BUCKET}/sigv2/object"],
                         env=env, capture_output=True, text=True, check=False)
    url = out.stdout.strip()
    if out.returncode != 0 or "Signature=" not in url or "X-Amz-Signature" in url:
        report(False, "SigV2 presigned URL from aws-cli 1.45", f"not a SigV2 URL: {url!r} {out.stderr[-300:]!r}")
    else:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        resp = request("GET", parts.path, query=query, sign=False, content_length=False)
        expect(resp, 400, "InvalidRequest", "SigV2 presigned GET: 400 InvalidRequest")
    resp = request("GET", object_path("sigv2/object"), sign=False, content_length=False,
                   headers={"Authorization": f"AWS {ACCESS_KEY}:c2lnbmF0dXJlLXYyLXRlc3Q=",
                            "Date": email.utils.formatdate(usegmt=True)})
    expect(resp, 400, "InvalidRequest", "SigV2 Authorization header: 400 InvalidRequest")

    # A browser form carries its SigV4 policy signature in form fields and
    # sends no Authorization header. The policy here is not valid, but s3seal
    # does not support POST uploads at all, so 501 is expected before any
    # signature check.
    boundary = "s3sealboundary"
    signer = Signer()
    fields = {"key": "post/object", "x-amz-algorithm": "AWS4-HMAC-SHA256",
              "x-amz-credential": f"{ACCESS_KEY}/{signer.scope}", "x-amz-date": signer.amz_date,
              "policy": base64.b64encode(b'{"conditions": []}').decode(), "x-amz-signature": "0" * 64}
    form = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in fields.items())
    form += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
             f"Content-Type: text/plain\r\n\r\nplaintext body\r\n--{boundary}--\r\n").encode()
    form_headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    resp = request("POST", "/" + BUCKET, body=form, sign=False, headers=form_headers)
    expect(resp, 501, "NotImplemented", "browser POST upload (policy in the form): 501 NotImplemented")
    resp = request("POST", "/" + BUCKET, body=form, headers=form_headers)
    expect(resp, 501, "NotImplemented", "POST upload with a SigV4 Authorization header: 501 NotImplemented")
    expect_absent("post/object", "browser POST upload")

    data = payload(1000, "no-length")
    resp = request("PUT", object_path("nolength/object"), headers={"transfer-encoding": "chunked"},
                   body=data, raw_body=http_chunked(data), payload_hash=hashlib.sha256(data).hexdigest())
    expect(resp, 411, "MissingContentLength", "PUT with HTTP chunked and no x-amz-decoded-content-length: 411")
    expect_absent("nolength/object", "PUT with HTTP chunked and no length")


def main():
    for check in (check_signed_chunks, check_signed_trailers, check_unsigned_trailer,
                  check_empty_trailer_body, check_digests,
                  check_presigned, check_skew_and_date, check_expect_continue, check_keys,
                  check_virtual_hosted, check_rejected_protocols):
        try:
            check()
        except Exception as err:  # one broken case must not hide the others
            report(False, f"{check.__name__} ran to the end", repr(err))
    check_date_headers()
    return 1 if clients_py.failures else 0


if __name__ == "__main__":
    sys.exit(main())
