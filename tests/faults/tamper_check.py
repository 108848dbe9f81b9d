"""Python side of tests/faults/tamper.sh: flips random bits in stored
ciphertext and in envelope metadata directly on the backend, then reads the
object through s3seal with GET and ranged GET. Every read of an altered
chunk, and every read of an object with an altered envelope, must fail
closed: an error status, or a response cut short. Every byte that reaches
the client is compared with the original plaintext at its offset, and none
may come from the altered chunk. A read that failed verification must also
move s3seal_integrity_failures_total on the admin listener.

Settings come from the environment: PROXY_ENDPOINT, ADMIN_ENDPOINT (the
admin listener, such as http://127.0.0.1:9090), CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, BACKEND_ENDPOINT, BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY,
REGION and BUCKET. TAMPER_SAMPLES is the number of altered versions (300
unless set). TAMPER_SEED is the random seed; unless it is set, a new one is
drawn and printed.
Prints one "ok - " or "not ok - " line per check; a failed sample prints
the seed and the sample number, so that the run can be repeated.
"""

import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3lite  # noqa: E402

K = 65536
CHUNK = K + 36
MIB = 1024 * 1024
ENVELOPE = ("s3seal", "s3seal-kms", "s3seal-dek", "s3seal-cm", "s3seal-len", "s3seal-mp", "s3seal-mac")

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)
    return ok


def plain_size(stored):
    full, rest = divmod(stored, CHUNK)
    return full * K + (rest - 36 if rest else 0)


