#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP relay on 127.0.0.1 that can hold each new connection back.

Usage: slow_relay.py LISTEN_PORT TARGET_PORT FLAG_FILE DELAY_SECONDS

Every connection to 127.0.0.1:LISTEN_PORT is forwarded to
127.0.0.1:TARGET_PORT. While FLAG_FILE exists, the relay first waits
DELAY_SECONDS, so a client with a shorter timeout gets no response in time. Prints "ready" once it listens.
"""
import os
import socket
import sys
import threading
import time


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client, target_port, flag_file, delay):
    if os.path.exists(flag_file):
        time.sleep(delay)
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    pump(upstream, client)
    client.close()
    upstream.close()


def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    flag_file, delay = sys.argv[3], float(sys.argv[4])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, target_port, flag_file, delay), daemon=True).start()


if __name__ == "__main__":
    main()
