"""Python side of objects.sh: multipart uploads, versions, copies and the
metadata limit through s3seal with boto3, and checks of what s3seal stored
on the backend.

Run with the pyenv Python 3.11 and its boto3 1.43. Settings come from the
environment that objects.sh exports: PROXY_ENDPOINT, CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, BACKEND_ENDPOINT, BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY
and REGION.

Subcommands (each prints one "ok - ..." or "not ok - ..." line per check):
  multipart BUCKET            multipart upload, ranges, ListParts, aborts, errors
  versions BUCKET             versioning on a bucket that has no objects yet
  copy BUCKET OTHER_BUCKET    CopyObject and UploadPartCopy
  metadata BUCKET             the user metadata limit of PutObject
  stored LABEL BUCKET KEY FILE [PART_SIZE...]
                              KEY is ciphertext of FILE: a multipart object
                              with these plaintext part sizes (numbered from
                              1), or a single PUT when no size is given
  stored-prefix LABEL BUCKET PREFIX
                              every object under PREFIX has a valid envelope
                              and chunk layout, and s3seal lists the
                              plaintext size that the layout holds
"""

import base64
import concurrent.futures
import hashlib
import os
import re
import struct
import sys

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients_py import backend_client, ciphertext_size, proxy_client  # noqa: E402
from ranges_check import expected_response  # noqa: E402

MIB = 1024 * 1024
CHUNK_SIZE = 65536
CHUNK_HEADER = 20
CHUNK_TAG = 16
ENVELOPE_COMMON = ("s3seal", "s3seal-kms", "s3seal-dek", "s3seal-cm", "s3seal-mac")
# A multipart ETag as S3 computes it: the MD5 of the parts' MD5s and the part count.
MULTIPART_ETAG = re.compile(r'^"[0-9a-f]{32}-[0-9]+"$')

# Checks of behaviour that docs/KNOWN_LIMITATIONS.md lists as not supported
# yet, by the start of the check name. A failing one prints
# "not ok ... # TODO" and does not fail the run unless S3SEAL_TEST_STRICT=1.
# Remove an entry once s3seal supports it.
KNOWN_LIMITATIONS = {}
STRICT = os.environ.get("S3SEAL_TEST_STRICT") == "1"

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
        return
    known = next((reason for prefix, reason in KNOWN_LIMITATIONS.items() if name.startswith(prefix)), None)
    if known is not None and not STRICT:
        print(f"not ok - {name}: {detail} # TODO known limitation: {known}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)


def check_equal(name, expected, actual):
    report(expected == actual, name, f"expected {expected!r}, got {actual!r}")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def error_of(err):
    """Return (HTTP status, S3 error code) of a ClientError."""
    return err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), err.response.get("Error", {}).get("Code")


def expect_error(name, status, code, call, *args, **kwargs):
    """Run call and check that it fails with this HTTP status and S3 error code."""
    try:
        call(*args, **kwargs)
    except ClientError as err:
        got = error_of(err)
        report(got == (status, code), name, f"expected {status} {code}, got {got[0]} {got[1]}")
        return
    report(False, name, f"expected {status} {code}, the request succeeded")


def attempt(name, call, *args, **kwargs):
    """Run call and return its result. A ClientError fails check NAME, and None is returned."""
    try:
        return call(*args, **kwargs)
    except ClientError as err:
        report(False, name, str(err))
        return None


def is_absent(client, bucket, key, **kwargs):
    try:
        client.head_object(Bucket=bucket, Key=key, **kwargs)
    except ClientError as err:
        return error_of(err)[0] == 404
    return False


