#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Check the s3seal format-v1 vectors with an implementation written from docs/FORMAT.md.

It shares no code with crypto/: key derivation, chunk parsing, AES-256-GCM and
the envelope MAC use Debian's python3-cryptography package.
Usage: /usr/bin/python3 decrypt_vectors.py PATH/format-v1.json
       /usr/bin/python3 decrypt_vectors.py object KEY_FILE BUCKET KEY HEAD_JSON STORED OUT
The second form decrypts one object copied straight from the backend, with the
data key unwrapped from the key file as docs/KEYS.md describes ("file"
provider), and writes the plaintext to OUT. HEAD_JSON is the output of
"aws s3api head-object" for the object.
"""

import base64
import binascii
import hmac
import json
import re
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

K = 65536
HEADER_LEN = 20
TAG_LEN = 16
OVERHEAD = HEADER_LEN + TAG_LEN
SUITE_AES_256_GCM = 0
FLAG_FINAL = 0x01
PART_NUMBER_MAX = 10000
META = "x-amz-meta-"


class FormatError(Exception):
    """The stored bytes are not a valid object of format version 1."""


def hkdf(dek, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(dek)


def derive_commitment(dek):
    return hkdf(dek, None, b"s3seal/1 commit")


def derive_key_meta(dek):
    return hkdf(dek, None, b"s3seal/1 meta")


def derive_key_stream(dek, stream_id, part_number):
    info = b"s3seal/1 data" + bytes([SUITE_AES_256_GCM]) + struct.pack(">I", part_number)
    return hkdf(dek, stream_id, info)


def encrypted_size(plain_len):
    rest = plain_len % K
    return plain_len // K * (K + OVERHEAD) + (rest + OVERHEAD if rest else 0)


def decrypted_size(cipher_len):
    rest = cipher_len % (K + OVERHEAD)
    if 1 <= rest <= OVERHEAD:
        raise FormatError("stored size %d is not a valid stream size" % cipher_len)
    return cipher_len // (K + OVERHEAD) * K + (rest - OVERHEAD if rest else 0)


def chunk_plain_len(plain_len, seq, count):
    return K if seq < count - 1 else plain_len - K * (count - 1)


def nonce(seq):
    return b"\x00" * 4 + struct.pack(">Q", seq)


def header(seq, count, plain_len, part_number, stream_id):
    flags = (SUITE_AES_256_GCM << 4) | (FLAG_FINAL if seq == count - 1 else 0)
    return struct.pack(">BBHII", 1, flags, plain_len - 1, part_number, seq) + stream_id


def check_header(hdr, seq, count, expected_len, part_number):
    version, flags, length_field, part, sequence = struct.unpack(">BBHII", hdr[:12])
    if version != 1:
        raise FormatError("chunk %d: unknown version %d" % (seq, version))
    if flags >> 4 != SUITE_AES_256_GCM or flags & 0x0E:
        raise FormatError("chunk %d: unknown suite or reserved flag bits 0x%02x" % (seq, flags))
    if bool(flags & FLAG_FINAL) != (seq == count - 1):
        raise FormatError("chunk %d: FINAL flag on the wrong chunk" % seq)
    if length_field + 1 != expected_len:
        raise FormatError("chunk %d: length %d, expected %d" % (seq, length_field + 1, expected_len))
    if part != part_number:
        raise FormatError("chunk %d: part number %d, expected %d" % (seq, part, part_number))
    if sequence != seq:
        raise FormatError("chunk %d: sequence number %d" % (seq, sequence))


def decrypt_stream(dek, part_number, plain_len, stored):
    """Return the plaintext of one stream or raise FormatError."""
    count = -(-plain_len // K)
    plain = bytearray()
    stream_id = None
    aead = None
    offset = 0
    for seq in range(count):
        expected_len = chunk_plain_len(plain_len, seq, count)
        chunk = stored[offset:offset + expected_len + OVERHEAD]
        if len(chunk) != expected_len + OVERHEAD:
            raise FormatError("chunk %d: stream ends early" % seq)
        hdr = chunk[:HEADER_LEN]
        check_header(hdr, seq, count, expected_len, part_number)
        if stream_id is None:
            stream_id = hdr[12:20]
            aead = AESGCM(derive_key_stream(dek, stream_id, part_number))
        elif hdr[12:20] != stream_id:
            raise FormatError("chunk %d: stream id changed" % seq)
        try:
            plain += aead.decrypt(nonce(seq), chunk[HEADER_LEN:], hdr)
        except InvalidTag:
            raise FormatError("chunk %d: authentication tag mismatch" % seq) from None
        offset += len(chunk)
    if offset != len(stored):
        raise FormatError("%d bytes after the FINAL chunk" % (len(stored) - offset))
    return bytes(plain)


def parse_chunk_header(hdr):
    """Return (plaintext length, final, part number, sequence number, stream id) of a chunk header."""
    version, flags, length_field, part, sequence = struct.unpack(">BBHII", hdr[:12])
    if version != 1:
        raise FormatError("unknown chunk version %d" % version)
    if flags >> 4 != SUITE_AES_256_GCM or flags & 0x0E:
        raise FormatError("unknown suite or reserved flag bits 0x%02x" % flags)
    return length_field + 1, bool(flags & FLAG_FINAL), part, sequence, hdr[12:20]


def decrypt_multipart(dek, stored, from_start=True):
    """Return the plaintext of a multipart object, or of its end from a chunk boundary, or raise FormatError."""
    plain = bytearray()
    previous = None  # (part number, sequence number, stream id, final) of the last chunk
    keys = {}
    offset = 0
    while offset < len(stored):
        hdr = stored[offset:offset + HEADER_LEN]
        if len(hdr) != HEADER_LEN:
            raise FormatError("offset %d: data ends inside a chunk header" % offset)
        length, final, part, seq, stream_id = parse_chunk_header(hdr)
        chunk = stored[offset:offset + length + OVERHEAD]
        if len(chunk) != length + OVERHEAD:
            raise FormatError("offset %d: data ends inside a chunk" % offset)
        if not 1 <= part <= PART_NUMBER_MAX:
            raise FormatError("offset %d: part number %d" % (offset, part))
        if not final and length != K:
            raise FormatError("offset %d: non-FINAL chunk of %d bytes" % (offset, length))
        if previous is None:
            if from_start and seq != 0:
                raise FormatError("the object starts at sequence number %d" % seq)
        elif previous[3]:
            if part <= previous[0] or seq != 0:
                raise FormatError("offset %d: part %d sequence %d after the end of part %d"
                                  % (offset, part, seq, previous[0]))
        elif (part, seq, stream_id) != (previous[0], previous[1] + 1, previous[2]):
            raise FormatError("offset %d: chunk does not continue part %d" % (offset, previous[0]))
        if (stream_id, part) not in keys:
            keys[(stream_id, part)] = AESGCM(derive_key_stream(dek, stream_id, part))
        try:
            plain += keys[(stream_id, part)].decrypt(nonce(seq), chunk[HEADER_LEN:], hdr)
        except InvalidTag:
            raise FormatError("offset %d: authentication tag mismatch" % offset) from None
        previous = (part, seq, stream_id, final)
        offset += len(chunk)
    if previous is None or not previous[3]:
        raise FormatError("the object does not end with a FINAL chunk")
    return bytes(plain)


def encrypt_stream(dek, part_number, stream_id, plain):
    aead = AESGCM(derive_key_stream(dek, stream_id, part_number))
    count = -(-len(plain) // K)
    out = bytearray()
    for seq in range(count):
        piece = plain[seq * K:(seq + 1) * K]
        hdr = header(seq, count, len(piece), part_number, stream_id)
        out += hdr + aead.encrypt(nonce(seq), piece, hdr)
    return bytes(out)


def length_prefixed(data):
    return struct.pack(">I", len(data)) + data


def wrap_context(bucket, key):
    return b"s3seal/1 ctx\x00" + length_prefixed(bucket) + length_prefixed(key)


def mac_input(kms, wrapped, commitment, plain_len, bucket, key):
    """plain_len is None for a multipart object, whose MAC input has LP("mp") in place of the length."""
    length = b"mp" if plain_len is None else struct.pack(">Q", plain_len)
    fields = [b"s3seal/1 mac", b"\x01", kms, wrapped, commitment, length, bucket, key]
    return b"".join(length_prefixed(field) for field in fields)


def envelope_mac(dek, message):
    mac = HMAC(derive_key_meta(dek), hashes.SHA256())
    mac.update(message)
    return mac.finalize()[:16]


B64_RE = re.compile(r"\A(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def strict_b64(value, min_len, max_len):
    if not B64_RE.match(value):
        raise FormatError("invalid base64 %r" % value)
    data = base64.b64decode(value, validate=True)
    if base64.b64encode(data).decode("ascii") != value:
        raise FormatError("non-canonical base64 %r" % value)
    if not min_len <= len(data) <= max_len:
        raise FormatError("base64 field of %d bytes" % len(data))
    return data


def parse_envelope(metadata):
    """Return (kms, wrapped, commitment, mac, plain_len) or raise FormatError; plain_len is None for multipart."""
    try:
        version = metadata[META + "s3seal"]
        kms = metadata[META + "s3seal-kms"]
        dek = metadata[META + "s3seal-dek"]
        commitment = metadata[META + "s3seal-cm"]
        mac = metadata[META + "s3seal-mac"]
    except KeyError as missing:
        raise FormatError("missing envelope field %s" % missing) from None
    length = metadata.get(META + "s3seal-len")
    marker = metadata.get(META + "s3seal-mp")
    if (length is None) == (marker is None):
        raise FormatError("the envelope needs exactly one of s3seal-len and s3seal-mp")
    if version != "1":
        raise FormatError("unknown envelope version %r" % version)
    if not 1 <= len(kms) <= 255 or any(not 0x20 <= ord(c) <= 0x7E for c in kms):
        raise FormatError("invalid KMS key string %r" % kms)
    if marker is not None and marker != "1":
        raise FormatError("invalid multipart marker %r" % marker)
    if length is not None and (not re.fullmatch(r"0|[1-9][0-9]{0,19}", length) or int(length) >= 2**64):
        raise FormatError("invalid plaintext length %r" % length)
    return (kms.encode("ascii"), strict_b64(dek, 1, 1024), strict_b64(commitment, 32, 32),
            strict_b64(mac, 16, 16), None if marker is not None else int(length))


def verify_envelope(metadata, dek, bucket, key):
    """Return the verified plaintext length (None for multipart) or raise FormatError."""
    kms, wrapped, commitment, mac, plain_len = parse_envelope(metadata)
    expected_mac = envelope_mac(dek, mac_input(kms, wrapped, commitment, plain_len, bucket, key))
    commitment_ok = hmac.compare_digest(derive_commitment(dek), commitment)
    mac_ok = hmac.compare_digest(expected_mac, mac)
    if not (commitment_ok and mac_ok):
        raise FormatError("envelope verification failed")
    return plain_len


class Checker:
    def __init__(self):
        self.failures = 0
        self.checks = 0

    def expect(self, condition, description):
        self.checks += 1
        if not condition:
            self.failures += 1
            print("FAIL: %s" % description, file=sys.stderr)

    def expect_rejected(self, action, description):
        try:
            action()
        except FormatError as err:
            self.expect(True, description)
            print("ok   %s rejected: %s" % (description, err))
            return
        self.expect(False, description + " was accepted")


def h(text):
    return binascii.unhexlify(text)


def check_stream(check, vector):
    name = vector["name"]
    dek, stream_id, part = h(vector["dek"]), h(vector["stream_id"]), vector["part_number"]
    plain, stored = h(vector["plaintext"]), h(vector["ciphertext"])
    check.expect(len(plain) == vector["plaintext_len"], name + ": plaintext_len")
    check.expect(len(stored) == vector["ciphertext_len"], name + ": ciphertext_len")
    check.expect(derive_commitment(dek) == h(vector["commitment"]), name + ": commitment")
    check.expect(derive_key_meta(dek) == h(vector["key_meta"]), name + ": key_meta")
    check.expect(derive_key_stream(dek, stream_id, part) == h(vector["key_stream"]), name + ": key_stream")
    check.expect(encrypted_size(len(plain)) == len(stored), name + ": E(P)")
    check.expect(decrypted_size(len(stored)) == len(plain), name + ": D(C)")
    try:
        check.expect(decrypt_stream(dek, part, len(plain), stored) == plain, name + ": decrypted plaintext")
    except FormatError as err:
        check.expect(False, "%s: decryption failed: %s" % (name, err))
    check.expect(encrypt_stream(dek, part, stream_id, plain) == stored, name + ": re-encrypted ciphertext")
    print("ok   stream %s" % name)


def check_invalid_stream(check, vector):
    dek, part, plain_len = h(vector["dek"]), vector["part_number"], vector["plaintext_len"]
    stored = h(vector["ciphertext"])
    check.expect_rejected(lambda: decrypt_stream(dek, part, plain_len, stored), "stream " + vector["name"])


def check_envelope(check, vector):
    name = vector["name"]
    dek, bucket, key = h(vector["dek"]), h(vector["bucket_hex"]), h(vector["key_hex"])
    kms, wrapped, plain_len = vector["kms"], h(vector["wrapped"]), vector["plaintext_len"]
    commitment = derive_commitment(dek)
    message = mac_input(kms.encode("ascii"), wrapped, commitment, plain_len, bucket, key)
    check.expect(bucket == vector["bucket"].encode("utf-8"), name + ": bucket_hex")
    check.expect(key == vector["key"].encode("utf-8"), name + ": key_hex")
    check.expect(wrap_context(bucket, key) == h(vector["wrap_context"]), name + ": wrap_context")
    check.expect(commitment == h(vector["commitment"]), name + ": commitment")
    check.expect(derive_key_meta(dek) == h(vector["key_meta"]), name + ": key_meta")
    check.expect(message == h(vector["mac_input"]), name + ": mac_input")

    expected_metadata = {
        META + "s3seal": "1",
        META + "s3seal-kms": kms,
        META + "s3seal-dek": base64.b64encode(wrapped).decode("ascii"),
        META + "s3seal-cm": base64.b64encode(commitment).decode("ascii"),
        META + "s3seal-len": str(plain_len),
        META + "s3seal-mac": base64.b64encode(envelope_mac(dek, message)).decode("ascii"),
    }
    check.expect(vector["metadata"] == expected_metadata, name + ": metadata fields")
    try:
        check.expect(verify_envelope(vector["metadata"], dek, bucket, key) == plain_len, name + ": length")
    except FormatError as err:
        check.expect(False, "%s: verification failed: %s" % (name, err))
    print("ok   envelope %s" % name)


def check_invalid_envelope(check, vector):
    dek, bucket, key = h(vector["dek"]), vector["bucket"].encode("utf-8"), vector["key"].encode("utf-8")
    metadata = vector["metadata"]
    check.expect_rejected(lambda: verify_envelope(metadata, dek, bucket, key), "envelope " + vector["name"])


def check_multipart_object(check, vector):
    name = vector["name"]
    dek, bucket, key = h(vector["dek"]), h(vector["bucket_hex"]), h(vector["key_hex"])
    kms, wrapped = vector["kms"], h(vector["wrapped"])
    plain, stored = h(vector["plaintext"]), h(vector["ciphertext"])
    commitment = derive_commitment(dek)
    message = mac_input(kms.encode("ascii"), wrapped, commitment, None, bucket, key)
    check.expect(message == h(vector["mac_input"]), name + ": mac_input")

    expected_metadata = {
        META + "s3seal": "1",
        META + "s3seal-kms": kms,
        META + "s3seal-dek": base64.b64encode(wrapped).decode("ascii"),
        META + "s3seal-cm": base64.b64encode(commitment).decode("ascii"),
        META + "s3seal-mp": "1",
        META + "s3seal-mac": base64.b64encode(envelope_mac(dek, message)).decode("ascii"),
    }
    check.expect(vector["metadata"] == expected_metadata, name + ": metadata fields")
    try:
        check.expect(verify_envelope(vector["metadata"], dek, bucket, key) is None, name + ": multipart")
    except FormatError as err:
        check.expect(False, "%s: verification failed: %s" % (name, err))

    # each part is one stream; the stored object is the parts in order
    parts_stored = bytearray()
    offset = 0
    for part in vector["parts"]:
        stream_id, number = h(part["stream_id"]), part["part_number"]
        piece = plain[offset:offset + part["plaintext_len"]]
        check.expect(derive_key_stream(dek, stream_id, number) == h(part["key_stream"]),
                     "%s: key_stream of part %d" % (name, number))
        sealed = encrypt_stream(dek, number, stream_id, piece)
        check.expect(len(sealed) == part["ciphertext_len"], "%s: size of part %d" % (name, number))
        parts_stored += sealed
        offset += len(piece)
    check.expect(bytes(parts_stored) == stored, name + ": re-encrypted parts")
    check.expect(len(plain) == vector["plaintext_len"], name + ": plaintext_len")
    check.expect(len(stored) == vector["ciphertext_len"], name + ": ciphertext_len")
    check.expect(decrypted_size(len(stored)) == len(plain), name + ": D(C)")

    try:
        check.expect(decrypt_multipart(dek, stored) == plain, name + ": decrypted plaintext")
        # with 64 KiB-aligned parts, global chunk i starts at i * 65572 and contains plaintext from i * 65536
        for i in range(-(-len(plain) // K)):
            check.expect(decrypt_multipart(dek, stored[i * (K + OVERHEAD):], from_start=False) == plain[i * K:],
                         "%s: read from chunk %d" % (name, i))
    except FormatError as err:
        check.expect(False, "%s: decryption failed: %s" % (name, err))
    print("ok   multipart object %s" % name)


def check_invalid_multipart_object(check, vector):
    dek, stored = h(vector["dek"]), h(vector["ciphertext"])
    check.expect_rejected(lambda: decrypt_multipart(dek, stored), "multipart object " + vector["name"])


def check_parser_rejects_malformed(check, metadata, dek, bucket, key):
    """Strictness checks on the first envelope, independent of the C parser's own tests."""
    cases = {
        "s3seal": ["", "2", "01"],
        "s3seal-len": ["", "-1", "01", "1 ", "18446744073709551616"],
        "s3seal-cm": ["", metadata[META + "s3seal-cm"].rstrip("="), metadata[META + "s3seal-cm"] + "===="],
        "s3seal-mac": ["", metadata[META + "s3seal-mac"].replace("=", "A")],
        "s3seal-kms": ["", "x" * 256, "file:\nk1"],
    }
    for field, values in cases.items():
        for value in values:
            changed = dict(metadata)
            changed[META + field] = value
            check.expect_rejected(lambda: verify_envelope(changed, dek, bucket, key),
                                  "%s=%r" % (field, value))


