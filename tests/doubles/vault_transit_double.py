#!/usr/bin/python3
"""Test double of the HashiCorp Vault / OpenBao transit secrets engine.

This is a double, not Vault: no Vault or OpenBao server can be installed on
the test machines, so the s3seal tests run against this stand-in. It was
written from the public transit and AppRole API documentation and covers
only what s3seal and its tests use:

- POST <mount>/keys/:name (types aes256-gcm96 and aes128-gcm96),
  GET <mount>/keys/:name, POST <mount>/keys/:name/rotate and
  POST <mount>/keys/:name/config (min_decryption_version,
  min_encryption_version);
- POST <mount>/encrypt/:name, decrypt/:name, rewrap/:name and
  datakey/{plaintext,wrapped}/:name, with associated_data on encrypt,
  decrypt and datakey (rewrap takes none, as documented);
- the X-Vault-Token check, POST auth/approle/login with a token TTL,
  GET auth/token/lookup-self, GET sys/health and GET sys/mounts;
- {"errors": [...]} bodies with the documented statuses: 400 for bad input
  and failed decryption, 403 "permission denied", 404 for unknown paths.

Ciphertexts have the transit form "vault:v<N>:" + base64(nonce || ct || tag)
with a 12-byte nonce and AES-GCM from the system libcrypto through ctypes,
so the double needs only the Python standard library.

Test controls, on a path that Vault does not have and that needs no token:
POST /__double/control with any of {"delay_ms": N} (delay every answer),
{"fail_status": 503} (answer every API call with that status, 0 to stop),
{"refuse_tokens": true} (answer 403 to every token, as after a revocation),
{"expire_tokens": true} (forget all AppRole tokens once);
GET /__double/stats returns request counters.

Usage: vault_transit_double.py --port N [--root-token T] [--mount transit]
[--role-id R --secret-id S] [--token-ttl SECONDS] [--namespace NS]
Listens on 127.0.0.1 only and prints one line when ready.
"""

import argparse
import base64
import binascii
import ctypes
import ctypes.util
import json
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NONCE_LEN = 12
TAG_LEN = 16
EVP_CTRL_GCM_GET_TAG = 0x10
EVP_CTRL_GCM_SET_TAG = 0x11
KEY_LENGTHS = {"aes256-gcm96": 32, "aes128-gcm96": 16}


class AuthenticationFailed(Exception):
    """AES-GCM tag check failed."""


class Gcm:
    """AES-GCM through the EVP interface of the system libcrypto."""

    def __init__(self):
        name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
        lib = ctypes.CDLL(name)
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_aes_256_gcm.restype = ctypes.c_void_p
        lib.EVP_aes_128_gcm.restype = ctypes.c_void_p
        for fn in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_char_p, ctypes.c_char_p]
        for fn in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                         ctypes.c_char_p, ctypes.c_int]
        for fn in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        self.lib = lib

    def _cipher(self, key):
        return self.lib.EVP_aes_256_gcm() if len(key) == 32 else self.lib.EVP_aes_128_gcm()

    def seal(self, key, nonce, plaintext, aad):
        lib = self.lib
        ctx = lib.EVP_CIPHER_CTX_new()
        try:
            out = ctypes.create_string_buffer(len(plaintext) + 16)
            n = ctypes.c_int(0)
            if lib.EVP_EncryptInit_ex(ctx, self._cipher(key), None, key, nonce) != 1:
                raise RuntimeError("EVP_EncryptInit_ex failed")
            if aad and lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), aad, len(aad)) != 1:
                raise RuntimeError("EVP_EncryptUpdate (AAD) failed")
            if lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), plaintext, len(plaintext)) != 1:
                raise RuntimeError("EVP_EncryptUpdate failed")
            total = n.value
            if lib.EVP_EncryptFinal_ex(ctx, ctypes.byref(out, total), ctypes.byref(n)) != 1:
                raise RuntimeError("EVP_EncryptFinal_ex failed")
            total += n.value
            tag = ctypes.create_string_buffer(TAG_LEN)
            if lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1:
                raise RuntimeError("EVP_CTRL_GCM_GET_TAG failed")
            return out.raw[:total] + tag.raw
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)

    def open(self, key, nonce, sealed, aad):
        lib = self.lib
        if len(sealed) < TAG_LEN:
            raise AuthenticationFailed()
        body, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
        ctx = lib.EVP_CIPHER_CTX_new()
        try:
            out = ctypes.create_string_buffer(len(body) + 16)
            n = ctypes.c_int(0)
            if lib.EVP_DecryptInit_ex(ctx, self._cipher(key), None, key, nonce) != 1:
                raise RuntimeError("EVP_DecryptInit_ex failed")
            if aad and lib.EVP_DecryptUpdate(ctx, None, ctypes.byref(n), aad, len(aad)) != 1:
                raise RuntimeError("EVP_DecryptUpdate (AAD) failed")
            if lib.EVP_DecryptUpdate(ctx, out, ctypes.byref(n), body, len(body)) != 1:
                raise RuntimeError("EVP_DecryptUpdate failed")
            total = n.value
            tag_buf = ctypes.create_string_buffer(tag, TAG_LEN)
            if lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag_buf) != 1:
                raise RuntimeError("EVP_CTRL_GCM_SET_TAG failed")
            if lib.EVP_DecryptFinal_ex(ctx, ctypes.byref(out, total), ctypes.byref(n)) != 1:
                raise AuthenticationFailed()
            return out.raw[:total + n.value]
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)