def parse_stored(data):
    """Walk the chunk headers of a stored object (docs/FORMAT.md, "Streams" and
    "Reading a multipart object") and return its streams as a list of
    (part number, stream id, plaintext length, list of (offset, length) of the
    chunks' ciphertext). Raises ValueError where the layout is invalid.
    """
    streams = []
    pos = 0
    open_stream = None  # (part, stream id, next sequence number) of a stream without FINAL yet
    while pos < len(data):
        if len(data) - pos < CHUNK_HEADER:
            raise ValueError(f"stored data ends inside the chunk header at offset {pos}")
        version, flags, length_field, part, seq = struct.unpack(">BBHII", data[pos : pos + 12])
        stream_id = data[pos + 12 : pos + 20]
        length = length_field + 1
        if version != 1 or flags & 0xFE:
            raise ValueError(f"chunk at offset {pos}: version {version}, flags {flags:#04x}")
        final = bool(flags & 1)
        if open_stream is None:
            if seq != 0:
                raise ValueError(f"chunk at offset {pos}: a stream starts with sequence number {seq}")
            if streams and part <= streams[-1][0]:
                raise ValueError(f"chunk at offset {pos}: part {part} follows part {streams[-1][0]}")
            streams.append([part, stream_id, 0, []])
        elif (part, stream_id, seq) != open_stream:
            raise ValueError(f"chunk at offset {pos}: part {part} sequence {seq} does not continue its stream")
        if not final and length != CHUNK_SIZE:
            raise ValueError(f"chunk at offset {pos}: {length} bytes without FINAL")
        end = pos + CHUNK_HEADER + length + CHUNK_TAG
        if end > len(data):
            raise ValueError(f"stored data ends inside the chunk at offset {pos}")
        streams[-1][2] += length
        streams[-1][3].append((pos + CHUNK_HEADER, length))
        open_stream = None if final else (part, stream_id, seq + 1)
        pos = end
    if open_stream is not None:
        raise ValueError("stored data ends after a chunk without FINAL")
    return [tuple(s) for s in streams]


def check_stored(label, backend, bucket, key, plain, part_sizes=None, version_id=None):
    """Check the backend object KEY against plaintext PLAIN.

    With PART_SIZES (plaintext sizes of parts 1, 2, ...) KEY must be a client
    multipart object, otherwise a single PUT. Returns the backend's
    GetObject response with the body read into "Data", or None.
    """
    extra = {"VersionId": version_id} if version_id else {}
    try:
        got = backend.get_object(Bucket=bucket, Key=key, **extra)
        stored = got["Body"].read()
    except ClientError as err:
        report(False, f"{label}: stored on the backend", str(err))
        return None
    got["Data"] = stored
    meta = got.get("Metadata", {})

    missing = [m for m in ENVELOPE_COMMON if m not in meta]
    report(not missing and meta.get("s3seal") == "1", f"{label}: backend has envelope metadata",
           f"missing {missing}, found {sorted(meta)}")
    if part_sizes is None:
        expected_parts = [(0, len(plain))]
        report(meta.get("s3seal-len") == str(len(plain)) and "s3seal-mp" not in meta,
               f"{label}: envelope has s3seal-len {len(plain)} and no s3seal-mp",
               f"s3seal-len {meta.get('s3seal-len')}, s3seal-mp {meta.get('s3seal-mp')}")
    else:
        expected_parts = [(n, size) for n, size in enumerate(part_sizes, start=1)]
        report(meta.get("s3seal-mp") == "1" and "s3seal-len" not in meta,
               f"{label}: envelope has s3seal-mp 1 and no s3seal-len",
               f"s3seal-mp {meta.get('s3seal-mp')}, s3seal-len {meta.get('s3seal-len')}")

    expected_size = sum(ciphertext_size(size) for _, size in expected_parts)
    check_equal(f"{label}: stored size is the sum of the streams' stored sizes", expected_size, len(stored))

    try:
        streams = parse_stored(stored)
    except ValueError as err:
        report(False, f"{label}: stored chunk layout is valid", str(err))
        return got
    report(True, f"{label}: stored chunk layout is valid")
    check_equal(f"{label}: stored streams (part number, plaintext bytes)",
                expected_parts, [(part, size) for part, _, size, _ in streams])

    # Ciphertext is as long as the plaintext, so a chunk that kept its
    # plaintext bytes would be stored unencrypted. Chunks under 16 bytes
    # can match by chance and are skipped.
    plain_offset = 0
    clear_chunks = 0
    for _, _, _, chunks in streams:
        for offset, length in chunks:
            if length >= 16 and stored[offset : offset + length] == plain[plain_offset : plain_offset + length]:
                clear_chunks += 1
            plain_offset += length
    report(clear_chunks == 0 and stored != plain, f"{label}: stored bytes are ciphertext",
           f"{clear_chunks} chunks are stored as plaintext")
    return got


def check_range(label, s3, bucket, key, plain, range_value):
    expected = expected_response(len(plain), range_value)
    name = f"{label}: GET {range_value}"
    try:
        got = s3.get_object(Bucket=bucket, Key=key, Range=range_value)
        body = got["Body"].read()
    except ClientError as err:
        report(False, name, str(err))
        return
    status = got["ResponseMetadata"]["HTTPStatusCode"]
    want = plain[expected.first : expected.first + expected.length]
    report((status, got.get("ContentRange")) == (expected.status, expected.content_range) and body == want, name,
           f"expected {expected.status} {expected.content_range} and {len(want)} bytes from {expected.first}, "
           f"got {status} {got.get('ContentRange')} and {len(body)} bytes"
           f"{'' if body == want else ' that differ'}")


