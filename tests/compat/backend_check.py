"""Backend checks for the client scripts in tests/compat.

Run with the pyenv Python 3.11 and its boto3 1.43. Settings come from the
environment that tests/compat/lib.sh exports: BACKEND_ENDPOINT,
BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY and REGION.

Subcommands (each prints one "ok - ..." or "not ok - ..." line per check):
  sealed LABEL BUCKET PREFIX CANARY MIN_COUNT
      at least MIN_COUNT objects under PREFIX, each with envelope metadata
      and a valid chunk layout (docs/FORMAT.md), and no stored body
      contains the text CANARY that the script wrote into every plaintext
  empty LABEL BUCKET PREFIX
      no object under PREFIX on the backend
"""

import os
import sys

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from clients_py import backend_client, report  # noqa: E402
import clients_py  # noqa: E402
from objects_check import parse_stored  # noqa: E402


def backend_keys(backend, bucket, prefix):
    pages = backend.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def run_sealed(label, bucket, prefix, canary, min_count):
    backend = backend_client()
    keys = backend_keys(backend, bucket, prefix)
    report(len(keys) >= min_count, f"{label}: backend has at least {min_count} objects under {prefix}",
           f"found {len(keys)}")

    no_envelope, bad_layout, with_canary = [], [], []
    for key in keys:
        got = backend.get_object(Bucket=bucket, Key=key)
        stored = got["Body"].read()
        meta = got.get("Metadata", {})
        if meta.get("s3seal") != "1" or "s3seal-dek" not in meta or "s3seal-mac" not in meta:
            no_envelope.append(f"{key}: metadata {sorted(meta)}")
        try:
            parse_stored(stored)
        except ValueError as err:
            bad_layout.append(f"{key}: {err}")
        if canary.encode() in stored:
            with_canary.append(key)

    report(not no_envelope, f"{label}: {len(keys)} backend objects have envelope metadata", "; ".join(no_envelope[:5]))
    report(not bad_layout, f"{label}: {len(keys)} backend objects have a valid chunk layout", "; ".join(bad_layout[:5]))
    report(not with_canary, f"{label}: no backend object contains the plaintext canary",
           f"canary found in {with_canary[:5]}")


def run_empty(label, bucket, prefix):
    try:
        keys = backend_keys(backend_client(), bucket, prefix)
    except ClientError as err:
        report(False, f"{label}: list {prefix} on the backend", str(err))
        return
    report(not keys, f"{label}: backend has no object under {prefix}", f"found {keys[:5]}")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    if command == "sealed":
        run_sealed(args[0], args[1], args[2], args[3], int(args[4]))
    elif command == "empty":
        run_empty(args[0], args[1], args[2])
    else:
        print(f"unknown subcommand {command!r}; see the docstring of {argv[0]}", file=sys.stderr)
        return 2
    return 1 if clients_py.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