class ApiError(Exception):
    """An answer with an {"errors": [...]} body."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def b64decode_field(body, name, required):
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    if value == "":
        if required:
            raise ApiError(400, f"missing {name}")
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"failed to base64-decode {name}") from None


class TransitKey:
    def __init__(self, name, key_type):
        self.name = name
        self.type = key_type
        self.versions = {}
        self.latest = 0
        self.min_decryption_version = 1
        self.min_encryption_version = 0
        self.rotate()

    def rotate(self):
        self.latest += 1
        self.versions[self.latest] = (secrets.token_bytes(KEY_LENGTHS[self.type]), int(time.time()))

    def describe(self):
        return {
            "name": self.name, "type": self.type, "derived": False, "exportable": False,
            "deletion_allowed": False, "allow_plaintext_backup": False, "convergent_encryption": False,
            "supports_encryption": True, "supports_decryption": True, "supports_derivation": True,
            "supports_signing": False, "latest_version": self.latest,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "keys": {str(v): created for v, (_, created) in self.versions.items()},
        }


class Transit:
    """Keys and crypto of one transit mount; a lock serializes key changes against use."""

    def __init__(self):
        self.gcm = Gcm()
        self.keys = {}
        self.lock = threading.Lock()

    def key(self, name):
        key = self.keys.get(name)
        if key is None:
            raise ApiError(400, "encryption key not found")
        return key

    def create(self, name, key_type):
        if key_type not in KEY_LENGTHS:
            raise ApiError(400, f"unknown key type: {key_type}")
        with self.lock:
            if name not in self.keys:
                self.keys[name] = TransitKey(name, key_type)
            return self.keys[name]

    def encrypt(self, name, plaintext, aad, version=0, upsert=False):
        with self.lock:
            if upsert and name not in self.keys:
                self.keys[name] = TransitKey(name, "aes256-gcm96")
            key = self.key(name)
            if version == 0:
                version = key.latest
            if version > key.latest or version < max(key.min_encryption_version, 1):
                raise ApiError(400, "requested version for encryption is not allowed by the key policy")
            material = key.versions[version][0]
        nonce = secrets.token_bytes(NONCE_LEN)
        sealed = self.gcm.seal(material, nonce, plaintext, aad)
        return f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode(), version

    def decrypt(self, name, ciphertext, aad):
        if not isinstance(ciphertext, str) or not ciphertext.startswith("vault:"):
            raise ApiError(400, "invalid ciphertext: no prefix")
        parts = ciphertext.split(":", 2)
        if len(parts) != 3 or not parts[1].startswith("v") or not parts[1][1:].isdigit():
            raise ApiError(400, "invalid ciphertext: wrong number of fields")
        version = int(parts[1][1:])
        with self.lock:
            key = self.key(name)
            if version < key.min_decryption_version:
                raise ApiError(400, "ciphertext or signature version is disallowed by policy (too old)")
            if version > key.latest or version not in key.versions:
                raise ApiError(400, "invalid key version")
            material = key.versions[version][0]
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid ciphertext: could not decode base64") from None
        if len(raw) < NONCE_LEN + TAG_LEN:
            raise ApiError(400, "invalid ciphertext: too short")
        try:
            return self.gcm.open(material, raw[:NONCE_LEN], raw[NONCE_LEN:], aad)
        except AuthenticationFailed:
            raise ApiError(400, "cipher: message authentication failed") from None


class State:
    def __init__(self, args):
        self.args = args
        self.transit = Transit()
        self.lock = threading.Lock()
        self.tokens = {}
        if args.root_token:
            self.tokens[args.root_token] = None
        self.delay_ms = 0
        self.fail_status = 0
        self.refuse_tokens = False
        self.stats = {"requests": 0, "logins": 0, "denied": 0, "encrypt": 0, "decrypt": 0, "datakey": 0,
                      "rewrap": 0, "failed_on_purpose": 0}

    def count(self, name):
        with self.lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def token_is_valid(self, token):
        with self.lock:
            if self.refuse_tokens or token not in self.tokens:
                return False
            expiry = self.tokens[token]
            if expiry is not None and time.monotonic() >= expiry:
                del self.tokens[token]
                return False
            return True

    def login(self, role_id, secret_id):
        args = self.args
        if not args.role_id or role_id != args.role_id or secret_id != args.secret_id:
            raise ApiError(400, "invalid role or secret ID")
        token = "hvs." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + args.token_ttl if args.token_ttl > 0 else None
            self.stats["logins"] += 1
        return {"auth": {"client_token": token, "accessor": secrets.token_hex(12), "policies": ["default", "s3seal"],
                         "token_policies": ["default", "s3seal"], "metadata": {"role_name": "s3seal"},
                         "lease_duration": args.token_ttl, "renewable": True, "entity_id": "",
                         "token_type": "service", "orphan": True}}

    def control(self, body):
        with self.lock:
            if "delay_ms" in body:
                self.delay_ms = int(body["delay_ms"])
            if "fail_status" in body:
                self.fail_status = int(body["fail_status"])
            if "refuse_tokens" in body:
                self.refuse_tokens = bool(body["refuse_tokens"])
            if body.get("expire_tokens"):
                self.tokens = {t: e for t, e in self.tokens.items() if e is None}
            return {"delay_ms": self.delay_ms, "fail_status": self.fail_status, "refuse_tokens": self.refuse_tokens}


def int_field(body, name):
    value = body.get(name, 0)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "vault-transit-double"
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Go's net/http, which Vault uses, turns Nagle off; with it on, a kept-alive connection waits for
        # the client's delayed ACK (about 40 ms) before each reply body
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("double: " + (fmt % args) + "\n")

    def send_json(self, status, payload):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "failed to parse JSON input") from None
        if not isinstance(body, dict):
            raise ApiError(400, "failed to parse JSON input")
        return body

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("POST")

    def dispatch(self, method):
        state = self.server.state
        state.count("requests")
        try:
            body = self.read_body() if method == "POST" else {}
            if self.path.startswith("/__double/"):
                self.send_json(200, self.double_control(method, body))
                return
            if state.delay_ms > 0:
                time.sleep(state.delay_ms / 1000.0)
            if state.fail_status and self.path != "/v1/sys/health":
                state.count("failed_on_purpose")
                raise ApiError(state.fail_status, "the double was told to fail this request")
            status, payload = self.route(method, body)
            self.send_json(status, payload)
        except ApiError as e:
            if e.status == 403:
                state.count("denied")
            self.send_json(e.status, {"errors": [e.message] if e.message else []})

    def double_control(self, method, body):
        state = self.server.state
        if self.path == "/__double/control" and method == "POST":
            return state.control(body)
        if self.path == "/__double/stats":
            with state.lock:
                return dict(state.stats)
        raise ApiError(404, "unknown double control path")

    def require_token(self):
        state = self.server.state
        token = self.headers.get("X-Vault-Token", "")
        if not token or not state.token_is_valid(token):
            raise ApiError(403, "permission denied")
        namespace = state.args.namespace
        if namespace and self.headers.get("X-Vault-Namespace", "").strip("/") != namespace.strip("/"):
            # a mount inside a namespace is not found from outside it
            raise ApiError(404, f"no handler for route \"{self.path[4:]}\". route entry not found.")

    def route(self, method, body):
        state = self.server.state
        path = self.path.split("?", 1)[0]
        if not path.startswith("/v1/"):
            raise ApiError(404, "")
        path = path[4:]
        if path == "sys/health":
            return 200, {"initialized": True, "sealed": False, "standby": False, "performance_standby": False,
                         "server_time_utc": int(time.time()), "version": "double", "cluster_name": "double"}
        if path == "auth/approle/login" and method == "POST":
            return 200, state.login(body.get("role_id"), body.get("secret_id"))
        self.require_token()
        if path == "auth/token/lookup-self":
            return 200, {"data": {"policies": ["default"], "ttl": 0, "type": "service"}}
        if path == "sys/mounts":
            return 200, {"data": {f"{state.args.mount}/": {"type": "transit"}}}
        prefix = state.args.mount + "/"
        if not path.startswith(prefix):
            raise ApiError(404, f"no handler for route \"{path}\". route entry not found.")
        return self.transit_route(method, path[len(prefix):].split("/"), body)

    def transit_route(self, method, parts, body):
        state = self.server.state
        transit = state.transit
        if parts[0] == "keys" and len(parts) == 2:
            if method == "GET":
                with transit.lock:
                    key = transit.keys.get(parts[1])
                    if key is None:
                        raise ApiError(404, "")
                    return 200, {"data": key.describe()}
            key = transit.create(parts[1], body.get("type", "aes256-gcm96"))
            return 200, {"data": key.describe()}
        if parts[0] == "keys" and len(parts) == 3 and method == "POST":
            return self.key_action(parts[1], parts[2], body)
        if method != "POST":
            raise ApiError(405, "unsupported operation")
        if parts[0] == "encrypt" and len(parts) == 2:
            state.count("encrypt")
            plaintext = b64decode_field(body, "plaintext", required="plaintext" not in body)
            aad = b64decode_field(body, "associated_data", required=False)
            ciphertext, version = transit.encrypt(parts[1], plaintext, aad, int_field(body, "key_version"),
                                                  upsert=True)
            return 200, {"data": {"ciphertext": ciphertext, "key_version": version}}
        if parts[0] == "decrypt" and len(parts) == 2:
            state.count("decrypt")
            if not body.get("ciphertext"):
                raise ApiError(400, "missing ciphertext to decrypt")
            aad = b64decode_field(body, "associated_data", required=False)
            plaintext = transit.decrypt(parts[1], body["ciphertext"], aad)
            return 200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}}
        if parts[0] == "rewrap" and len(parts) == 2:
            state.count("rewrap")
            if not body.get("ciphertext"):
                raise ApiError(400, "missing ciphertext to decrypt")
            # the documented rewrap takes no associated_data, so it decrypts without any
            plaintext = transit.decrypt(parts[1], body["ciphertext"], b"")
            ciphertext, version = transit.encrypt(parts[1], plaintext, b"", int_field(body, "key_version"))
            return 200, {"data": {"ciphertext": ciphertext, "key_version": version}}
        if parts[0] == "datakey" and len(parts) == 3 and parts[1] in ("plaintext", "wrapped"):
            state.count("datakey")
            bits = int_field(body, "bits") or 256
            if bits not in (128, 256, 512):
                raise ApiError(400, "invalid bits given")
            aad = b64decode_field(body, "associated_data", required=False)
            datakey = secrets.token_bytes(bits // 8)
            ciphertext, version = transit.encrypt(parts[2], datakey, aad)
            data = {"ciphertext": ciphertext, "key_version": version}
            if parts[1] == "plaintext":
                data["plaintext"] = base64.b64encode(datakey).decode()
            return 200, {"data": data}
        raise ApiError(404, f"no handler for route \"{'/'.join(parts)}\". route entry not found.")

    def key_action(self, name, action, body):
        transit = self.server.state.transit
        with transit.lock:
            key = transit.keys.get(name)
            if key is None:
                raise ApiError(400, "encryption key not found")
            if action == "rotate":
                key.rotate()
                return 200, {"data": key.describe()}
            if action == "config":
                min_dec = int_field(body, "min_decryption_version") if "min_decryption_version" in body else None
                min_enc = int_field(body, "min_encryption_version") if "min_encryption_version" in body else None
                if min_dec is not None:
                    if min_dec > key.latest:
                        raise ApiError(400, "cannot set min decryption version of greater than the latest version")
                    key.min_decryption_version = max(min_dec, 1)
                if min_enc is not None:
                    if min_enc != 0 and min_enc < key.min_decryption_version:
                        raise ApiError(400, "min encryption version should not be less than min decryption version")
                    key.min_encryption_version = min_enc
                return 200, {"data": key.describe()}
        raise ApiError(404, f"no handler for route \"keys/{name}/{action}\". route entry not found.")


def main():
    parser = argparse.ArgumentParser(description="Vault transit test double (not Vault)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root-token", default="")
    parser.add_argument("--mount", default="transit")
    parser.add_argument("--role-id", default="")
    parser.add_argument("--secret-id", default="")
    parser.add_argument("--token-ttl", type=int, default=0, help="seconds; 0 for AppRole tokens that never expire")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print(f"vault transit double (a test stand-in, not Vault) listening on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