def multipart_ranges(size, part_edges):
    """Return Range values across every part edge, the chunk edges next to
    them, and suffix ranges."""
    ranges = ["bytes=0-0", f"bytes={size - 1}-{size - 1}", f"bytes=1-{size - 2}"]
    for edge in part_edges:
        ranges += [
            f"bytes={edge - 1}-{edge}",
            f"bytes={edge - 10}-{edge + 10}",
            f"bytes={edge}-",
            f"bytes={edge - CHUNK_SIZE - 1}-{edge - CHUNK_SIZE}",
            f"bytes={edge - CHUNK_SIZE}-{edge - 1}",
            f"bytes={edge + CHUNK_SIZE - 1}-{edge + CHUNK_SIZE}",
            f"bytes={edge - CHUNK_SIZE + 5}-{edge + CHUNK_SIZE + 5}",
        ]
    ranges += ["bytes=-1", "bytes=-2", f"bytes=-{CHUNK_SIZE + 1}", f"bytes=-{size - part_edges[0] + 1}",
               f"bytes=-{size}", f"bytes=-{size + 100}"]
    # An edge near the object's end gives duplicates and ranges that start past it.
    unique = [r for i, r in enumerate(ranges) if r not in ranges[:i]]
    return [r for r in unique if r.startswith("bytes=-") or int(r[6:].split("-")[0]) < size]


def upload_part_with_new_client(bucket, key, upload_id, number, data):
    return number, proxy_client().upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                              Body=data)["ETag"]


def run_multipart(bucket):
    s3 = proxy_client()
    backend = backend_client()
    label = "boto3 multipart"
    key = "multipart/three-parts.bin"
    part1, part2_first, part2, part3 = os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1)
    plain = part1 + part2 + part3

    created = attempt(f"{label}: create_multipart_upload", s3.create_multipart_upload, Bucket=bucket, Key=key,
                      Metadata={"purpose": "multipart-test"})
    if created is None:
        return
    upload_id = created["UploadId"]
    report(upload_id.startswith("s3s1."), f"{label}: upload id carries the wrapped key (s3s1. prefix)", upload_id)

    # Parts 3, 2 and 1 in this order, at the same time, each thread with its own client.
    etags = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(upload_part_with_new_client, bucket, key, upload_id, n, d)
                   for n, d in ((3, part3), (2, part2_first), (1, part1))]
        for future in futures:
            try:
                number, etag = future.result()
                etags[number] = etag
            except ClientError as err:
                report(False, f"{label}: upload_part in a thread", str(err))
    check_equal(f"{label}: parts 3, 2, 1 uploaded in parallel", [1, 2, 3], sorted(etags))

    # A second upload of part 2 with other bytes replaces the first.
    second = attempt(f"{label}: upload_part 2 again with other bytes", s3.upload_part, Bucket=bucket, Key=key,
                     UploadId=upload_id, PartNumber=2, Body=part2)
    if second is None:
        return
    report(second["ETag"] != etags.get(2), f"{label}: second upload of part 2 has another ETag", second["ETag"])
    etags[2] = second["ETag"]

    listed = attempt(f"{label}: list_parts", s3.list_parts, Bucket=bucket, Key=key, UploadId=upload_id)
    if listed is not None:
        check_equal(f"{label}: list_parts shows plaintext sizes", {1: 5 * MIB, 2: 5 * MIB, 3: 1},
                    {p["PartNumber"]: p["Size"] for p in listed.get("Parts", [])})
        check_equal(f"{label}: list_parts shows the ETag of the second part 2", etags[2],
                    {p["PartNumber"]: p["ETag"] for p in listed.get("Parts", [])}.get(2))
        check_equal(f"{label}: list_parts returns the s3seal upload id", upload_id, listed.get("UploadId"))

    uploads = attempt(f"{label}: list_multipart_uploads", s3.list_multipart_uploads, Bucket=bucket,
                      Prefix="multipart/")
    if uploads is not None:
        ids = [u["UploadId"] for u in uploads.get("Uploads", []) if u["Key"] == key]
        report(len(ids) == 1 and (ids[0] == upload_id or upload_id.endswith("." + ids[0])),
               f"{label}: list_multipart_uploads lists the upload", f"upload ids for {key}: {ids}")

    done = attempt(f"{label}: complete_multipart_upload", s3.complete_multipart_upload, Bucket=bucket, Key=key,
                   UploadId=upload_id,
                   MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]})
    if done is None:
        return
    report(True, f"{label}: complete_multipart_upload")

    head = attempt(f"{label}: head_object", s3.head_object, Bucket=bucket, Key=key)
    if head is not None:
        check_equal(f"{label}: HEAD size is the plaintext size", len(plain), head["ContentLength"])
        check_equal(f"{label}: complete ETag equals HEAD ETag", done.get("ETag"), head["ETag"])
        report(MULTIPART_ETAG.match(head["ETag"]) is not None, f"{label}: HEAD ETag has the multipart form",
               head["ETag"])
        check_equal(f"{label}: HEAD returns the user metadata", {"purpose": "multipart-test"}, head.get("Metadata"))
        listing = attempt(f"{label}: list_objects_v2", s3.list_objects_v2, Bucket=bucket, Prefix=key)
        if listing is not None:
            entry = {o["Key"]: o for o in listing.get("Contents", [])}.get(key, {})
            check_equal(f"{label}: list_objects_v2 size equals HEAD size", head["ContentLength"], entry.get("Size"))
            check_equal(f"{label}: list_objects_v2 ETag equals HEAD ETag", head["ETag"], entry.get("ETag"))

    got = attempt(f"{label}: get_object", s3.get_object, Bucket=bucket, Key=key)
    if got is not None:
        check_equal(f"{label}: get_object matches SHA-256", sha256(plain), sha256(got["Body"].read()))
    for range_value in multipart_ranges(len(plain), [5 * MIB, 10 * MIB]):
        check_range(label, s3, bucket, key, plain, range_value)

    check_stored(f"{label}: {key}", backend, bucket, key, plain, [5 * MIB, 5 * MIB, 1])

    check_abort_own_id(s3, backend, bucket)
    check_abort_backend_id(s3, backend, bucket)
    check_misaligned_part(s3, bucket)
    check_tampered_upload_id(s3, bucket)
    check_bad_content_md5(s3, bucket)


