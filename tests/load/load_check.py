"""Python side of tests/load/load.sh: concurrent clients doing a mixed
PUT/GET/HEAD/LIST workload through s3seal, then many idle keep-alive
connections, while s3seal's resident set size (VmRSS from /proc) is sampled
every second.

    load_check.py CLIENTS REQUESTS_PER_CLIENT IDLE_CONNECTIONS

Settings come from the environment: PROXY_ENDPOINT, CLIENT_ACCESS_KEY,
CLIENT_SECRET_KEY, REGION, BUCKET and S3SEAL_PID. Every response is checked
(status, and for GET the body against what this client last stored), and
any error fails the run. There are no timing thresholds: the run reports
request counts, errors, throughput and RSS, and passes when errors are zero.
"""

import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) + "/../faults")
import s3lite  # noqa: E402

failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}: {detail}", flush=True)
    return ok


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    def __init__(self, pid):
        self.pid = pid
        self.samples = []

    def sample(self):
        self.samples.append(rss_kib(self.pid))

    async def run(self):
        while True:
            self.sample()
            await asyncio.sleep(1)

    def summary(self, label):
        first, last, peak = self.samples[0], self.samples[-1], max(self.samples)
        return (f"{label}: RSS start {first / 1024:.1f} MiB, max {peak / 1024:.1f} MiB, end {last / 1024:.1f} MiB, "
                f"growth {(last - first) / 1024:+.1f} MiB ({len(self.samples)} samples)")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams."""

    def __init__(self, client):
        self.client = client
        self.reader = None
        self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.client.host, self.client.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, method, path, query=(), body=b""):
        if self.writer is None:
            await self.open()
        headers = {"content-length": str(len(body))} if method == "PUT" else {}
        head = s3lite.request_head(self.client, method, path, query, headers)
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        data = b""
        if method != "HEAD":
            if headers.get("transfer-encoding", "").lower() == "chunked":
                data = await self.read_chunked()
            else:
                data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    async def read_chunked(self):
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class Stats:
    def __init__(self):
        self.ops = {}
        self.errors = []

    def add(self, op, ok, detail):
        self.ops[op] = self.ops.get(op, 0) + 1
        if not ok:
            self.errors.append(f"{op}: {detail}")


async def client_task(index, client, bucket, requests, stats, rng):
    conn = HttpConnection(client)
    stored = {}
    prefix = f"load-{index}/"
    try:
        for _ in range(requests):
            op = rng.choices(("PUT", "GET", "HEAD", "LIST"), (3, 4, 2, 1))[0]
            if op != "PUT" and op != "LIST" and not stored:
                op = "PUT"
            key = prefix + f"k{rng.randrange(4)}"
            try:
                if op == "PUT":
                    size = rng.choice((0, 1, 1000, 65536, 65537, 150000))
                    body = rng.randbytes(size)
                    status, _, data = await conn.request("PUT", f"/{bucket}/{key}", body=body)
                    ok = status == 200
                    if ok:
                        stored[key] = body
                    stats.add(op, ok, f"{key}: status {status} {data[:200]!r}")
                elif op == "GET":
                    key = rng.choice(sorted(stored))
                    status, _, data = await conn.request("GET", f"/{bucket}/{key}")
                    stats.add(op, status == 200 and data == stored[key],
                              f"{key}: status {status}, {len(data)} bytes, expected {len(stored[key])}")
                elif op == "HEAD":
                    key = rng.choice(sorted(stored))
                    status, headers, _ = await conn.request("HEAD", f"/{bucket}/{key}")
                    stats.add(op, status == 200 and headers.get("content-length") == str(len(stored[key])),
                              f"{key}: status {status}, content-length {headers.get('content-length')}")
                else:
                    status, _, data = await conn.request("GET", f"/{bucket}", [("list-type", "2"), ("prefix", prefix)])
                    missing = [k for k in stored if f"<Key>{k}</Key>".encode() not in data]
                    stats.add(op, status == 200 and not missing, f"status {status}, missing {missing}")
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                stats.add(op, False, f"{key}: {type(exc).__name__}: {exc}")
                conn.close()
    finally:
        conn.close()


async def mixed_phase(client, bucket, clients, requests, sampler, label):
    stats = Stats()
    rng = random.Random(label)
    sampler.sample()
    sampling = asyncio.ensure_future(sampler.run())
    t0 = time.monotonic()
    await asyncio.gather(*(client_task(i, client, bucket, requests, stats, random.Random(rng.random()))
                           for i in range(clients)))
    elapsed = time.monotonic() - t0
    sampling.cancel()
    sampler.sample()
    total = sum(stats.ops.values())
    ops = ", ".join(f"{k} {v}" for k, v in sorted(stats.ops.items()))
    print(f"load: {label}: {clients} clients, {total} requests ({ops}) in {elapsed:.1f} s, "
          f"{total / elapsed:.0f} requests/s, {len(stats.errors)} errors", file=sys.stderr)
    print("load: " + sampler.summary(label), file=sys.stderr)
    for line in stats.errors[:20]:
        print(f"load: error: {line}", file=sys.stderr)
    report(total == clients * requests, f"{label}: all {clients * requests} requests were sent", f"sent {total}")
    report(not stats.errors, f"{label}: {total} requests without an error", f"{len(stats.errors)} errors, first: "
           f"{stats.errors[0] if stats.errors else ''}")


async def idle_phase(client, bucket, count, sampler):
    conns = []
    opened_errors = []
    sampler.sample()
    sampling = asyncio.ensure_future(sampler.run())
    for i in range(count):
        try:
            reader, writer = await asyncio.open_connection(client.host, client.port)
            conns.append((reader, writer))
        except OSError as exc:
            opened_errors.append(f"connection {i}: {exc}")
            if len(opened_errors) > 10:
                break
    # Hold them, then check that none was closed by s3seal and that it still serves a request.
    await asyncio.sleep(3)
    closed = sum(1 for reader, _ in conns if reader.at_eof())
    check = HttpConnection(client)
    try:
        status, _, data = await check.request("GET", f"/{bucket}", [("list-type", "2"), ("max-keys", "1")])
    except (OSError, asyncio.IncompleteReadError) as exc:
        status, data = None, str(exc).encode()
    check.close()
    # Each idle connection serves one request, so the held connections are live, not just accepted.
    served_errors = 0
    sample = conns[:: max(1, len(conns) // 50)]
    for reader, writer in sample:
        http = HttpConnection(client)
        http.reader, http.writer = reader, writer
        try:
            st, _, _ = await http.request("HEAD", f"/{bucket}")
            served_errors += st != 200
        except (OSError, asyncio.IncompleteReadError):
            served_errors += 1
    sampler.sample()
    sampling.cancel()
    for _, writer in conns:
        writer.close()
    print(f"load: idle: {len(conns)} of {count} connections open, {closed} closed by s3seal while held, "
          f"{len(sample)} of them then served a HEAD with {served_errors} errors", file=sys.stderr)
    print("load: " + sampler.summary("idle"), file=sys.stderr)
    report(len(conns) == count and not opened_errors, f"idle: {count} connections opened",
           f"{len(conns)} opened; {opened_errors[:3]}")
    report(closed == 0, "idle: s3seal keeps every idle connection open", f"{closed} closed")
    report(status == 200, "idle: s3seal serves a request while the idle connections are open",
           f"status {status}: {data[:200]!r}")
    report(served_errors == 0, f"idle: {len(sample)} held connections each serve a HEAD",
           f"{served_errors} errors")


async def main(argv):
    clients, requests, idle = (int(a) for a in argv[1:4])
    env = os.environ
    client = s3lite.Client(env["PROXY_ENDPOINT"], env["CLIENT_ACCESS_KEY"], env["CLIENT_SECRET_KEY"], env["REGION"])
    bucket = env["BUCKET"]
    pid = int(env["S3SEAL_PID"])
    # The idle connections come first, so that their memory is not taken
    # from what the mixed rounds freed. A second mixed round shows whether
    # RSS keeps growing once the buffers and the key cache are warm.
    await idle_phase(client, bucket, idle, RssSampler(pid))
    for label in ("mixed round 1", "mixed round 2"):
        await mixed_phase(client, bucket, clients, requests, RssSampler(pid), label)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: load_check.py CLIENTS REQUESTS_PER_CLIENT IDLE_CONNECTIONS")
    sys.exit(asyncio.run(main(sys.argv)))