class StoredObject:
    """An object as the backend stores it: its parts' bytes and its user metadata."""

    def __init__(self, name, plain, parts, metadata):
        self.name = name
        self.plain = plain
        self.parts = parts
        self.metadata = metadata

    def chunk_of(self, part_index, offset):
        """Return the plaintext (start, end) of the chunk that contains stored byte OFFSET of part PART_INDEX."""
        before = sum(plain_size(len(p)) for p in self.parts[:part_index])
        start = before + (offset // CHUNK) * K
        end = min(start + K, before + plain_size(len(self.parts[part_index])))
        return start, end


class Tamper:
    def __init__(self, seed, samples):
        env = os.environ
        self.proxy = s3lite.Client(env["PROXY_ENDPOINT"], env["CLIENT_ACCESS_KEY"], env["CLIENT_SECRET_KEY"],
                                   env["REGION"])
        self.backend = s3lite.Client(env["BACKEND_ENDPOINT"], env["BACKEND_ACCESS_KEY"], env["BACKEND_SECRET_KEY"],
                                     env["REGION"])
        self.bucket = env["BUCKET"]
        self.rng = random.Random(seed)
        self.seed = seed
        self.samples = samples
        self.counts = {}
        self.altered_kind = ""
        self.metrics_url = env["ADMIN_ENDPOINT"] + "/metrics"

    def integrity_failures(self):
        """Return s3seal_integrity_failures_total from the admin listener's /metrics."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("s3seal_integrity_failures_total "):
                    return float(line.split()[1])
        raise RuntimeError("no s3seal_integrity_failures_total in /metrics")

    def check_counted(self, label, resp, before):
        """Check that a read that failed verification (500, or a body cut short) moved the integrity counter."""
        cut = resp.status in (200, 206) and not resp.complete
        if resp.status == 500 or cut:
            counted = self.integrity_failures() > before
            report(counted, f"{label}: the integrity-failure counter counted it", "the counter did not move")
            self.count("counted as integrity failures" if counted else "NOT counted as integrity failures")

    def count(self, *names):
        for name in names:
            self.counts[name] = self.counts.get(name, 0) + 1

    # ---- setting up the objects ----

    def upload(self, name, size):
        plain = self.rng.randbytes(size)
        if name == "multipart":
            resp = self.proxy.multipart_put(self.bucket, name, [plain[: 5 * MIB], plain[5 * MIB :]], {})
        else:
            resp = self.proxy.put(self.bucket, name, plain)
        if not report(resp.status == 200, f"{name}: upload through s3seal", resp.describe()):
            raise SystemExit(1)
        return plain

    def fetch_stored(self, name, plain):
        """Read the stored parts and metadata of NAME from the backend."""
        head = self.backend.head(self.bucket, name, query=[("partNumber", "1")])
        count = int(head.headers.get("x-amz-mp-parts-count", "1"))
        parts = []
        for number in range(1, count + 1):
            resp = self.backend.get(self.bucket, name, query=[("partNumber", str(number))])
            if resp.status not in (200, 206) or not resp.complete:
                raise SystemExit(f"cannot read part {number} of {name} from the backend: {resp.describe()}")
            parts.append(resp.body)
        metadata = {k[len("x-amz-meta-"):]: v for k, v in head.headers.items() if k.startswith("x-amz-meta-")}
        return StoredObject(name, plain, parts, metadata)

    def store(self, obj, parts, metadata):
        resp = self.backend.multipart_put(self.bucket, obj.name, parts, metadata)
        if resp.status != 200:
            raise SystemExit(f"cannot store an altered {obj.name} on the backend: {resp.describe()}")

    def check_untouched_read(self, obj, label):
        """A copy stored the way the tampering stores it must read back whole, or a failure proves nothing."""
        self.store(obj, obj.parts, obj.metadata)
        resp = self.proxy.get(self.bucket, obj.name)
        return report(resp.status == 200 and resp.complete and resp.body == obj.plain,
                      f"{obj.name}: {label} reads back whole through s3seal", resp.describe())

    # ---- one altered version ----

    def flip_ciphertext(self, obj):
        candidates = [i for i, p in enumerate(obj.parts) if p]
        part_index = self.rng.choice(candidates)
        parts = list(obj.parts)
        data = bytearray(parts[part_index])
        offset = self.rng.randrange(len(data))
        data[offset] ^= 1 << self.rng.randrange(8)
        if self.rng.random() < 0.25:
            # a second flip in the same chunk, as a burst error would make
            chunk_start = offset - offset % CHUNK
            second = self.rng.randrange(chunk_start, min(chunk_start + CHUNK, len(data)))
            data[second] ^= 1 << self.rng.randrange(8)
        parts[part_index] = bytes(data)
        return parts, obj.metadata, obj.chunk_of(part_index, offset), f"part {part_index + 1} byte {offset}"

    def flip_metadata(self, obj):
        metadata = dict(obj.metadata)
        names = sorted(n for n in metadata if n in ENVELOPE)
        name = self.rng.choice(names)
        value = bytearray(metadata[name].encode())
        while True:
            pos = self.rng.randrange(len(value))
            flipped = value[pos] ^ (1 << self.rng.randrange(7))
            # Header values carry printable ASCII only, without spaces that a server would trim.
            if 0x21 <= flipped <= 0x7E:
                break
        value[pos] = flipped
        metadata[name] = value.decode()
        return obj.parts, metadata, (0, len(obj.plain)), f"metadata {name} byte {pos}"

    def check_read(self, obj, label, resp, first, altered, must_fail):
        """Check a GET whose body starts at plaintext offset FIRST; ALTERED is the altered chunk's (start, end)."""
        body = resp.body if resp.status in (200, 206) else b""
        expected = obj.plain[first : first + len(body)]
        released_ok = body == expected
        from_altered = first + len(body) > altered[0] and first < altered[1] and len(body) > 0
        if must_fail:
            failed = resp.status is None or resp.status >= 300 or not resp.complete
            report(failed, f"{label}: fails closed", f"got {resp.describe()}")
            self.count("failed closed" if failed else "NOT failed closed")
            if failed and resp.status in (200, 206):
                self.count("cut after part of the body")
            elif failed:
                self.count(f"status {resp.status} after altered {self.altered_kind}")
            if resp.status is None:
                print(f"tamper: no response at all: {label}: {resp.error}", file=sys.stderr)
            report(not from_altered, f"{label}: no byte of the altered chunk released",
                   f"{len(body)} bytes from offset {first}, altered chunk {altered}")
        report(released_ok, f"{label}: every received byte equals the plaintext", f"{len(body)} bytes from {first}")
        self.count("bytes compared")
        self.counts["plaintext bytes compared"] = self.counts.get("plaintext bytes compared", 0) + len(body)

    def sample(self, number, obj):
        on_metadata = not any(obj.parts) or self.rng.random() < 0.3
        parts, metadata, altered, where = self.flip_metadata(obj) if on_metadata else self.flip_ciphertext(obj)
        label = f"sample {number} ({obj.name}, {where}, seed {self.seed})"
        self.altered_kind = "ciphertext" if not on_metadata else where.split()[1]
        self.count(f"{obj.name}: {'metadata' if on_metadata else 'ciphertext'}")
        self.store(obj, parts, metadata)

        before = self.integrity_failures()
        resp = self.proxy.get(self.bucket, obj.name)
        self.check_read(obj, f"{label} GET", resp, 0, altered, True)
        self.check_counted(f"{label} GET", resp, before)

        size = len(obj.plain)
        if size == 0:
            return
        if self.rng.random() < 0.6:
            # a range that reaches into the altered chunk
            first = self.rng.randrange(max(0, altered[0] - 2 * K), altered[1])
            last = self.rng.randrange(max(first, altered[0]), size)
        else:
            first = self.rng.randrange(size)
            last = self.rng.randrange(first, size)
        must_fail = on_metadata or (first < altered[1] and last >= altered[0])
        before = self.integrity_failures()
        resp = self.proxy.get(self.bucket, obj.name, byte_range=f"bytes={first}-{last}")
        self.check_read(obj, f"{label} GET bytes={first}-{last}", resp, first, altered, must_fail)
        if must_fail:
            self.check_counted(f"{label} GET bytes={first}-{last}", resp, before)
        if resp.status == 206 and resp.complete:
            self.count("ranged GET outside the altered chunk served")
            report(resp.body == obj.plain[first : last + 1], f"{label}: ranged GET outside the altered chunk is exact")


def main():
    seed = int(os.environ.get("TAMPER_SEED") or random.SystemRandom().randrange(1 << 32))
    samples = int(os.environ.get("TAMPER_SAMPLES") or 300)
    print(f"tamper: seed {seed}, {samples} samples", file=sys.stderr, flush=True)
    t = Tamper(seed, samples)
    sizes = {"size-0": 0, "size-1": 1, "size-64k": K, "size-64k1": K + 1, "size-1m": MIB,
             "multipart": 5 * MIB + 100 * 1024 + 7}
    objects = []
    for name, size in sizes.items():
        plain = t.upload(name, size)
        obj = t.fetch_stored(name, plain)
        if t.check_untouched_read(obj, "an unaltered copy stored by the test"):
            objects.append(obj)
    if len(objects) != len(sizes):
        return 1

    # Small objects are cheap to rewrite; the multipart one gets fewer samples.
    weights = [1 if o.name != "multipart" else 0.3 for o in objects]
    t_start = time.monotonic()
    for number in range(1, samples + 1):
        t.sample(number, t.rng.choices(objects, weights)[0])
    elapsed = time.monotonic() - t_start
    for obj in objects:
        t.check_untouched_read(obj, "the restored original")

    print(f"tamper: {samples} samples in {elapsed:.1f} s", file=sys.stderr)
    for name in sorted(t.counts):
        print(f"tamper:   {name}: {t.counts[name]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
