#!/usr/bin/python3
"""A TCP relay from 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. While the file SWITCH_FILE exists,
it delays every chunk from the client by DELAY_MS before passing it on, so that a KMIP server behind it
answers later than a client's timeout; otherwise it passes chunks on at once.

Usage: kmip_slow_relay.py LISTEN_PORT TARGET_PORT DELAY_MS SWITCH_FILE
Prints "ready" on stdout once it listens. Runs until killed.
"""
import os
import socket
import sys
import threading
import time


def pipe(src, dst, delay_s, switch_file):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if switch_file is not None and os.path.exists(switch_file):
                time.sleep(delay_s)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, target_port, delay_s, switch_file):
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            # the server is stopped: the client sees its connection closed, as without the relay
            client.close()
            continue
        threading.Thread(target=pipe, args=(client, upstream, delay_s, switch_file), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, 0, None), daemon=True).start()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    listen_port, target_port, delay_ms = (int(v) for v in sys.argv[1:4])
    switch_file = sys.argv[4]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(16)
    print("ready", flush=True)
    serve(listener, target_port, delay_ms / 1000.0, switch_file)


if __name__ == "__main__":
    main()
