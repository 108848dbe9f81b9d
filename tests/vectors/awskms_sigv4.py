#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Print the SigV4 Authorization header that botocore computes for the fixed
AWS KMS request of tests/unit/kms/test_kms_awskms.c.

The unit test checks s3seal's signer against this output, so the expected
signature comes from an independent implementation. Run with any Python that
has a botocore that reads the clock through botocore.auth.get_current_datetime
(1.43.11, the pip package, made the recorded values; Debian's 1.29 lacks it):

    python3 tests/vectors/awskms_sigv4.py

The script pins that clock with a mock, because add_auth reads it itself.
"""
import datetime
import hashlib
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BODY = (b'{"KeyId":"alias/s3seal","KeySpec":"AES_256",'
        b'"EncryptionContext":{"s3seal-context":"YnVja2V0L2tleQ=="}}')
WHEN = datetime.datetime(2024, 5, 1, 12, 0, 0)


def sign(session_token):
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token)
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=BODY, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "Host": "127.0.0.1:4566",
        "X-Amz-Target": "TrentService.GenerateDataKey",
        "X-Amz-Content-Sha256": hashlib.sha256(BODY).hexdigest(),
    })
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=WHEN):
        botocore.auth.SigV4Auth(credentials, "kms", "eu-west-1").add_auth(request)
    return request.headers["Authorization"]


def main():
    print("botocore", botocore.__version__)
    print("body sha256", hashlib.sha256(BODY).hexdigest())
    print("without session token:", sign(None))
    print("with session token FQoGZXIvYXdzEXAMPLETOKEN:", sign("FQoGZXIvYXdzEXAMPLETOKEN"))


if __name__ == "__main__":
    main()
