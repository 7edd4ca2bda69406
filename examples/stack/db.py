#!/usr/bin/env python3
"""A stand-in for a database: takes a while to start, then says so and accepts TCP connections on PORT."""
import signal
import socket
import sys
import time

port = int(sys.argv[1]) if len(sys.argv) > 1 else 15432
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(delay)  # "recovering the journal"
server = socket.create_server(("127.0.0.1", port))
print(f"ready to accept connections on port {port}", flush=True)
while True:
    connection, _ = server.accept()
    connection.close()