def backend_upload_ids(backend, bucket, key):
    return [u["UploadId"] for u in backend.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
            if u["Key"] == key]


def check_abort_own_id(s3, backend, bucket):
    label = "abort with the s3seal upload id"
    key = "multipart/abort-own-id.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=os.urandom(CHUNK_SIZE))
    if attempt(f"{label}: abort_multipart_upload", s3.abort_multipart_upload, Bucket=bucket, Key=key,
               UploadId=upload_id) is None:
        return
    report(True, f"{label}: abort_multipart_upload")
    # NOTE: Ceph RGW 16.2 returns 404 NoSuchKey to ListParts of an aborted
    # upload where AWS S3 returns NoSuchUpload, so UploadPart is checked.
    expect_error(f"{label}: upload_part afterwards returns 404 NoSuchUpload", 404, "NoSuchUpload",
                 s3.upload_part, Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"late")
    check_equal(f"{label}: backend lists no upload for the key", [], backend_upload_ids(backend, bucket, key))


def check_abort_backend_id(s3, backend, bucket):
    label = "abort with the backend upload id"
    key = "multipart/abort-backend-id.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=os.urandom(CHUNK_SIZE))
    listed = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
              if u["Key"] == key]
    if len(listed) != 1:
        report(False, f"{label}: list_multipart_uploads lists one upload", f"found {listed}")
        return
    if attempt(f"{label}: abort_multipart_upload with the listed id", s3.abort_multipart_upload, Bucket=bucket,
               Key=key, UploadId=listed[0]) is None:
        return
    report(True, f"{label}: abort_multipart_upload with the listed id")
    check_equal(f"{label}: backend lists no upload for the key", [], backend_upload_ids(backend, bucket, key))


