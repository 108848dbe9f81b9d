"""Python side of tests/faults/faults.sh: arms one fault at a time in
relay.py, sends a request through s3seal, and checks the client's response,
that s3seal keeps serving, and that the backend stores nothing partial.

Settings come from the environment: PROXY_ENDPOINT, CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, BACKEND_ENDPOINT (the backend itself, not the relay),
BACKEND_ACCESS_KEY, BACKEND_SECRET_KEY, REGION, RELAY_CONTROL_PORT,
S3SEAL_PID, S3SEAL_CLIENT_TIMEOUT (as s3seal was started with) and BUCKET. Prints one "ok - " or "not ok - " line per check and
writes a results table in Markdown to the file named by FAULT_TABLE.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3lite  # noqa: E402

MIB = 1024 * 1024
failures = 0
rows = []


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)
    return ok


def relay_command(line):
    with socket.create_connection(("127.0.0.1", int(os.environ["RELAY_CONTROL_PORT"])), timeout=10) as sock:
        sock.sendall((line + "\n").encode())
        reply = sock.makefile().readline().strip()
    if reply.startswith("error"):
        raise RuntimeError(f"relay command {line!r}: {reply}")
    return reply


def pattern(size, seed):
    """Return SIZE bytes that differ per SEED and per offset, so a shifted or foreign byte shows."""
    block = bytes((seed * 131 + i * 7 + (i >> 8)) & 0xFF for i in range(65536 + 251))
    out = bytearray()
    offset = 0
    while len(out) < size:
        out += block[offset % 251 : offset % 251 + 65536]
        offset += 1
    return bytes(out[:size])


class Faults:
    def __init__(self):
        env = os.environ
        self.proxy = s3lite.Client(env["PROXY_ENDPOINT"], env["CLIENT_ACCESS_KEY"], env["CLIENT_SECRET_KEY"],
                                   env["REGION"], timeout=30)
        self.backend = s3lite.Client(env["BACKEND_ENDPOINT"], env["BACKEND_ACCESS_KEY"], env["BACKEND_SECRET_KEY"],
                                     env["REGION"], timeout=30)
        self.bucket = env["BUCKET"]
        self.pid = int(env["S3SEAL_PID"])
        self.big = pattern(4 * MIB, 1)
        self.seeded = {"seed-4m": self.big}
        self.health_count = 0

    def seed(self):
        resp = self.proxy.put(self.bucket, "seed-4m", self.big)
        if not report(resp.status == 200, "seed: put 4 MiB object through s3seal", resp.describe()):
            raise SystemExit(1)

    # ---- checks after each fault ----

    def alive(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"

    def check_serving(self, label):
        """s3seal still runs and serves a PUT and a GET."""
        if not report(self.alive(), f"{label}: s3seal process is alive", f"PID {self.pid} is gone"):
            raise SystemExit(1)
        self.health_count += 1
        key = f"health-{self.health_count}"
        body = pattern(70000, self.health_count)
        put = self.proxy.put(self.bucket, key, body)
        get = self.proxy.get(self.bucket, key)
        ok = put.status == 200 and get.status == 200 and get.complete and get.body == body
        report(ok, f"{label}: s3seal serves the next PUT and GET", f"put {put.describe()}, get {get.describe()}")
        self.seeded[key] = body
        return ok

    def check_nothing_partial(self, label, key, wait_s=0.0):
        """The backend contains exactly the seeded keys with their full sizes, and no open upload."""
        deadline = time.monotonic() + wait_s
        while True:
            resp, keys = self.backend.list_keys(self.bucket)
            up_resp, uploads = self.backend.list_uploads(self.bucket)
            stored = dict(keys)
            extra = sorted(set(stored) - set(self.seeded))
            if (not extra and not uploads) or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        ok_list = resp.status == 200 and up_resp.status == 200
        report(ok_list and key not in stored and not extra, f"{label}: '{key}' absent on the backend",
               f"list {resp.describe()}, extra keys {extra}")
        report(ok_list and not uploads, f"{label}: no open multipart upload on the backend",
               f"uploads {uploads}, list {up_resp.describe()}")
        sizes_ok = all(stored.get(k) == s3lite_cipher_size(len(v)) for k, v in self.seeded.items())
        report(sizes_ok, f"{label}: seeded objects keep their full stored size",
               f"stored {stored}")
        return ok_list and key not in stored and not extra and not uploads

    def check_prefix(self, label, resp, plain):
        """Every byte of a cut or failed GET is the plaintext's own byte at that offset."""
        if resp.status != 200:
            return True
        return report(plain.startswith(resp.body), f"{label}: received bytes match the plaintext",
                      f"{len(resp.body)} bytes received, first differing byte at "
                      f"{next((i for i, (a, b) in enumerate(zip(resp.body, plain)) if a != b), len(resp.body))}")

    # ---- one fault ----

    def expect_error(self, label, resp, statuses, code):
        ok = resp.status in statuses and (code is None or resp.code() == code)
        want = "/".join(str(s) for s in statuses) + (f" {code}" if code else "")
        report(ok, f"{label}: client gets {want}", f"got {resp.describe()}")
        return ok

    def expect_cut_or_error(self, label, resp, plain):
        """A GET that failed after the response started must be cut short, never completed."""
        failed = resp.status is None or resp.status >= 500 or not resp.complete
        report(failed, f"{label}: response fails (error status or cut short)", f"got {resp.describe()}")
        self.check_prefix(label, resp, plain)
        return failed

    def run(self, fault, label, action):
        t0 = time.monotonic()
        relay_command(fault)
        outcome, stored_ok = action(label)
        relay_command("pass")
        serving = self.check_serving(label)
        rows.append((fault, label, outcome, stored_ok, serving, time.monotonic() - t0))

    def put_fails(self, statuses, code):
        def action(label):
            key = f"put-{label}"
            resp = self.proxy.put(self.bucket, key, self.big)
            self.expect_error(label, resp, statuses, code)
            return resp.describe(), self.check_nothing_partial(label, key)

        return action

    def get_fails(self, statuses, code, method="GET"):
        def action(label):
            if method == "HEAD":
                resp = self.proxy.head(self.bucket, "seed-4m")
            elif method == "LIST":
                resp, _ = self.proxy.list_keys(self.bucket)
            else:
                resp = self.proxy.get(self.bucket, "seed-4m")
            self.expect_error(label, resp, statuses, code if method != "HEAD" else None)
            return resp.describe(), self.check_nothing_partial(label, f"absent-{label}")

        return action

    def get_cut(self, label):
        resp = self.proxy.get(self.bucket, "seed-4m")
        self.expect_cut_or_error(label, resp, self.big)
        return resp.describe(), self.check_nothing_partial(label, f"absent-{label}")

    def stale_pool(self, label):
        """s3seal's pooled backend connections were closed by the backend just as the next requests use them."""
        warm = self.proxy.get(self.bucket, "health-1")
        relay_command("stale")
        get = self.proxy.get(self.bucket, "seed-4m")
        report(warm.status == 200 and get.status == 200 and get.complete and get.body == self.big,
               f"{label}: GET on a stale pooled connection is served whole", f"got {get.describe()}")
        self.proxy.get(self.bucket, "health-1")
        relay_command("stale")
        key = f"put-{label}"
        put = self.proxy.put(self.bucket, key, self.big[:70000])
        report(put.status == 200, f"{label}: PUT on a stale pooled connection succeeds", f"got {put.describe()}")
        self.seeded[key] = self.big[:70000]
        return f"GET {get.describe()}, PUT {put.describe()}", self.check_nothing_partial(label, f"absent-{label}")

    # ---- client-side faults ----

    def client_abort_upload(self, label):
        key = f"put-{label}"
        head = s3lite.request_head(self.proxy, "PUT", f"/{self.bucket}/{key}",
                                   headers={"content-length": str(len(self.big))})
        sock = s3lite.raw_socket(self.proxy.host, self.proxy.port)
        sock.sendall(head + self.big[: 1 * MIB + 12345])
        time.sleep(0.3)
        sock.close()
        return "client closed after 1 MiB of 4 MiB", self.check_nothing_partial(label, key, wait_s=10)

    def client_stall_upload(self, label):
        """A client that stops sending in the middle of its body and never closes."""
        key = f"put-{label}"
        head = s3lite.request_head(self.proxy, "PUT", f"/{self.bucket}/{key}",
                                   headers={"content-length": str(len(self.big))})
        sock = s3lite.raw_socket(self.proxy.host, self.proxy.port)
        sock.sendall(head + self.big[: 1 * MIB + 4321])
        timeout_s = int(os.environ["S3SEAL_CLIENT_TIMEOUT"])
        time.sleep(timeout_s + 1)
        nothing = self.check_nothing_partial(label, key, wait_s=10)
        sock.close()
        return f"client silent after 1 MiB of 4 MiB for {timeout_s + 1} s", nothing

    def client_abort_download(self, label):
        head = s3lite.request_head(self.proxy, "GET", f"/{self.bucket}/seed-4m")
        sock = s3lite.raw_socket(self.proxy.host, self.proxy.port)
        sock.sendall(head)
        got = b""
        while len(got) < 200000:
            data = sock.recv(65536)
            if not data:
                break
            got += data
        # A reset, not a FIN, while s3seal still has most of the body to send.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
        report(self.big.startswith(body), f"{label}: received bytes match the plaintext", f"{len(body)} bytes")
        return f"client reset after {len(got)} bytes", self.check_nothing_partial(label, f"absent-{label}")


