"""A fault-injecting TCP relay between s3seal and the S3 backend.

    relay.py LISTEN_PORT BACKEND_PORT CONTROL_PORT

Listens on 127.0.0.1:LISTEN_PORT, connects each accepted connection to
127.0.0.1:BACKEND_PORT and copies bytes both ways. A test arms one fault at a
time through the control port: one line per command, and one line in reply:

    pass                  relay everything (the start state)
    refuse                close the listening socket, so that connects fail
                          with ECONNREFUSED, until the next command
    reset_upload N        reset the first connection that carries more than N
                          bytes towards the backend (RST, both sides)
    reset_download N      the same for N bytes towards s3seal
    stall_upload N        stop reading from s3seal after N bytes on the first
                          connection that gets there, keeping it open
    stall_download N      stop sending to s3seal after N bytes, keeping the
                          connection open
    stall_accept          accept the next connection, read what it sends and
                          never answer
    status 500|503        answer the first request of the next connection with
                          InternalError or SlowDown and close it
    stale                 mark the open connections as closed by the backend:
                          the next bytes s3seal sends on one of them close it
                          without an answer, as a backend that just closed an
                          idle keep-alive connection does
    stats                 print the counters as NAME=VALUE words

Every command except stale and stats first closes all open relayed connections, so
that s3seal's pool of idle backend connections is empty and its next backend
request opens a new connection that the armed fault applies to. Each fault
except refuse fires once and then the relay passes traffic again. The reply
to a command is "ok" or "error: WHY". Only 127.0.0.1 is used.
"""

import asyncio
import socket
import struct
import sys

HOST = "127.0.0.1"

ERROR_BODIES = {
    500: (
        "Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
    503: ("Slow Down", "SlowDown", "Please reduce your request rate."),
}


class Relay:
    def __init__(self, listen_port, backend_port):
        self.listen_port = listen_port
        self.backend_port = backend_port
        self.server = None
        self.fault = "pass"
        self.limit = 0
        self.conns = set()
        self.stats = {"accepted": 0, "fired": 0, "reset": 0, "stalled": 0, "answered": 0, "stale_closed": 0}

    async def start_listening(self):
        if self.server is None:
            self.server = await asyncio.start_server(self.accept, HOST, self.listen_port, reuse_address=True)

    async def stop_listening(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def arm(self, fault, limit=0):
        for conn in list(self.conns):
            conn.close(reset=False)
        self.fault = fault
        self.limit = limit

    def take(self, fault):
        """Consume the armed fault if it is FAULT; return whether it was."""
        if self.fault != fault:
            return False
        self.fault = "pass"
        self.stats["fired"] += 1
        return True

    async def accept(self, reader, writer):
        self.stats["accepted"] += 1
        if self.take("stall_accept"):
            self.stats["stalled"] += 1
            await self.swallow(reader, writer)
            return
        if self.fault == "status":
            status = self.limit
            self.take("status")
            await self.answer(reader, writer, status)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.backend_port)
        except OSError:
            writer.close()
            return
        conn = Connection(self, reader, writer, up_reader, up_writer)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)

    async def swallow(self, reader, writer):
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        writer.close()

    async def answer(self, reader, writer, status):
        reason, code, message = ERROR_BODIES[status]
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>relay-fault</RequestId></Error>"
        ).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.stats["answered"] += 1
        try:
            writer.write(head + body)
            await writer.drain()
        except OSError:
            pass
        # The request body, if any, is left unread: a close would then send a
        # reset that can destroy the response, so wait for s3seal to close first.
        try:
            await asyncio.wait_for(self.swallow(reader, writer), timeout=30)
        except asyncio.TimeoutError:
            writer.close()


class Connection:
    def __init__(self, relay, reader, writer, up_reader, up_writer):
        self.relay = relay
        self.sides = ((reader, writer), (up_reader, up_writer))
        self.tasks = []
        self.stale = False

    async def run(self):
        (reader, writer), (up_reader, up_writer) = self.sides
        self.tasks = [
            asyncio.ensure_future(self.pump(reader, up_writer, "upload")),
            asyncio.ensure_future(self.pump(up_reader, writer, "download")),
        ]
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.close(reset=False)

    async def pump(self, src, dst, direction):
        moved = 0
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    dst.write_eof() if dst.can_write_eof() else dst.close()
                    return
                relay = self.relay
                if self.stale and direction == "upload":
                    relay.stats["stale_closed"] += 1
                    self.close(reset=False)
                    return
                if relay.fault in (f"reset_{direction}", f"stall_{direction}") and moved + len(data) > relay.limit:
                    keep = max(0, relay.limit - moved)
                    dst.write(data[:keep])
                    await dst.drain()
                    if relay.take(f"reset_{direction}"):
                        relay.stats["reset"] += 1
                        self.close(reset=True)
                        return
                    if relay.take(f"stall_{direction}"):
                        relay.stats["stalled"] += 1
                        # Neither read nor write this direction again; the
                        # other direction keeps working until a side closes.
                        await asyncio.Event().wait()
                moved += len(data)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            return

    def close(self, reset):
        for _, writer in self.sides:
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            if reset:
                writer.transport.abort()
            else:
                writer.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


async def control(relay, reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        words = line.decode().split()
        reply = "ok"
        try:
            reply = await command(relay, words)
        except (ValueError, IndexError, KeyError) as exc:
            reply = f"error: {exc}"
        writer.write((reply + "\n").encode())
        await writer.drain()
    writer.close()


async def command(relay, words):
    name = words[0]
    if name == "stats":
        return " ".join(f"{k}={v}" for k, v in relay.stats.items())
    if name == "stale":
        for conn in relay.conns:
            conn.stale = True
        return "ok"
    if name == "refuse":
        relay.arm("refuse")
        await relay.stop_listening()
        await asyncio.sleep(0.2)
        return "ok"
    await relay.start_listening()
    if name in ("pass", "stall_accept"):
        relay.arm(name)
    elif name in ("reset_upload", "reset_download", "stall_upload", "stall_download"):
        relay.arm(name, int(words[1]))
    elif name == "status":
        status = int(words[1])
        if status not in ERROR_BODIES:
            raise ValueError(f"status {status} is not one of {sorted(ERROR_BODIES)}")
        relay.arm("status", status)
    else:
        raise ValueError(f"unknown command {name!r}")
    # Give s3seal's event loop time to see the closed idle connections.
    await asyncio.sleep(0.2)
    return "ok"


async def main(argv):
    listen_port, backend_port, control_port = (int(a) for a in argv[1:4])
    relay = Relay(listen_port, backend_port)
    await relay.start_listening()
    ctl = await asyncio.start_server(lambda r, w: control(relay, r, w), HOST, control_port, reuse_address=True)
    print(f"relay listening on {HOST}:{listen_port}, backend {HOST}:{backend_port}, control {HOST}:{control_port}",
          flush=True)
    async with ctl:
        await ctl.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: relay.py LISTEN_PORT BACKEND_PORT CONTROL_PORT")
    asyncio.run(main(sys.argv))
