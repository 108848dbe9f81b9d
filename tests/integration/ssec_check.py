"""Python side of ssec.sh: SSE-C (customer-provided keys) through s3seal with
boto3 1.43, and what the backend stored.

Run with the pyenv Python 3.11. Settings come from the environment that
ssec.sh exports: PROXY_ENDPOINT, TEST_CA_FILE, CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, BACKEND_ENDPOINT, BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY
and REGION.

Usage: ssec_check.py https|http BUCKET WORK_DIR
  https  every SSE-C check, with s3seal listening on HTTPS
  http   the refusal of customer keys by s3seal listening on plain HTTP
Prints one "ok - ..." or "not ok - ..." line per check.
"""

import base64
import hashlib
import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)


def client(endpoint, access, secret, verify=None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=os.environ["REGION"],
        verify=verify,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_of(call):
    """Run CALL and return (HTTP status, error code) of the ClientError it raises, or (200, None)."""
    try:
        call()
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Code")
    return 200, None


def key_md5(key):
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_single_put(s3, backend, bucket, key_a, key_b):
    body = os.urandom(200_000) + b"s3seal-ssec-canary" * 64
    s3.put_object(Bucket=bucket, Key="single", Body=body, SSECustomerAlgorithm="AES256", SSECustomerKey=key_a)

    got = s3.get_object(Bucket=bucket, Key="single", SSECustomerAlgorithm="AES256", SSECustomerKey=key_a)
    data = got["Body"].read()
    report(sha256(data) == sha256(body), "single PUT: GET with the key returns the body")
    report(got.get("SSECustomerKeyMD5") == key_md5(key_a), "single PUT: GET echoes the key MD5",
           str(got.get("SSECustomerKeyMD5")))
    report(got.get("SSECustomerAlgorithm") == "AES256", "single PUT: GET echoes the algorithm")
    report("ServerSideEncryption" not in got, "single PUT: GET has no aws:kms header",
           str(got.get("ServerSideEncryption")))

    ranged = s3.get_object(Bucket=bucket, Key="single", Range="bytes=70000-70099", SSECustomerAlgorithm="AES256",
                           SSECustomerKey=key_a)["Body"].read()
    report(ranged == body[70000:70100], "single PUT: ranged GET with the key")

    head = s3.head_object(Bucket=bucket, Key="single", SSECustomerAlgorithm="AES256", SSECustomerKey=key_a)
    report(head["ContentLength"] == len(body), "single PUT: HEAD gives the plaintext size",
           str(head["ContentLength"]))

    status = error_of(lambda: s3.get_object(Bucket=bucket, Key="single"))
    report(status == (400, "InvalidRequest"), "single PUT: GET without the key is 400 InvalidRequest", str(status))
    status = error_of(lambda: s3.get_object(Bucket=bucket, Key="single", SSECustomerAlgorithm="AES256",
                                            SSECustomerKey=key_b))
    report(status == (403, "AccessDenied"), "single PUT: GET with another key is 403 AccessDenied", str(status))
    status = error_of(lambda: s3.head_object(Bucket=bucket, Key="single", SSECustomerAlgorithm="AES256",
                                             SSECustomerKey=key_b))
    report(status[0] == 403, "single PUT: HEAD with another key is 403", str(status))
    status = error_of(lambda: s3.head_object(Bucket=bucket, Key="single"))
    report(status[0] == 400, "single PUT: HEAD without the key is 400", str(status))

    stored = backend.get_object(Bucket=bucket, Key="single")
    raw = stored["Body"].read()
    meta = stored.get("Metadata", {})
    report(meta.get("s3seal-kms") == "ssec:customer-key", "single PUT: the envelope names the customer key",
           str(meta.get("s3seal-kms")))
    report(b"s3seal-ssec-canary" not in raw and len(raw) > len(body), "single PUT: the backend holds ciphertext")
    report(key_a not in raw and base64.b64encode(key_a) not in raw and
           all(base64.b64encode(key_a).decode() not in v for v in meta.values()),
           "single PUT: the customer key is not stored")
    report("SSECustomerAlgorithm" not in stored, "single PUT: the backend stored no SSE-C of its own")
    return body


def check_multipart(s3, bucket, key_a, key_b, work_dir):
    path = os.path.join(work_dir, "ssec-multipart.bin")
    body = os.urandom(12 * 1024 * 1024 + 5)
    with open(path, "wb") as f:
        f.write(body)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key_a}
    s3.upload_file(path, bucket, "multipart", ExtraArgs=extra, Config=config)
    out = path + ".down"
    s3.download_file(bucket, "multipart", out, ExtraArgs=extra, Config=config)
    with open(out, "rb") as f:
        report(sha256(f.read()) == sha256(body), "multipart: download_file with the key returns the file")
    etag = s3.head_object(Bucket=bucket, Key="multipart", **extra)["ETag"]
    report(etag.endswith('-3"'), "multipart: stored in three parts", etag)

    # a part of the upload sent with another customer key is refused
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mixed", **extra)
    status = error_of(lambda: s3.upload_part(Bucket=bucket, Key="mixed", UploadId=upload["UploadId"], PartNumber=1,
                                             Body=b"x" * 1024, SSECustomerAlgorithm="AES256",
                                             SSECustomerKey=key_b))
    report(status[0] == 403, "multipart: a part under another key is 403", str(status))
    status = error_of(lambda: s3.upload_part(Bucket=bucket, Key="mixed", UploadId=upload["UploadId"], PartNumber=1,
                                             Body=b"x" * 1024))
    report(status == (400, "InvalidRequest"), "multipart: a part without the key is 400 InvalidRequest",
           str(status))
    s3.abort_multipart_upload(Bucket=bucket, Key="mixed", UploadId=upload["UploadId"])


