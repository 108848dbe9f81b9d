"""Checks of the objects that s3seal stored on the backend, and the boto3
clients for s3seal and for the backend, shared by signing_checks.py,
objects_check.py and tests/compat/backend_check.py.

Run with the pyenv Python 3.11 and its boto3 1.43. Settings come from the
environment that the calling script exports: PROXY_ENDPOINT, CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, BACKEND_ENDPOINT, BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY,
REGION and, for an https:// PROXY_ENDPOINT, TEST_CA_FILE.

Subcommands (each prints one "ok - ..." or "not ok - ..." line per check):
  stored LABEL BUCKET KEY=SIZE...  objects are ciphertext of the given
                                   plaintext size, with envelope metadata
  absent LABEL BUCKET KEY...       objects do not exist on the backend
"""

import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Stored object layout from docs/FORMAT.md: every plaintext chunk of up to
# 65536 bytes gains 36 bytes.
CHUNK_SIZE = 65536
CHUNK_OVERHEAD = 36
ENVELOPE_METADATA = ("s3seal", "s3seal-kms", "s3seal-dek", "s3seal-cm", "s3seal-len", "s3seal-mac")

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)


def short(key):
    """Return KEY, or its start and length when it is too long for a check name."""
    return key if len(key) <= 60 else f"{key[:20]}... ({len(key.encode())} bytes)"


def ciphertext_size(plain_size):
    full, rest = divmod(plain_size, CHUNK_SIZE)
    return full * (CHUNK_SIZE + CHUNK_OVERHEAD) + (rest + CHUNK_OVERHEAD if rest else 0)


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


def backend_verify():
    """Return the CA file for an https:// backend (S3SEAL_TEST_CA_FILE in lib.sh), or None for the default store."""
    return os.environ.get("BACKEND_CA_FILE") or None


def backend_client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["BACKEND_ENDPOINT"],
        aws_access_key_id=os.environ["BACKEND_ACCESS_KEY"],
        aws_secret_access_key=os.environ["BACKEND_SECRET_KEY"],
        region_name=os.environ["REGION"],
        verify=backend_verify(),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required",
                      retries={"max_attempts": 1, "mode": "standard"}),
    )


def check_stored(label, bucket, key, plain_size, backend=None):
    """Check on the backend that KEY contains ciphertext of PLAIN_SIZE bytes."""
    backend = backend or backend_client()
    try:
        head = backend.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        report(False, f"{label}: {short(key)}: stored on backend", str(err))
        return
    expected = ciphertext_size(plain_size)
    report(head["ContentLength"] == expected, f"{label}: {short(key)}: backend size is the ciphertext size",
           f"expected {expected}, got {head['ContentLength']}")
    missing = [m for m in ENVELOPE_METADATA if m not in head.get("Metadata", {})]
    report(not missing, f"{label}: {short(key)}: backend has envelope metadata",
           f"missing {missing}, found {sorted(head.get('Metadata', {}))}")


def check_absent(label, bucket, key, backend=None, absent_statuses=(404,)):
    """Check that HeadObject of KEY on the backend returns a status in
    ABSENT_STATUSES (a key the backend cannot store gets 400 there)."""
    backend = backend or backend_client()
    try:
        backend.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        report(status in absent_statuses, f"{label}: {short(key)}: absent on backend", f"HEAD returned {status}: {err}")
        return
    report(False, f"{label}: {short(key)}: absent on backend", "the key exists")


def main(argv):
    command = argv[1]
    if command == "stored":
        label, bucket = argv[2], argv[3]
        backend = backend_client()
        for item in argv[4:]:
            key, size = item.rsplit("=", 1)
            check_stored(label, bucket, key, int(size), backend)
    elif command == "absent":
        label, bucket = argv[2], argv[3]
        backend = backend_client()
        for key in argv[4:]:
            check_absent(label, bucket, key, backend)
    else:
        print(f"unknown subcommand {command!r}; see the docstring of {argv[0]}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
