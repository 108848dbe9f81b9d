#!/usr/bin/env python3
"""Check GetObject and HeadObject with partNumber on multipart objects through s3seal.

ranges.sh runs this with the pyenv Python that has boto3 1.43. It uploads
client multipart objects through s3seal with boto3 and reads every part
back with get_object(PartNumber=N) and head_object(PartNumber=N).

The reference is what the S3 API reference documents for GetObject and
HeadObject, not the backend. Ceph RGW 16.2 ignores partNumber and returns the
whole object, so it cannot serve as the reference here. Expected for part N:
206 Partial Content, the part's bytes, Content-Range "bytes a-b/TOTAL" with
the part's plaintext offsets, Content-Length of the part,
x-amz-mp-parts-count and the ETag of the whole object. A part number the
object does not contain gives 416 InvalidPartNumber. partNumber=0 gives 400
InvalidArgument, and partNumber together with Range gives 400 InvalidRequest.

Last, it rewrites one stored object on the backend with tampered chunk
headers and checks that s3seal fails closed instead of returning other bytes.

Prints one "ok - ..." or "not ok - ..." line per check and a last line
"# checks N failures N known 0". Exits 1 if a check failed.
"""

import argparse
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

MIB = 1024 * 1024
CHUNK_PLAIN = 65536
CHUNK_STORED = 65572
HEADER_LEN = 20


class Report:
    def __init__(self):
        self.checks = 0
        self.failures = 0

    def check(self, name, diffs):
        self.checks += 1
        if diffs:
            self.failures += 1
            print(f"not ok - {name}: {'; '.join(diffs)}")
        else:
            print(f"ok - {name}")
        sys.stdout.flush()


def make_client(endpoint, access_key, secret_key, region, verify=None, checksums="when_supported"):
    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},
        signature_version="s3v4",
        request_checksum_calculation=checksums,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        verify=verify,
        config=config,
    )