def check_copies(s3, bucket, body, key_a, key_b):
    s3.copy_object(Bucket=bucket, Key="copy-to-kms", CopySource={"Bucket": bucket, "Key": "single"},
                   CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key_a)
    data = s3.get_object(Bucket=bucket, Key="copy-to-kms")["Body"].read()
    report(data == body, "copy: SSE-C source to a KMS-wrapped copy")

    s3.copy_object(Bucket=bucket, Key="copy-to-b", CopySource={"Bucket": bucket, "Key": "single"},
                   CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key_a,
                   SSECustomerAlgorithm="AES256", SSECustomerKey=key_b)
    data = s3.get_object(Bucket=bucket, Key="copy-to-b", SSECustomerAlgorithm="AES256",
                         SSECustomerKey=key_b)["Body"].read()
    report(data == body, "copy: SSE-C source to a copy under another customer key")
    status = error_of(lambda: s3.get_object(Bucket=bucket, Key="copy-to-b", SSECustomerAlgorithm="AES256",
                                            SSECustomerKey=key_a))
    report(status[0] == 403, "copy: the copy does not open with the source's key", str(status))

    status = error_of(lambda: s3.copy_object(Bucket=bucket, Key="copy-no-key",
                                             CopySource={"Bucket": bucket, "Key": "single"}))
    report(status == (400, "InvalidRequest"), "copy: an SSE-C source without its key is 400", str(status))
    status = error_of(lambda: s3.copy_object(Bucket=bucket, Key="copy-wrong-key",
                                             CopySource={"Bucket": bucket, "Key": "single"},
                                             CopySourceSSECustomerAlgorithm="AES256",
                                             CopySourceSSECustomerKey=key_b))
    report(status[0] == 403, "copy: an SSE-C source with another key is 403", str(status))


def check_plain_http(plain, bucket, key_a):
    status = error_of(lambda: plain.put_object(Bucket=bucket, Key="over-http", Body=b"x",
                                               SSECustomerAlgorithm="AES256", SSECustomerKey=key_a))
    report(status == (400, "InvalidRequest"), "refusal: SSE-C over plain HTTP is 400 InvalidRequest", str(status))
    status = error_of(lambda: plain.head_object(Bucket=bucket, Key="over-http"))
    report(status[0] == 404, "refusal: nothing was stored for the HTTP request", str(status))


def check_refusals(s3, bucket, key_a):
    def bad_md5(params, **kwargs):
        params["headers"]["x-amz-server-side-encryption-customer-key-MD5"] = key_md5(b"another key")

    s3.meta.events.register("before-call.s3.PutObject", bad_md5)
    status = error_of(lambda: s3.put_object(Bucket=bucket, Key="bad-md5", Body=b"x", SSECustomerAlgorithm="AES256",
                                            SSECustomerKey=key_a))
    s3.meta.events.unregister("before-call.s3.PutObject", bad_md5)
    report(status == (400, "InvalidArgument"), "refusal: a key MD5 that does not match is 400 InvalidArgument",
           str(status))

    s3.put_object(Bucket=bucket, Key="kms-object", Body=b"plain object")
    status = error_of(lambda: s3.get_object(Bucket=bucket, Key="kms-object", SSECustomerAlgorithm="AES256",
                                            SSECustomerKey=key_a))
    report(status == (400, "InvalidRequest"), "refusal: a customer key for a KMS object is 400", str(status))


def main():
    mode, bucket, work_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    access, secret = os.environ["CLIENT_ACCESS_KEY"], os.environ["CLIENT_SECRET_KEY"]
    key_a, key_b = os.urandom(32), os.urandom(32)

    if mode == "http":
        check_plain_http(client(os.environ["PROXY_ENDPOINT"], access, secret), bucket, key_a)
    else:
        s3 = client(os.environ["PROXY_ENDPOINT"], access, secret, verify=os.environ["TEST_CA_FILE"])
        backend = client(os.environ["BACKEND_ENDPOINT"], os.environ["BACKEND_ACCESS_KEY"],
                         os.environ["BACKEND_SECRET_KEY"], verify=os.environ.get("BACKEND_CA_FILE") or None)
        body = check_single_put(s3, backend, bucket, key_a, key_b)
        check_multipart(s3, bucket, key_a, key_b, work_dir)
        check_copies(s3, bucket, body, key_a, key_b)
        check_refusals(s3, bucket, key_a)
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
