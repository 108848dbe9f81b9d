#!/usr/bin/env python3
"""Hold N GET streams open at once, for s3seal's peak RSS per stream.

Usage: hold_streams.py URL N HOLD_S
URL is a presigned http://127.0.0.1:PORT/... GET URL of a large object.
Opens N connections, sends the GET on each, waits until every response
head and its first body bytes arrived, then stops reading for HOLD_S
seconds. The server's buffers for each stream fill up to its flow-control
limits during that pause. Prints "ready N" when all streams are open and
exits 1 if a stream fails or a response is not HTTP 200.
"""
import socket
import sys
import time
import urllib.parse


def open_stream(parts):
    host, port = parts.hostname, parts.port
    if host != "127.0.0.1":
        sys.exit(f"hold_streams.py: only 127.0.0.1 URLs, got {host}")
    sock = socket.create_connection((host, port), timeout=30)
    target = parts.path + ("?" + parts.query if parts.query else "")
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    return sock


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        data += chunk
    status = data.split(b" ", 2)[1]
    if status != b"200":
        raise ConnectionError(f"HTTP {status.decode()}: {data[:300]!r}")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: hold_streams.py URL N HOLD_S")
    parts = urllib.parse.urlsplit(sys.argv[1])
    count, hold_s = int(sys.argv[2]), float(sys.argv[3])
    streams = []
    try:
        for _ in range(count):
            streams.append(open_stream(parts))
        for sock in streams:
            read_head(sock)
    except OSError as exc:
        print(f"hold_streams.py: stream {len(streams)} of {count} failed: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"ready {count}", flush=True)
    time.sleep(hold_s)
    for sock in streams:
        sock.close()


if __name__ == "__main__":
    main()