def check_misaligned_part(s3, bucket):
    label = "part of 6000000 bytes before the last"
    key = "multipart/misaligned.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, size in ((1, 6000000), (2, 1)):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                              Body=os.urandom(size))["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    expect_error(f"{label}: complete returns 400 InvalidPart", 400, "InvalidPart", s3.complete_multipart_upload,
                 Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    report(is_absent(s3, bucket, key), f"{label}: no object was created")
    attempt(f"{label}: abort afterwards", s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id)


def tamper(upload_id):
    """Change one character in the middle of the wrapped key field of an
    s3seal upload id ("s3s1.KMS.WRAPPED.BACKEND_ID")."""
    fields = upload_id.split(".", 3)
    wrapped = fields[2]
    middle = len(wrapped) // 2
    fields[2] = wrapped[:middle] + ("A" if wrapped[middle] != "A" else "B") + wrapped[middle + 1 :]
    return ".".join(fields)


def check_tampered_upload_id(s3, bucket):
    label = "upload_part with a tampered upload id"
    key = "multipart/tampered.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    if upload_id.count(".") < 3:
        report(False, f"{label}: upload id has four fields", upload_id)
    else:
        expect_error(f"{label}: returns 404 NoSuchUpload", 404, "NoSuchUpload", s3.upload_part, Bucket=bucket,
                     Key=key, UploadId=tamper(upload_id), PartNumber=1, Body=os.urandom(1000))
        listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        check_equal(f"{label}: no part was stored", [], listed.get("Parts", []))
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def check_bad_content_md5(s3, bucket):
    label = "upload_part with a wrong Content-MD5"
    key = "multipart/bad-md5.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    wrong_md5 = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    expect_error(f"{label}: returns 400 BadDigest", 400, "BadDigest", s3.upload_part, Bucket=bucket, Key=key,
                 UploadId=upload_id, PartNumber=1, Body=os.urandom(2 * CHUNK_SIZE + 7), ContentMD5=wrong_md5)
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    check_equal(f"{label}: list_parts shows no part", [], listed.get("Parts", []))
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def get_bytes(s3, bucket, key, **kwargs):
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def run_versions(bucket):
    s3 = proxy_client()
    backend = backend_client()
    label = "versions"
    key = "versioned.bin"
    if attempt(f"{label}: put_bucket_versioning Enabled", s3.put_bucket_versioning, Bucket=bucket,
               VersioningConfiguration={"Status": "Enabled"}) is None:
        return
    report(True, f"{label}: put_bucket_versioning Enabled")
    check_equal(f"{label}: get_bucket_versioning", "Enabled", s3.get_bucket_versioning(Bucket=bucket).get("Status"))

    old, new = os.urandom(100000), os.urandom(70001)
    put_old = attempt(f"{label}: put first version", s3.put_object, Bucket=bucket, Key=key, Body=old)
    put_new = attempt(f"{label}: put second version", s3.put_object, Bucket=bucket, Key=key, Body=new)
    if put_old is None or put_new is None:
        return
    old_id, new_id = put_old.get("VersionId"), put_new.get("VersionId")
    report(old_id and new_id and old_id != new_id, f"{label}: each put returns its own VersionId",
           f"{old_id}, {new_id}")

    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    if not (old_id and new_id):
        # The versions differ in size, so the listing identifies each by its
        # size and the checks below still run.
        by_size = {v["Size"]: v["VersionId"] for v in listed.get("Versions", [])}
        old_id, new_id = by_size.get(len(old)), by_size.get(len(new))
        if not (old_id and new_id):
            report(False, f"{label}: list_object_versions lists both versions", f"found {listed.get('Versions')}")
            return
    check_equal(f"{label}: list_object_versions shows plaintext sizes", {old_id: len(old), new_id: len(new)},
                {v["VersionId"]: v["Size"] for v in listed.get("Versions", [])})
    check_equal(f"{label}: list_object_versions marks the second version latest", [new_id],
                [v["VersionId"] for v in listed.get("Versions", []) if v["IsLatest"]])

    for name, version_id, plain in (("first", old_id, old), ("second", new_id, new)):
        got = attempt(f"{label}: get {name} version by VersionId", s3.get_object, Bucket=bucket, Key=key,
                      VersionId=version_id)
        if got is not None:
            check_equal(f"{label}: get {name} version by VersionId matches SHA-256", sha256(plain),
                        sha256(got["Body"].read()))
            check_equal(f"{label}: get {name} version returns its VersionId", version_id, got.get("VersionId"))
        head = attempt(f"{label}: head {name} version by VersionId", s3.head_object, Bucket=bucket, Key=key,
                       VersionId=version_id)
        if head is not None:
            check_equal(f"{label}: head {name} version size", len(plain), head["ContentLength"])
        check_stored(f"{label}: {name} version", backend, bucket, key, plain, version_id=version_id)
    check_equal(f"{label}: get without VersionId returns the second version", sha256(new),
                sha256(get_bytes(s3, bucket, key)))

    deleted = attempt(f"{label}: delete_object without VersionId", s3.delete_object, Bucket=bucket, Key=key)
    if deleted is None:
        return
    report(deleted.get("DeleteMarker") is True and deleted.get("VersionId"),
           f"{label}: delete creates a delete marker", f"response {deleted}")
    marker_id = deleted.get("VersionId")
    expect_error(f"{label}: get after delete returns 404 NoSuchKey", 404, "NoSuchKey", s3.get_object, Bucket=bucket,
                 Key=key)
    got = attempt(f"{label}: get first version after delete", s3.get_object, Bucket=bucket, Key=key,
                  VersionId=old_id)
    if got is not None:
        check_equal(f"{label}: get first version after delete matches SHA-256", sha256(old),
                    sha256(got["Body"].read()))

    if attempt(f"{label}: delete first version by VersionId", s3.delete_object, Bucket=bucket, Key=key,
               VersionId=old_id) is not None:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        check_equal(f"{label}: first version is gone from list_object_versions", [new_id],
                    [v["VersionId"] for v in listed.get("Versions", [])])
        check_equal(f"{label}: delete marker is listed", [marker_id],
                    [m["VersionId"] for m in listed.get("DeleteMarkers", [])])
        # AWS S3 returns NoSuchVersion here, Ceph RGW 16.2 NoSuchKey.
        try:
            s3.get_object(Bucket=bucket, Key=key, VersionId=old_id)
            report(False, f"{label}: get deleted version returns 404", "the request succeeded")
        except ClientError as err:
            report(error_of(err)[0] == 404 and error_of(err)[1] in ("NoSuchVersion", "NoSuchKey"),
                   f"{label}: get deleted version returns 404", f"got {error_of(err)}")
    if marker_id and attempt(f"{label}: delete the delete marker by VersionId", s3.delete_object, Bucket=bucket,
                             Key=key, VersionId=marker_id) is not None:
        check_equal(f"{label}: get after removing the delete marker returns the second version", sha256(new),
                    sha256(get_bytes(s3, bucket, key)))

    copied = attempt(f"{label}: copy_object in the versioned bucket", s3.copy_object, Bucket=bucket,
                     Key="versioned-copy.bin", CopySource={"Bucket": bucket, "Key": key})
    if copied is not None:
        listed = s3.list_object_versions(Bucket=bucket, Prefix="versioned-copy.bin")
        check_equal(f"{label}: copy_object returns the VersionId of the copy",
                    [v["VersionId"] for v in listed.get("Versions", [])], [copied.get("VersionId")])


