#!/usr/bin/env python3
"""Print an AWS Signature Version 4 presigned URL (query-string authentication).

tests/bench/perf.sh gives these URLs to its load generator and to
hold_streams.py, which do not sign requests. Usage:
    presign.py METHOD URL ACCESS_KEY SECRET_KEY REGION [EXPIRES_S]
URL is "http://host:port/bucket/key" (path style). The payload is
UNSIGNED-PAYLOAD, as S3 requires for presigned requests.
"""
import datetime
import hashlib
import hmac
import sys
import urllib.parse


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presign(method, url, access_key, secret_key, region, expires):
    parts = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now.strftime('%Y%m%d')}/{region}/s3/aws4_request"
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query.items()))
    path = urllib.parse.quote(parts.path, safe="/-_.~")
    canonical = "\n".join([method, path, canonical_query, f"host:{parts.netloc}", "", "host",
                           "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for item in (now.strftime("%Y%m%d"), region, "s3", "aws4_request"):
        key = hmac_sha256(key, item)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{parts.netloc}{path}?{canonical_query}&X-Amz-Signature={signature}"


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: presign.py METHOD URL ACCESS_KEY SECRET_KEY REGION [EXPIRES_S]")
    expires = int(sys.argv[6]) if len(sys.argv) == 7 else 3600
    print(presign(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], expires))


if __name__ == "__main__":
    main()
