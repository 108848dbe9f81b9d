"""Raw-socket checks of s3seal's limits for tests/integration/lifecycle.sh.

Each check opens plain TCP connections to s3seal on 127.0.0.1, sends
hand-made HTTP requests and prints one "ok - " or "not ok - " line.

Usage: lifecycle_check.py PORT CHECK [ARGS...]
  loris SECONDS     one header byte per second; expects 400 RequestTimeout
                    between SECONDS and SECONDS + 3 seconds after the first byte
  limits COUNT SIZE URL
                    more than COUNT headers, a head over SIZE bytes and a
                    target over URL bytes each get 400 RequestHeaderSectionTooLarge
  busy MAX          MAX idle connections, then one more: its request gets
                    503 SlowDown; once they closed a request is served again
  idle SECONDS      after one response, the keep-alive connection is closed
                    without a byte about SECONDS later
  stall SECONDS BUCKET KEY
                    a signed PUT whose body stops after 1000 bytes gets 400
                    RequestTimeout about SECONDS later (needs CLIENT_ACCESS_KEY,
                    CLIENT_SECRET_KEY and REGION in the environment)
  tls CAFILE PID    a TLS connection opened before SIGHUP (sent here to PID)
                    keeps working, and a new one gets the other certificate
  blackhole         not a check: listens on 127.0.0.1 (PORT 0 picks a port,
                    printed on stdout) with a full accept queue, so that new
                    connections hang in connect, until it is killed
"""
import datetime
import hashlib
import hmac
import os
import signal
import socket
import ssl
import sys
import time

PORT = 0


def report(ok, name, detail=""):
    if ok:
        print(f"ok - {name}")
    else:
        print(f"not ok - {name}: {detail}")


def connect():
    return socket.create_connection(("127.0.0.1", PORT), timeout=30)


def read_response(sock):
    """Reads until the peer closes or a whole response arrived; returns the bytes."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not part:
            break
        data += part
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(body) >= length:
                break
    return data


def status_and_code(data):
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    code = ""
    start = data.find(b"<Code>")
    end = data.find(b"</Code>")
    if start >= 0 and end > start:
        code = data[start + 6:end].decode(errors="replace")
    return status, code


def check_loris(seconds):
    request = b"GET /lifecycle-loris HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    sock = connect()
    sock.settimeout(1.0)
    start = time.monotonic()
    data = b""
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        break
    sock.settimeout(5.0)
    if data:
        rest = read_response(sock)
        data += rest
    elapsed = time.monotonic() - start
    sock.close()
    status, code = status_and_code(data)
    report(status == 400 and code == "RequestTimeout",
           "a client sending one header byte per second gets 400 RequestTimeout",
           f"status {status} code {code!r}")
    report(seconds - 0.5 <= elapsed <= seconds + 3,
           f"the slow client is cut off after about {seconds} s",
           f"cut off after {elapsed:.1f} s")


def send_and_read(request):
    sock = connect()
    try:
        sock.sendall(request)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_response(sock)
    sock.close()
    return status_and_code(data), data


def check_limits(count, size, url):
    headers = b"".join(b"X-Filler-%d: v\r\n" % i for i in range(count + 1))
    (status, code), _ = send_and_read(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    report(status == 400 and code == "RequestHeaderSectionTooLarge",
           f"a request with more than {count} headers gets 400 RequestHeaderSectionTooLarge",
           f"status {status} code {code!r}")

    big = b"X-Big: " + b"b" * size + b"\r\n"
    (status, code), data = send_and_read(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n")
    report(status == 400 and code == "RequestHeaderSectionTooLarge" and
           b"<MaxSizeAllowed>%d</MaxSizeAllowed>" % size in data,
           f"a head over {size} bytes gets 400 RequestHeaderSectionTooLarge with MaxSizeAllowed",
           f"status {status} code {code!r}")

    target = b"/b/" + b"k" * url
    (status, code), _ = send_and_read(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    report(status == 400 and code == "RequestHeaderSectionTooLarge",
           f"a request target over {url} bytes gets 400 RequestHeaderSectionTooLarge",
           f"status {status} code {code!r}")

    (status, code), _ = send_and_read(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Small: v\r\n\r\n")
    report(status == 403, "a request within the limits reaches authentication (403 unsigned)",
           f"status {status} code {code!r}")


def check_busy(maximum):
    idle = [connect() for _ in range(maximum)]
    time.sleep(0.5)
    (status, code), _ = send_and_read(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    report(status == 503 and code == "SlowDown",
           f"a connection beyond {maximum} per worker gets 503 SlowDown",
           f"status {status} code {code!r}")
    for sock in idle:
        sock.close()
    time.sleep(0.5)
    (status, code), _ = send_and_read(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    report(status == 403, "once the idle connections closed, a request is served again (403 unsigned)",
           f"status {status} code {code!r}")


def check_idle(seconds):
    sock = connect()
    sock.sendall(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _ = status_and_code(read_response_keep_open(sock))
    start = time.monotonic()
    sock.settimeout(seconds + 10)
    try:
        extra = sock.recv(1)
    except ConnectionResetError:
        extra = b""
    elapsed = time.monotonic() - start
    sock.close()
    report(status == 403, "the request before the idle wait gets its response (403 unsigned)", f"status {status}")
    report(extra == b"" and seconds - 0.5 <= elapsed <= seconds + 3,
           f"an idle keep-alive connection is closed quietly after about {seconds} s",
           f"closed after {elapsed:.1f} s with {extra!r}")


def read_response_keep_open(sock):
    """Reads one response with a Content-Length body and leaves the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