def delete_all_versions(backend, bucket):
    """Delete every version and delete marker, so that an external backend
    can delete the bucket at the end of the test."""
    listed = backend.list_object_versions(Bucket=bucket)
    for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        backend.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])


def upload_multipart(s3, bucket, key, parts):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})


def check_copy_result(label, s3, bucket, key, plain, result, metadata):
    """Check a finished copy through s3seal: bytes, ETag, metadata."""
    etag = result.get("CopyObjectResult", {}).get("ETag")
    head = attempt(f"{label}: head_object of the copy", s3.head_object, Bucket=bucket, Key=key)
    if head is None:
        return
    check_equal(f"{label}: CopyObjectResult ETag equals HEAD ETag", head["ETag"], etag)
    check_equal(f"{label}: HEAD size of the copy", len(plain), head["ContentLength"])
    check_equal(f"{label}: user metadata of the copy", metadata, head.get("Metadata"))
    got = attempt(f"{label}: get_object of the copy", get_bytes, s3, bucket, key)
    if got is not None:
        check_equal(f"{label}: copy matches SHA-256", sha256(plain), sha256(got))


def compare_envelopes(label, source, copy):
    """Compare the backend objects of a copy and its source (check_stored results)."""
    if source is None or copy is None:
        return
    src_meta, copy_meta = source.get("Metadata", {}), copy.get("Metadata", {})
    for field in ("s3seal-dek", "s3seal-mac"):
        report(src_meta.get(field) != copy_meta.get(field), f"{label}: copy has another {field} than the source",
               f"both {src_meta.get(field)}")
    report(source["Data"] == copy["Data"], f"{label}: stored body is the source's ciphertext, byte for byte",
           f"{len(source['Data'])} and {len(copy['Data'])} bytes that differ")