def upload_multipart(client, bucket, key, parts, order):
    """Upload parts (part number to bytes) in the given order; return the ETag of the completed object."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = {}
    for number in order:
        etags[number] = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=parts[number]
        )["ETag"]
    done = client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(parts)]},
    )
    return done["ETag"]


def error_of(exc):
    resp = exc.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp.get("Error", {}).get("Code")


def part_diffs(resp, body, expected_body, first, total, count, etag, method):
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    last = first + len(expected_body) - 1
    diffs = []
    status = resp["ResponseMetadata"]["HTTPStatusCode"]
    if status != 206:
        diffs.append(f"status: expected 206, got {status}")
    if headers.get("content-range") != f"bytes {first}-{last}/{total}":
        diffs.append(f"Content-Range: expected bytes {first}-{last}/{total}, got {headers.get('content-range')}")
    if headers.get("content-length") != str(len(expected_body)):
        diffs.append(f"Content-Length: expected {len(expected_body)}, got {headers.get('content-length')}")
    if resp.get("PartsCount") != count:
        diffs.append(f"x-amz-mp-parts-count: expected {count}, got {resp.get('PartsCount')}")
    if resp.get("ETag") != etag:
        diffs.append(f"ETag: expected {etag} of the whole object, got {resp.get('ETag')}")
    if method == "GET" and body != expected_body:
        diffs.append(f"body: {len(body)} bytes that differ from the {len(expected_body)} bytes of the part")
    return diffs


def check_object(report, client, bucket, key, parts, order):
    """Upload one multipart object and check GET and HEAD of every part, and of part numbers it lacks."""
    etag = upload_multipart(client, bucket, key, parts, order)
    plain = b"".join(parts[n] for n in sorted(parts))
    count = len(parts)
    head = client.head_object(Bucket=bucket, Key=key)
    report.check(f"{key}: HEAD ETag is the one CompleteMultipartUpload returned",
                 [] if head["ETag"] == etag else [f"expected {etag}, got {head['ETag']}"])

    first = 0
    for number in sorted(parts):
        expected = parts[number]
        resp = client.get_object(Bucket=bucket, Key=key, PartNumber=number)
        body = resp["Body"].read()
        report.check(f"{key}: GET partNumber={number} ({len(expected)} bytes)",
                     part_diffs(resp, body, expected, first, len(plain), count, etag, "GET"))
        resp = client.head_object(Bucket=bucket, Key=key, PartNumber=number)
        report.check(f"{key}: HEAD partNumber={number}",
                     part_diffs(resp, b"", expected, first, len(plain), count, etag, "HEAD"))
        first += len(expected)

    missing = [n for n in range(1, max(parts) + 2) if n not in parts]
    for number in missing:
        for method in ("GET", "HEAD"):
            try:
                if method == "GET":
                    client.get_object(Bucket=bucket, Key=key, PartNumber=number)
                else:
                    client.head_object(Bucket=bucket, Key=key, PartNumber=number)
                diffs = ["expected an error, got success"]
            except botocore.exceptions.ClientError as e:
                status, code = error_of(e)
                diffs = [] if status == 416 else [f"status: expected 416, got {status}"]
                # HEAD responses have no body, so botocore names the error by its status
                expected_code = "InvalidPartNumber" if method == "GET" else "416"
                if code != expected_code:
                    diffs.append(f"error code: expected {expected_code}, got {code}")
            report.check(f"{key}: {method} partNumber={number}, a part it does not have: 416", diffs)
    return etag


def presigned_status(client, bucket, key, part_number, headers=None):
    """Send a presigned GET with a partNumber that boto3 would not send itself; return status and body."""
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key, "PartNumber": part_number}, ExpiresIn=300
    )
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_invalid_requests(report, client, bucket, key):
    status, body = presigned_status(client, bucket, key, 0)
    diffs = [] if status == 400 else [f"status: expected 400, got {status}"]
    if b"<Code>InvalidArgument</Code>" not in body:
        diffs.append(f"error code: expected InvalidArgument in {body[:200]!r}")
    report.check(f"{key}: GET partNumber=0: 400 InvalidArgument", diffs)

    try:
        client.get_object(Bucket=bucket, Key=key, PartNumber=1, Range="bytes=0-9")
        diffs = ["expected an error, got success"]
    except botocore.exceptions.ClientError as e:
        status, code = error_of(e)
        diffs = [] if status == 400 else [f"status: expected 400, got {status}"]
        if code != "InvalidRequest":
            diffs.append(f"error code: expected InvalidRequest, got {code}")
    report.check(f"{key}: GET partNumber=1 with Range: 400 InvalidRequest", diffs)


def check_single_put(report, client, bucket):
    """An object written with one PutObject has one part: the whole object. An empty one too."""
    for key, data in (("single-put", os.urandom(3 * CHUNK_PLAIN + 5)), ("single-put-empty", b"")):
        client.put_object(Bucket=bucket, Key=key, Body=data)
        resp = client.get_object(Bucket=bucket, Key=key, PartNumber=1)
        body = resp["Body"].read()
        report.check(f"{key}: GET partNumber=1 returns the whole object",
                     [] if body == data else [f"got {len(body)} bytes, expected the {len(data)} bytes uploaded"])
        resp = client.head_object(Bucket=bucket, Key=key, PartNumber=1)
        report.check(f"{key}: HEAD partNumber=1 gives the object's size",
                     [] if resp["ContentLength"] == len(data) else [f"got {resp['ContentLength']}"])
        try:
            client.get_object(Bucket=bucket, Key=key, PartNumber=2)
            diffs = ["expected an error, got success"]
        except botocore.exceptions.ClientError as e:
            status, code = error_of(e)
            diffs = [] if (status, code) == (416, "InvalidPartNumber") else [f"expected 416 InvalidPartNumber, got {status} {code}"]
        report.check(f"{key}: GET partNumber=2: 416 InvalidPartNumber", diffs)


def stored_size(plain_len):
    return plain_len // CHUNK_PLAIN * CHUNK_STORED + (plain_len % CHUNK_PLAIN + 36 if plain_len % CHUNK_PLAIN else 0)


def rewrite_stored(backend, bucket, key, part_sizes, edit):
    """Replace the stored object with edit(bytes), keeping its envelope and its stored part sizes."""
    head = backend.head_object(Bucket=bucket, Key=key)
    stored = bytearray(backend.get_object(Bucket=bucket, Key=key)["Body"].read())
    edit(stored)
    upload_id = backend.create_multipart_upload(Bucket=bucket, Key=key, Metadata=head["Metadata"])["UploadId"]
    offset = 0
    done = []
    for number, plain_len in enumerate(part_sizes, start=1):
        size = stored_size(plain_len)
        etag = backend.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                   Body=bytes(stored[offset:offset + size]))["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
        offset += size
    backend.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})


def get_outcome(client, bucket, key, number):
    """Return (status, body or None, error code) of a GET partNumber; a cut connection gives status 0."""
    try:
        resp = client.get_object(Bucket=bucket, Key=key, PartNumber=number)
        return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Body"].read(), None
    except botocore.exceptions.ClientError as e:
        status, code = error_of(e)
        return status, None, code
    except (botocore.exceptions.BotoCoreError, ConnectionError) as e:
        return 0, None, type(e).__name__


def check_tampered(report, client, backend, bucket, part1, part2, part3):
    """Tamper with stored chunk headers and check that GET partNumber fails instead of serving other bytes."""
    sizes = [len(part1), len(part2), len(part3)]
    part2_first = len(part1) // CHUNK_PLAIN  # chunk index of part 2's first chunk
    part3_first = part2_first + len(part2) // CHUNK_PLAIN

    key = "mp-tampered-stream-id"
    upload_multipart(client, bucket, key, {1: part1, 2: part2, 3: part3}, [1, 2, 3])

    def flip_stream_id(stored):
        stored[part2_first * CHUNK_STORED + 12] ^= 0x01

    rewrite_stored(backend, bucket, key, sizes, flip_stream_id)
    status, body, code = get_outcome(client, bucket, key, 2)
    # s3seal reports a stored object that fails verification as 500 InternalError
    diffs = [] if status == 500 and code == "InternalError" else [f"expected 500 InternalError, got {status} {code}"]
    report.check(f"{key}: GET partNumber=2 with a changed stream id in its first header fails", diffs)
    status, body, code = get_outcome(client, bucket, key, 1)
    report.check(f"{key}: GET partNumber=1 of the same object still returns part 1",
                 [] if status == 206 and body == part1 else [f"got {status} {code}, {len(body or b'')} bytes"])

    # Moves the end of part 2 onto part 3's chunk: part 2's FINAL flag is
    # cleared and part 3's header claims to be part 2's next chunk. The search
    # then finds part 2 one chunk longer, and the read must fail on the
    # first chunk whose header no longer matches its tag.
    key = "mp-tampered-boundary"
    upload_multipart(client, bucket, key, {1: part1, 2: part2, 3: part3}, [1, 2, 3])

    def move_boundary(stored):
        last_of_2 = (part3_first - 1) * CHUNK_STORED
        stored[last_of_2 + 1] &= 0xFE
        header = part3_first * CHUNK_STORED
        stored[header + 4:header + 8] = (2).to_bytes(4, "big")
        stored[header + 8:header + 12] = (part3_first - part2_first).to_bytes(4, "big")

    rewrite_stored(backend, bucket, key, sizes, move_boundary)
    status, body, code = get_outcome(client, bucket, key, 2)
    # Part 2 is longer than one chunk, so its first chunk verifies and the
    # response starts before the changed chunk arrives: a cut connection
    # (status 0 here) is the expected failure, as is a 500 before any byte.
    diffs = [] if status in (0, 500) else [f"expected a cut response or 500, got {status} with {len(body or b'')} bytes"]
    report.check(f"{key}: GET partNumber=2 with a moved part boundary fails closed ({status} {code})", diffs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", required=True, help="s3seal endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--backend", required=True, help="backend endpoint, http://HOST:PORT or https://HOST:PORT")
    parser.add_argument("--region", required=True)
    parser.add_argument("--bucket", required=True)
    args = parser.parse_args()

    try:
        client = make_client(args.proxy, os.environ["RANGES_CLIENT_ACCESS_KEY"],
                             os.environ["RANGES_CLIENT_SECRET_KEY"], args.region)
        backend = make_client(args.backend, os.environ["RANGES_BACKEND_ACCESS_KEY"],
                              os.environ["RANGES_BACKEND_SECRET_KEY"], args.region,
                              verify=os.environ.get("BACKEND_CA_FILE") or None,
                              # over https, a default checksum makes boto3 send an aws-chunked body without
                              # Content-Length, which Ceph RGW 16.2 rejects with MissingContentLength
                              checksums="when_required")
    except KeyError as e:
        raise SystemExit(f"environment variable {e.args[0]} is not set; ranges.sh sets it") from None

    report = Report()

    # 5 MiB, 5 MiB and 1 byte, uploaded in order.
    part1, part2, part3 = os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1)
    check_object(report, client, args.bucket, "mp-5-5-1", {1: part1, 2: part2, 3: part3}, [1, 2, 3])
    check_invalid_requests(report, client, args.bucket, "mp-5-5-1")

    # Parts of different sizes, uploaded out of order, so the search cannot
    # guess the parts from equal sizes.
    uneven = {
        1: os.urandom(5 * MIB + 3 * CHUNK_PLAIN),
        2: os.urandom(7 * MIB),
        3: os.urandom(5 * MIB),
        4: os.urandom(100 * 1024 + 7),
    }
    check_object(report, client, args.bucket, "mp-uneven", uneven, [3, 1, 4, 2])

    # Part numbers with a gap: 1 and 3. Part 2 does not exist.
    gap = {1: os.urandom(5 * MIB), 3: os.urandom(12345)}
    check_object(report, client, args.bucket, "mp-gap", gap, [3, 1])

    check_single_put(report, client, args.bucket)
    check_tampered(report, client, backend, args.bucket, part1, part2, part3)

    print(f"# checks {report.checks} failures {report.failures} known 0")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
