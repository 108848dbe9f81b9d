#!/usr/bin/python3
"""Creates an AES-256 key on a KMIP server with the PyKMIP client, activates it and prints its Unique
Identifier. The key may Encrypt and Decrypt; keys stay Pre-Active, and unusable, until Activate.

Usage: kmip_create_key.py HOST PORT CA_FILE CERT_FILE KEY_FILE [NAME]
Needs Debian's python3-pykmip, so run it with /usr/bin/python3.
"""
import sys

from kmip import enums
from kmip.pie.client import ProxyKmipClient


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    host, port, ca_file, cert_file, key_file = sys.argv[1:6]
    name = sys.argv[6] if len(sys.argv) == 7 else None
    client = ProxyKmipClient(hostname=host, port=int(port), ca=ca_file, cert=cert_file, key=key_file,
                             config_file="/dev/null", kmip_version=enums.KMIPVersion.KMIP_1_4)
    with client:
        uid = client.create(enums.CryptographicAlgorithm.AES, 256, name=name,
                            cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                      enums.CryptographicUsageMask.DECRYPT])
        client.activate(uid)
    print(uid)


if __name__ == "__main__":
    main()