def read_key_file(path):
    """Return {key id: 32-byte key} from a key file (docs/KEYS.md, "Format")."""
    keys = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 3 or fields[0] != "s3seal-key-v1":
                raise FormatError("malformed key file line")
            keys[fields[1]] = strict_b64(fields[2], 32, 32)
    return keys


def unwrap_file_dek(keys, kms, wrapped, context):
    """Unwrap a "file" provider blob (docs/KEYS.md, "Wrapped DEK format")."""
    if not kms.startswith("file:") or kms[5:] not in keys:
        raise FormatError("no key file key for KMS id %r" % kms)
    if len(wrapped) != 77 or wrapped[0] != 1:
        raise FormatError("wrapped key of %d bytes or version %d" % (len(wrapped), wrapped[0]))
    iv, gcm_nonce, sealed = wrapped[1:17], wrapped[17:29], wrapped[29:]
    mac = HMAC(keys[kms[5:]], hashes.SHA256())
    mac.update(iv)
    try:
        return AESGCM(mac.finalize()).decrypt(gcm_nonce, sealed, context)
    except InvalidTag:
        raise FormatError("the data key does not unwrap") from None


def decrypt_object(argv):
    key_file, bucket, key, head_json, stored_path, out_path = argv
    with open(head_json, encoding="utf-8") as f:
        head = json.load(f)
    metadata = {META + name.lower(): value for name, value in head.get("Metadata", {}).items()}
    with open(stored_path, "rb") as f:
        stored = f.read()
    bucket_b, key_b = bucket.encode(), key.encode()

    kms, wrapped, _, _, plain_len = parse_envelope(metadata)
    dek = unwrap_file_dek(read_key_file(key_file), kms.decode("ascii"), wrapped, wrap_context(bucket_b, key_b))
    plain_len = verify_envelope(metadata, dek, bucket_b, key_b)
    if plain_len is None:
        plain = decrypt_multipart(dek, stored)
    else:
        plain = decrypt_stream(dek, 0, plain_len, stored)
    with open(out_path, "wb") as f:
        f.write(plain)
    print("decrypted %d stored bytes into %d plaintext bytes" % (len(stored), len(plain)))
    return 0


