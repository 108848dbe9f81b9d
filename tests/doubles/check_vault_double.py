#!/usr/bin/python3
"""Checks tests/doubles/vault_transit_double.py with hvac, an independent Vault client.

hvac (Debian package python3-hvac) was written against real Vault servers,
so every call it makes and every reply field it reads here is a check that
the double speaks the documented transit and AppRole API. hvac 0.11 has no
associated_data argument, so those calls go through its raw adapter.

Usage: check_vault_double.py URL ROOT_TOKEN ROLE_ID SECRET_ID
Prints one "ok - ..." or "not ok - ..." line per check and exits 1 if any
check failed.
"""

import base64
import os
import sys

import hvac
import hvac.exceptions

failures = 0
checks = 0


def check(name, condition, detail=""):
    global failures, checks
    checks += 1
    if condition:
        print(f"ok - double vs hvac: {name}")
    else:
        failures += 1
        print(f"not ok - double vs hvac: {name} {detail}")


def raises(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type:
        return True
    except Exception as e:  # another error type is a failed check, not a crash
        print(f"# unexpected {type(e).__name__}: {e}")
        return False
    return False


def b64(data):
    return base64.b64encode(data).decode()


def check_gcm():
    """Compares the double's ctypes AES-GCM with python3-cryptography's, both ways."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from vault_transit_double import Gcm

    gcm = Gcm()
    for key_len in (16, 32):
        key, nonce, data, aad = os.urandom(key_len), os.urandom(12), os.urandom(45), os.urandom(20)
        sealed = gcm.seal(key, nonce, data, aad)
        check(f"AES-{key_len * 8}-GCM of the double equals python3-cryptography's",
              sealed == AESGCM(key).encrypt(nonce, data, aad))
        check(f"AES-{key_len * 8}-GCM of the double opens python3-cryptography's output",
              gcm.open(key, nonce, AESGCM(key).encrypt(nonce, data, aad), aad) == data)


def main():
    url, root_token, role_id, secret_id = sys.argv[1:5]
    check_gcm()
    client = hvac.Client(url=url, token=root_token)
    transit = client.secrets.transit

    check("sys/health reports an unsealed server", client.sys.read_health_status(method="GET")["sealed"] is False)
    check("the root token is authenticated", client.is_authenticated())

    transit.create_key(name="hvac-key", key_type="aes256-gcm96")
    key = transit.read_key(name="hvac-key")["data"]
    check("create_key then read_key gives version 1 of aes256-gcm96",
          key["type"] == "aes256-gcm96" and key["latest_version"] == 1)

    plaintext = os.urandom(32)
    ciphertext = transit.encrypt_data(name="hvac-key", plaintext=b64(plaintext))["data"]["ciphertext"]
    check("encrypt_data returns a vault:v1: ciphertext", ciphertext.startswith("vault:v1:"), ciphertext[:12])
    decrypted = transit.decrypt_data(name="hvac-key", ciphertext=ciphertext)["data"]["plaintext"]
    check("decrypt_data returns the plaintext", base64.b64decode(decrypted) == plaintext)

    tampered = ciphertext[:-4] + ("AAAA" if ciphertext[-4:] != "AAAA" else "BBBB")
    check("decrypt_data of a tampered ciphertext raises InvalidRequest (400)",
          raises(hvac.exceptions.InvalidRequest, transit.decrypt_data, name="hvac-key", ciphertext=tampered))

    transit.rotate_key(name="hvac-key")
    check("rotate_key moves latest_version to 2", transit.read_key(name="hvac-key")["data"]["latest_version"] == 2)
    newer = transit.encrypt_data(name="hvac-key", plaintext=b64(plaintext))["data"]["ciphertext"]
    check("encrypt_data after rotation uses v2", newer.startswith("vault:v2:"), newer[:12])
    rewrapped = transit.rewrap_data(name="hvac-key", ciphertext=ciphertext)["data"]["ciphertext"]
    check("rewrap_data moves a v1 ciphertext to v2", rewrapped.startswith("vault:v2:"), rewrapped[:12])
    decrypted = transit.decrypt_data(name="hvac-key", ciphertext=rewrapped)["data"]["plaintext"]
    check("the rewrapped ciphertext decrypts to the plaintext", base64.b64decode(decrypted) == plaintext)

    transit.update_key_configuration(name="hvac-key", min_decryption_version=2)
    check("update_key_configuration sets min_decryption_version",
          transit.read_key(name="hvac-key")["data"]["min_decryption_version"] == 2)
    check("a v1 ciphertext is refused below min_decryption_version",
          raises(hvac.exceptions.InvalidRequest, transit.decrypt_data, name="hvac-key", ciphertext=ciphertext))

    data_key = transit.generate_data_key(name="hvac-key", key_type="plaintext")["data"]
    check("generate_data_key returns a 32-byte key and its ciphertext",
          len(base64.b64decode(data_key["plaintext"])) == 32 and data_key["ciphertext"].startswith("vault:v2:"))
    wrapped_only = transit.generate_data_key(name="hvac-key", key_type="wrapped")["data"]
    check("generate_data_key wrapped returns no plaintext", "plaintext" not in wrapped_only)

    adapter = client.adapter
    bound = adapter.post("/v1/transit/encrypt/hvac-key",
                         json={"plaintext": b64(plaintext), "associated_data": b64(b"ctx-a")})
    bound_ct = bound["data"]["ciphertext"]
    same = adapter.post("/v1/transit/decrypt/hvac-key",
                        json={"ciphertext": bound_ct, "associated_data": b64(b"ctx-a")})
    check("associated_data: decrypt with the same data works",
          base64.b64decode(same["data"]["plaintext"]) == plaintext)
    check("associated_data: decrypt with other data raises InvalidRequest",
          raises(hvac.exceptions.InvalidRequest, adapter.post, "/v1/transit/decrypt/hvac-key",
                 json={"ciphertext": bound_ct, "associated_data": b64(b"ctx-b")}))
    check("an unknown key raises InvalidRequest on decrypt",
          raises(hvac.exceptions.InvalidRequest, transit.decrypt_data, name="no-such-key", ciphertext=newer))

    bad = hvac.Client(url=url, token="not-a-token")
    check("a wrong token raises Forbidden (403)",
          raises(hvac.exceptions.Forbidden, bad.secrets.transit.encrypt_data, name="hvac-key",
                 plaintext=b64(plaintext)))

    approle = hvac.Client(url=url)
    login = approle.auth.approle.login(role_id=role_id, secret_id=secret_id)
    check("approle login returns a client token with a lease",
          bool(login["auth"]["client_token"]) and login["auth"]["lease_duration"] >= 0)
    check("the AppRole token can encrypt",
          approle.secrets.transit.encrypt_data(name="hvac-key", plaintext=b64(plaintext))["data"]["ciphertext"]
          .startswith("vault:v2:"))
    check("a wrong secret ID is refused with InvalidRequest (400)",
          raises(hvac.exceptions.InvalidRequest, hvac.Client(url=url).auth.approle.login, role_id=role_id,
                 secret_id="wrong"))

    print(f"# hvac checks of the double: {checks - failures} of {checks} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