def run_copy(bucket, other_bucket):
    s3 = proxy_client()
    backend = backend_client()
    src_key = "copy/source.bin"
    plain = os.urandom(200000)
    s3.put_object(Bucket=bucket, Key=src_key, Body=plain, Metadata={"color": "blue"}, ContentType="text/plain")
    source = (bucket, src_key)

    label = "copy_object to another key (COPY)"
    result = attempt(f"{label}: copy_object", s3.copy_object, Bucket=bucket, Key="copy/same-bucket.bin",
                     CopySource={"Bucket": bucket, "Key": src_key})
    if result is not None:
        check_copy_result(label, s3, bucket, "copy/same-bucket.bin", plain, result, {"color": "blue"})
        check_equal(f"{label}: Content-Type of the copy", "text/plain",
                    s3.head_object(Bucket=bucket, Key="copy/same-bucket.bin").get("ContentType"))
        compare_envelopes(label, check_stored(f"{label}: source", backend, *source, plain),
                          check_stored(f"{label}: copy", backend, bucket, "copy/same-bucket.bin", plain))
    check_equal(f"{label}: source still matches SHA-256", sha256(plain), sha256(get_bytes(s3, *source)))

    label = "copy_object to another bucket (REPLACE)"
    result = attempt(f"{label}: copy_object", s3.copy_object, Bucket=other_bucket, Key="copy/other-bucket.bin",
                     CopySource={"Bucket": bucket, "Key": src_key}, MetadataDirective="REPLACE",
                     Metadata={"shape": "round"})
    if result is not None:
        check_copy_result(label, s3, other_bucket, "copy/other-bucket.bin", plain, result, {"shape": "round"})
        compare_envelopes(label, check_stored(f"{label}: source", backend, *source, plain),
                          check_stored(f"{label}: copy", backend, other_bucket, "copy/other-bucket.bin", plain))
    check_equal(f"{label}: source still matches SHA-256", sha256(plain), sha256(get_bytes(s3, *source)))

    label = "copy_object onto itself (REPLACE)"
    self_key = "copy/self.bin"
    s3.put_object(Bucket=bucket, Key=self_key, Body=plain, Metadata={"color": "blue"})
    before = check_stored(f"{label}: before", backend, bucket, self_key, plain)
    result = attempt(f"{label}: copy_object", s3.copy_object, Bucket=bucket, Key=self_key,
                     CopySource={"Bucket": bucket, "Key": self_key}, MetadataDirective="REPLACE",
                     Metadata={"color": "red"})
    if result is not None:
        check_copy_result(label, s3, bucket, self_key, plain, result, {"color": "red"})
        after = check_stored(f"{label}: after", backend, bucket, self_key, plain)
        if before is not None and after is not None:
            report(before["Data"] == after["Data"], f"{label}: stored body is unchanged")
    expect_error("copy_object onto itself (COPY) returns 400 InvalidRequest", 400, "InvalidRequest",
                 s3.copy_object, Bucket=bucket, Key=self_key, CopySource={"Bucket": bucket, "Key": self_key})

    label = "copy_object of a multipart object"
    mp_plain = [os.urandom(5 * MIB), os.urandom(1000)]
    upload_multipart(s3, bucket, "copy/multipart-source.bin", mp_plain)
    result = attempt(f"{label}: copy_object", s3.copy_object, Bucket=bucket, Key="copy/multipart-copy.bin",
                     CopySource={"Bucket": bucket, "Key": "copy/multipart-source.bin"})
    if result is not None:
        check_copy_result(label, s3, bucket, "copy/multipart-copy.bin", b"".join(mp_plain), result, {})
        sizes = [len(p) for p in mp_plain]
        compare_envelopes(label,
                          check_stored(f"{label}: source", backend, bucket, "copy/multipart-source.bin",
                                       b"".join(mp_plain), sizes),
                          check_stored(f"{label}: copy", backend, bucket, "copy/multipart-copy.bin",
                                       b"".join(mp_plain), sizes))
        for range_value in (f"bytes={5 * MIB - 1}-{5 * MIB}", "bytes=-1001"):
            check_range(label, s3, bucket, "copy/multipart-copy.bin", b"".join(mp_plain), range_value)

    label = "copy_object of a plaintext object"
    plain_src = os.urandom(150000)
    backend.put_object(Bucket=bucket, Key="copy/plaintext-source.bin", Body=plain_src)
    result = attempt(f"{label}: copy_object", s3.copy_object, Bucket=bucket, Key="copy/from-plaintext.bin",
                     CopySource={"Bucket": bucket, "Key": "copy/plaintext-source.bin"})
    if result is not None:
        check_copy_result(label, s3, bucket, "copy/from-plaintext.bin", plain_src, result, {})
        check_stored(f"{label}: copy", backend, bucket, "copy/from-plaintext.bin", plain_src)

    label = "upload_part_copy"
    five = os.urandom(5 * MIB)
    s3.put_object(Bucket=bucket, Key="copy/five-mib.bin", Body=five)
    key = "copy/part-copies.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, src in ((1, "copy/five-mib.bin"), (2, src_key)):
        result = attempt(f"{label}: part {number} from {src}", s3.upload_part_copy, Bucket=bucket, Key=key,
                         UploadId=upload_id, PartNumber=number, CopySource={"Bucket": bucket, "Key": src})
        if result is None:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            return
        parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    check_equal(f"{label}: list_parts shows plaintext sizes", {1: len(five), 2: len(plain)},
                {p["PartNumber"]: p["Size"] for p in listed.get("Parts", [])})
    done = attempt(f"{label}: complete_multipart_upload", s3.complete_multipart_upload, Bucket=bucket, Key=key,
                   UploadId=upload_id, MultipartUpload={"Parts": parts})
    if done is not None:
        got = get_bytes(s3, bucket, key)
        check_equal(f"{label}: object matches SHA-256", sha256(five + plain), sha256(got))
        check_stored(f"{label}: object", backend, bucket, key, five + plain, [len(five), len(plain)])


