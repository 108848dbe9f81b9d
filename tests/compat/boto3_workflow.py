"""boto3 workflows for boto3.sh (pyenv boto3 1.43) and boto3-debian.sh
(Debian's boto3 1.26 under /usr/bin/python3), through s3seal with boto3's
default checksum and transfer settings.

Settings come from the environment that tests/compat/lib.sh exports:
PROXY_ENDPOINT, CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION and, for an
https:// PROXY_ENDPOINT, TEST_CA_FILE.

Subcommands (each prints one "ok - ..." or "not ok - ..." line per check):
  objects LABEL BUCKET PREFIX SMALL BIG
      put_object and get_object of file SMALL with the default checksums,
      upload_file and download_file of file BIG (multipart above 8 MiB,
      parallel ranged GETs), a ranged get_object, head_object and
      list_objects_v2
  transfer LABEL BUCKET PREFIX BIG
      upload_file and download_file of file BIG only
  delete LABEL BUCKET PREFIX
      delete_objects of every key under PREFIX, then an empty listing
  presign METHOD BUCKET KEY
      prints a presigned URL (no checks)
"""

import hashlib
import os
import sys
import tempfile

import boto3
from botocore.config import Config

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def proxy_client():
    endpoint = os.environ["PROXY_ENDPOINT"]
    verify = os.environ.get("TEST_CA_FILE") if endpoint.startswith("https://") else None
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["CLIENT_ACCESS_KEY"],
        aws_secret_access_key=os.environ["CLIENT_SECRET_KEY"],
        region_name=os.environ["REGION"],
        verify=verify,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1, "mode": "standard"}),
    )


def count_ranged_gets(s3):
    """Register a hook that counts GetObject requests with a Range header and
    return the list it appends the ranges to."""
    ranges = []

    def before_send(request, **_):
        value = request.headers.get("Range")
        if value:
            ranges.append(value.decode() if isinstance(value, bytes) else value)

    s3.meta.events.register("before-send.s3.GetObject", before_send)
    return ranges


def transfer(label, s3, bucket, key, big):
    """upload_file and download_file of BIG with the default TransferConfig."""
    size = os.path.getsize(big)
    try:
        s3.upload_file(big, bucket, key)
        report(True, f"{label}: upload_file of {size} bytes")
    except Exception as err:  # boto3's S3UploadFailedError wraps ClientError
        report(False, f"{label}: upload_file of {size} bytes", repr(err))
        return
    ranges = count_ranged_gets(s3)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "download.bin")
        try:
            s3.download_file(bucket, key, out)
        except Exception as err:
            report(False, f"{label}: download_file", repr(err))
            return
        report(file_sha256(out) == file_sha256(big), f"{label}: download_file matches SHA-256",
               f"got {os.path.getsize(out)} bytes, expected {size}")
    expected = -(-size // (8 << 20))
    report(len(set(ranges)) == expected, f"{label}: download_file used {expected} ranged GETs",
           f"ranges sent: {sorted(set(ranges))}")


def run_objects(label, bucket, prefix, small, big):
    s3 = proxy_client()
    with open(small, "rb") as f:
        data = f.read()
    key = f"{prefix}/small.bin"
    try:
        put = s3.put_object(Bucket=bucket, Key=key, Body=data)
        report(True, f"{label}: put_object")
        # boto3 1.36 and newer send a CRC32 by default, and S3 returns the
        # checksum it verified.
        report("ChecksumCRC32" in put, f"{label}: put_object returns ChecksumCRC32",
               f"response keys: {sorted(k for k in put if k != 'ResponseMetadata')}")
    except Exception as err:
        report(False, f"{label}: put_object", repr(err))
    try:
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["Body"].read()
        report(got == data, f"{label}: get_object with ChecksumMode ENABLED returns the bytes written",
               f"got {len(got)} bytes, expected {len(data)}")
    except Exception as err:  # botocore raises FlexibleChecksumError outside ClientError
        report(False, f"{label}: get_object with ChecksumMode ENABLED", repr(err))

    big_key = f"{prefix}/big.bin"
    transfer(label, s3, bucket, big_key, big)
    size = os.path.getsize(big)
    first, last = 5 * 1024 * 1024 - 100, 9 * 1024 * 1024 + 99
    try:
        got = s3.get_object(Bucket=bucket, Key=big_key, Range=f"bytes={first}-{last}")["Body"].read()
        with open(big, "rb") as f:
            f.seek(first)
            expected = f.read(last - first + 1)
        report(got == expected, f"{label}: get_object with Range bytes={first}-{last}",
               f"got {len(got)} bytes, expected {len(expected)}")
    except Exception as err:
        report(False, f"{label}: ranged get_object", repr(err))

    try:
        head = s3.head_object(Bucket=bucket, Key=big_key)
        report(head["ContentLength"] == size, f"{label}: head_object ContentLength is the plaintext size",
               f"expected {size}, got {head['ContentLength']}")
    except Exception as err:
        report(False, f"{label}: head_object", repr(err))
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        sizes = {o["Key"]: o["Size"] for o in listed.get("Contents", [])}
        expected_sizes = {key: len(data), big_key: size}
        report(sizes == expected_sizes, f"{label}: list_objects_v2 shows plaintext sizes",
               f"expected {expected_sizes}, got {sizes}")
    except Exception as err:
        report(False, f"{label}: list_objects_v2", repr(err))


def run_delete(label, bucket, prefix):
    s3 = proxy_client()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    report(bool(keys), f"{label}: objects to delete under {prefix}/")
    if not keys:
        return
    # boto3 1.36 and newer send DeleteObjects with a CRC32 and no Content-MD5,
    # older versions with Content-MD5.
    try:
        deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        errors = deleted.get("Errors", [])
        done = sorted(d["Key"] for d in deleted.get("Deleted", []))
        report(not errors and done == keys, f"{label}: delete_objects", f"deleted {done}, errors {errors}")
    except Exception as err:
        report(False, f"{label}: delete_objects", repr(err))
    left = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
    report(not left, f"{label}: list_objects_v2 after delete_objects is empty", f"left: {left}")


def presign(method, bucket, key):
    s3 = proxy_client()
    client_method = {"GET": "get_object", "PUT": "put_object"}[method]
    print(s3.generate_presigned_url(client_method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=300))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    if command == "objects":
        run_objects(*args[:5])
    elif command == "transfer":
        label, bucket, prefix, big = args[:4]
        transfer(label, proxy_client(), bucket, f"{prefix}/{os.path.basename(big)}", big)
    elif command == "delete":
        run_delete(*args[:3])
    elif command == "presign":
        presign(*args[:3])
        return 0
    else:
        print(f"unknown subcommand {command!r}; see the docstring of {argv[0]}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
