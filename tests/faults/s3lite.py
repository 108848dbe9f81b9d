"""A small S3 client on the Python standard library for the fault, tamper
and load tests: SigV4 signing (UNSIGNED-PAYLOAD), path-style requests over
plain HTTP to loopback, and reads that keep every byte of a response that is
cut short, so that a test can compare them with the original plaintext.

Run with /usr/bin/python3 (Debian). Nothing here imports boto3.
"""

import datetime
import hashlib
import hmac
import http.client
import socket
import urllib.parse
import xml.etree.ElementTree as ET

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text):
    return urllib.parse.quote(text, safe="-_.~")


class Response:
    """A response and how it ended: complete is False when the body stopped
    before its Content-Length (or before the last chunk)."""

    def __init__(self, status, reason, headers, body, complete, error=""):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.complete = complete
        self.error = error

    def code(self):
        """Return the S3 error code of an XML error body, or ""."""
        if not self.body.startswith(b"<?xml") and not self.body.startswith(b"<Error"):
            return ""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return ""
        node = root.find("Code")
        return node.text if node is not None and node.text else ""

    def describe(self):
        status = "no response" if self.status is None else f"{self.status} {self.code() or self.reason}"
        cut = "" if self.complete else f", cut after {len(self.body)} body bytes"
        return f"{status}{cut}{': ' + self.error if self.error else ''}"


class Client:
    def __init__(self, endpoint, access_key, secret_key, region, timeout=30):
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme != "http":
            raise ValueError(f"only http:// endpoints are supported, got {endpoint}")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.host_header = parsed.netloc
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.timeout = timeout

    def sign(self, method, path, query, headers):
        """Add x-amz-date, x-amz-content-sha256 and Authorization to HEADERS (a dict with lower-case names)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers["host"] = self.host_header
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        names = sorted(headers)
        canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query))
        canonical = "\n".join(
            [
                method,
                urllib.parse.quote(path, safe="/-_.~"),
                canonical_query,
                "".join(f"{n}:{' '.join(str(headers[n]).split())}\n" for n in names),
                ";".join(names),
                "UNSIGNED-PAYLOAD",
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(("AWS4" + self.secret_key).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return headers

    def target(self, path, query):
        quoted = urllib.parse.quote(path, safe="/-_.~")
        if not query:
            return quoted
        return quoted + "?" + "&".join(f"{_encode(k)}={_encode(v)}" if v != "" else _encode(k) for k, v in query)

    def request(self, method, path, query=(), body=b"", headers=None, conn=None):
        """Send one request and read the whole response, keeping a partial body.

        With CONN (an http.client.HTTPConnection) the request reuses it;
        otherwise a new connection is opened and closed."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if body or method in ("PUT", "POST"):
            headers["content-length"] = str(len(body))
        self.sign(method, path, query, headers)
        own = conn is None
        if own:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.request(method, self.target(path, query), body=body or None, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                return Response(None, "", {}, b"", False, f"{type(exc).__name__}: {exc}")
            return read_response(resp, conn)
        finally:
            if own:
                conn.close()

    def open_connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    # ---- operations used by the tests ----

    def put(self, bucket, key, body, headers=None, conn=None):
        return self.request("PUT", f"/{bucket}/{key}", body=body, headers=headers, conn=conn)

    def get(self, bucket, key, byte_range=None, conn=None, query=()):
        headers = {"range": byte_range} if byte_range else None
        return self.request("GET", f"/{bucket}/{key}", query=query, headers=headers, conn=conn)

    def head(self, bucket, key, conn=None, query=()):
        return self.request("HEAD", f"/{bucket}/{key}", query=query, conn=conn)

    def delete(self, bucket, key, conn=None):
        return self.request("DELETE", f"/{bucket}/{key}", conn=conn)

    def create_bucket(self, bucket):
        return self.request("PUT", f"/{bucket}")

    def list_keys(self, bucket, conn=None, prefix=""):
        """Return (response, list of (key, size)) of list-objects-v2 (first page only)."""
        query = [("list-type", "2")] + ([("prefix", prefix)] if prefix else [])
        resp = self.request("GET", f"/{bucket}", query=query, conn=conn)
        keys = []
        if resp.status == 200:
            root = ET.fromstring(resp.body)
            for item in root.iter(S3_NS + "Contents"):
                keys.append((item.findtext(S3_NS + "Key"), int(item.findtext(S3_NS + "Size"))))
        return resp, keys

    def list_uploads(self, bucket):
        """Return (response, list of (key, upload id)) of the bucket's open multipart uploads."""
        resp = self.request("GET", f"/{bucket}", query=[("uploads", "")])
        uploads = []
        if resp.status == 200:
            root = ET.fromstring(resp.body)
            for item in root.iter(S3_NS + "Upload"):
                uploads.append((item.findtext(S3_NS + "Key"), item.findtext(S3_NS + "UploadId")))
        return resp, uploads

    def multipart_put(self, bucket, key, parts, metadata):
        """Store PARTS (a list of bytes) as one multipart upload with user METADATA; return the final response."""
        headers = {f"x-amz-meta-{name}": value for name, value in metadata.items()}
        resp = self.request("POST", f"/{bucket}/{key}", query=[("uploads", "")], headers=headers)
        if resp.status != 200:
            return resp
        upload_id = ET.fromstring(resp.body).findtext(S3_NS + "UploadId")
        etags = []
        for number, data in enumerate(parts, start=1):
            query = [("partNumber", str(number)), ("uploadId", upload_id)]
            resp = self.request("PUT", f"/{bucket}/{key}", query=query, body=data)
            if resp.status != 200:
                self.request("DELETE", f"/{bucket}/{key}", query=[("uploadId", upload_id)])
                return resp
            etags.append(resp.headers.get("etag"))
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, start=1)
        ) + "</CompleteMultipartUpload>"
        return self.request("POST", f"/{bucket}/{key}", query=[("uploadId", upload_id)], body=xml.encode())


def read_response(resp, conn):
    """Read RESP to its end, or to the point where the connection broke."""
    headers = {k.lower(): v for k, v in resp.getheaders()}
    chunks = []
    complete = True
    error = ""
    try:
        while True:
            data = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not data:
                break
            chunks.append(data)
    except http.client.IncompleteRead as exc:
        chunks.append(exc.partial)
        complete = False
        error = "IncompleteRead"
    except (OSError, http.client.HTTPException) as exc:
        complete = False
        error = f"{type(exc).__name__}: {exc}"
    body = b"".join(chunks)
    length = headers.get("content-length")
    if complete and length is not None and resp._method != "HEAD" and len(body) != int(length):
        complete = False
        error = f"body of {len(body)} bytes, Content-Length {length}"
    if not complete or resp.will_close:
        conn.close()
    return Response(resp.status, resp.reason, headers, body, complete, error)


def raw_socket(host, port, timeout=30):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(client, method, path, query=(), headers=None):
    """Return the signed request line and headers of a request as bytes, for a raw socket."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    client.sign(method, path, query, headers)
    lines = [f"{method} {client.target(path, query)} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