def s3lite_cipher_size(plain):
    full, rest = divmod(plain, 65536)
    return full * 65572 + (rest + 36 if rest else 0)


def main():
    f = Faults()
    f.seed()
    f.check_serving("before faults")
    unavailable = (503,)
    f.run("refuse", "refuse-get", f.get_fails(unavailable, "ServiceUnavailable"))
    f.run("refuse", "refuse-put", f.put_fails(unavailable, "ServiceUnavailable"))
    f.run("refuse", "refuse-head", f.get_fails(unavailable, None, "HEAD"))
    f.run("refuse", "refuse-list", f.get_fails(unavailable, "ServiceUnavailable", "LIST"))
    # A reset on an open connection is a broken backend (502), a timeout or
    # refused connect an unavailable one (503); both are ServiceUnavailable.
    f.run("reset_upload 262144", "reset-mid-upload", f.put_fails((502, 503), "ServiceUnavailable"))
    f.run("reset_download 262144", "reset-mid-download", f.get_cut)
    f.run("reset_download 100", "reset-in-response-head", f.get_fails((502, 503), "ServiceUnavailable"))
    f.run("stall_accept", "stall-accept-get", f.get_fails(unavailable, "ServiceUnavailable"))
    f.run("stall_accept", "stall-accept-put", f.put_fails(unavailable, "ServiceUnavailable"))
    f.run("stall_upload 262144", "stall-mid-upload", f.put_fails(unavailable, "ServiceUnavailable"))
    f.run("stall_download 262144", "stall-mid-download", f.get_cut)
    f.run("status 500", "status-500-get", f.get_fails((500,), "InternalError"))
    f.run("status 500", "status-500-put", f.put_fails((500,), "InternalError"))
    f.run("status 503", "slowdown-get", f.get_fails((503,), "SlowDown"))
    f.run("status 503", "slowdown-put", f.put_fails((503,), "SlowDown"))
    f.run("status 503", "slowdown-head", f.get_fails((503,), None, "HEAD"))
    f.run("status 503", "slowdown-list", f.get_fails((503,), "SlowDown", "LIST"))
    f.run("pass", "stale-pooled-connection", f.stale_pool)
    f.run("pass", "client-abort-upload", f.client_abort_upload)
    f.run("pass", "client-stall-upload", f.client_stall_upload)
    f.run("pass", "client-abort-download", f.client_abort_download)
    print(f"relay: {relay_command('stats')}", file=sys.stderr)

    table = os.environ.get("FAULT_TABLE")
    if table:
        with open(table, "w") as out:
            out.write("| fault | case | client saw | nothing partial | serves next | s |\n")
            out.write("|---|---|---|---|---|---|\n")
            for fault, label, outcome, stored_ok, serving, secs in rows:
                out.write(f"| {fault} | {label} | {outcome} | {'yes' if stored_ok else 'NO'} | "
                          f"{'yes' if serving else 'NO'} | {secs:.1f} |\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