def signed_put_head(bucket, key, length):
    """Builds a PUT head signed with SigV4 over UNSIGNED-PAYLOAD for the client credentials."""
    access_key = os.environ["CLIENT_ACCESS_KEY"]
    secret_key = os.environ["CLIENT_SECRET_KEY"]
    region = os.environ["REGION"]
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    path = f"/{bucket}/{key}"
    headers = {
        "content-length": str(length),
        "host": f"127.0.0.1:{PORT}",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-date": amz_date,
    }
    names = sorted(headers)
    canonical = "\n".join(["PUT", path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names),
                           "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/s3/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    lines = "".join(f"{n}: {v}\r\n" for n, v in headers.items())
    return f"PUT {path} HTTP/1.1\r\n{lines}\r\n".encode()


def check_stall(seconds, bucket, key):
    sock = connect()
    sock.sendall(signed_put_head(bucket, key, 100000))
    sock.sendall(b"x" * 1000)
    start = time.monotonic()
    sock.settimeout(seconds + 15)
    data = read_response(sock)
    elapsed = time.monotonic() - start
    sock.close()
    status, code = status_and_code(data)
    report(status == 400 and code == "RequestTimeout", "a stalled request body gets 400 RequestTimeout",
           f"status {status} code {code!r}")
    report(seconds - 0.5 <= elapsed <= seconds + 5, f"the stalled body is cut off after about {seconds} s",
           f"cut off after {elapsed:.1f} s")


def tls_connect(context):
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    return sock, hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def check_tls(ca_file, pid):
    context = ssl.create_default_context(cafile=ca_file)
    before, first = tls_connect(context)
    os.kill(pid, signal.SIGHUP)
    time.sleep(1.5)
    after, second = tls_connect(context)
    report(first != second, "a TLS connection opened after SIGHUP gets the new certificate",
           "the same certificate both times")
    before.sendall(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _ = status_and_code(read_response_keep_open(before))
    report(status == 403, "a TLS connection opened before SIGHUP keeps working (403 unsigned)",
           f"status {status}")
    before.close()
    after.close()


def run_blackhole():
    listener = socket.socket()
    listener.bind(("127.0.0.1", PORT))
    listener.listen(0)

    # Linux drops the SYNs of further clients while the accept queue is full
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)
    print(listener.getsockname()[1], flush=True)
    while True:
        time.sleep(60)


def main():
    global PORT
    PORT = int(sys.argv[1])
    check = sys.argv[2]
    if check == "loris":
        check_loris(int(sys.argv[3]))
    elif check == "limits":
        check_limits(int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif check == "busy":
        check_busy(int(sys.argv[3]))
    elif check == "idle":
        check_idle(int(sys.argv[3]))
    elif check == "stall":
        check_stall(int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif check == "tls":
        check_tls(sys.argv[3], int(sys.argv[4]))
    elif check == "blackhole":
        run_blackhole()
    else:
        print(f"unknown check {check}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