def run_metadata(bucket):
    s3 = proxy_client()
    backend = backend_client()
    label = "metadata limit"
    # S3 counts the names after x-amz-meta- and the values, in bytes of UTF-8,
    # against 2048 bytes. The envelope of a small object takes about 250 of
    # them with the file KMS provider (245 measured with a test key).
    accepted = {"small": "v" * 495}
    key = "metadata/accepted.bin"
    if attempt(f"{label}: put with 500 bytes of metadata", s3.put_object, Bucket=bucket, Key=key, Body=b"data",
               Metadata=accepted) is not None:
        check_equal(f"{label}: 500 bytes of metadata read back", accepted, s3.head_object(Bucket=bucket,
                                                                                          Key=key).get("Metadata"))
    for total in (1990, 2100):
        key = f"metadata/rejected-{total}.bin"
        expect_error(f"{label}: put with {total} bytes of metadata returns 400 MetadataTooLarge", 400,
                     "MetadataTooLarge", s3.put_object, Bucket=bucket, Key=key, Body=b"data",
                     Metadata={"big": "v" * (total - 3)})
        report(is_absent(backend, bucket, key), f"{label}: {total} bytes: nothing stored on the backend")
    key = "metadata/rejected-multipart.bin"
    expect_error(f"{label}: create_multipart_upload with 1990 bytes of metadata returns 400 MetadataTooLarge", 400,
                 "MetadataTooLarge", s3.create_multipart_upload, Bucket=bucket, Key=key,
                 Metadata={"big": "v" * 1987})
    check_equal(f"{label}: multipart: no upload started on the backend", [],
                backend_upload_ids(backend, bucket, key))


def run_stored(label, bucket, key, path, part_sizes):
    with open(path, "rb") as f:
        plain = f.read()
    check_stored(label, backend_client(), bucket, key, plain, part_sizes or None)


def run_stored_prefix(label, bucket, prefix):
    """Check every backend object under PREFIX without knowing its plaintext."""
    s3 = proxy_client()
    backend = backend_client()
    listed = {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                                           Prefix=prefix)
              for o in page.get("Contents", [])}
    keys = [o["Key"] for page in backend.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    report(len(keys) > 0, f"{label}: backend has objects under {prefix}")
    bad = []
    for key in keys:
        got = backend.get_object(Bucket=bucket, Key=key)
        stored = got["Body"].read()
        meta = got.get("Metadata", {})
        try:
            streams = parse_stored(stored)
        except ValueError as err:
            bad.append(f"{key}: {err}")
            continue
        size = sum(s[2] for s in streams)
        if meta.get("s3seal") != "1" or (meta.get("s3seal-len") != str(size) and meta.get("s3seal-mp") != "1"):
            bad.append(f"{key}: envelope {sorted(meta)}")
        elif listed.get(key) != size:
            bad.append(f"{key}: s3seal lists {listed.get(key)} bytes, the layout holds {size}")
    report(not bad, f"{label}: {len(keys)} objects have an envelope, a valid chunk layout and plaintext listing sizes",
           "; ".join(bad[:5]))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    if command == "multipart":
        run_multipart(args[0])
    elif command == "versions":
        try:
            run_versions(args[0])
        finally:
            delete_all_versions(backend_client(), args[0])
    elif command == "copy":
        run_copy(args[0], args[1])
    elif command == "metadata":
        run_metadata(args[0])
    elif command == "stored":
        run_stored(args[0], args[1], args[2], args[3], [int(s) for s in args[4:]])
    elif command == "stored-prefix":
        run_stored_prefix(args[0], args[1], args[2])
    else:
        print(f"unknown subcommand {command!r}; see the docstring of {argv[0]}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