def main(argv):
    if len(argv) == 8 and argv[1] == "object":
        try:
            return decrypt_object(argv[2:])
        except FormatError as e:
            print("decrypt failed: %s" % e, file=sys.stderr)
            return 1
    if len(argv) != 2:
        print("usage: %s PATH/format-v1.json" % argv[0], file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        vectors = json.load(f)

    check = Checker()
    check.expect(vectors["format"] == "s3seal/1", "format name")
    check.expect(decrypted_size(5368709120) == 5365761584, "D(5 GiB)")
    check.expect_rejected(lambda: decrypted_size(65572 + 36), "stored size 65608")
    for vector in vectors["streams"]:
        check_stream(check, vector)
    for vector in vectors["invalid_streams"]:
        check_invalid_stream(check, vector)
    for vector in vectors["envelopes"]:
        check_envelope(check, vector)
    for vector in vectors["invalid_envelopes"]:
        check_invalid_envelope(check, vector)
    for vector in vectors["multipart_objects"]:
        check_multipart_object(check, vector)
    for vector in vectors["invalid_multipart_objects"]:
        check_invalid_multipart_object(check, vector)
    for vector in vectors["invalid_multipart_envelopes"]:
        check_invalid_envelope(check, vector)

    first = vectors["envelopes"][0]
    check_parser_rejects_malformed(check, first["metadata"], h(first["dek"]), h(first["bucket_hex"]),
                                   h(first["key_hex"]))
    multipart = vectors["multipart_objects"][0]
    for value in ["", "0", "2", " 1", "1 ", "true"]:
        changed = dict(multipart["metadata"])
        changed[META + "s3seal-mp"] = value
        check.expect_rejected(lambda: verify_envelope(changed, h(multipart["dek"]), h(multipart["bucket_hex"]),
                                                      h(multipart["key_hex"])), "s3seal-mp=%r" % value)
    check.expect(len(vectors["streams"]) >= 5 and len(vectors["envelopes"]) >= 1, "vector count")
    check.expect(len(vectors["multipart_objects"]) >= 1, "multipart vector count")

    print("%d checks, %d failed" % (check.checks, check.failures))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
