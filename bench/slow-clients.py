#!/usr/bin/env python3
"""Slow clients against the gateway's demo: 4000 requests whose headers never finish.

Shows, with GATEWAY_HEADER_TIMEOUT=3s, that the gateway closes every one of them after the
timeout, while /readyz and a real caller are answered meanwhile, and the gateway's RSS before,
while they are held, and after. Usage: bench/slow-clients.py [gateway binary], default
target/release/anaplan-gateway (build it first). Standard library only; loopback ports 18601-2.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request

HELD = 4000
TASK = ("/tasks/import/1B1D84DDD53847BAA621810B593C3FC1"
        "?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/anaplan-gateway"
    env = dict(os.environ, GATEWAY_LISTEN="127.0.0.1:18601", GATEWAY_ADMIN_LISTEN="127.0.0.1:18602",
               GATEWAY_HEADER_TIMEOUT="3s", RUST_LOG="warn")
    gateway = subprocess.Popen([binary, "demo"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        before = rss_mib(gateway.pid)
        held = []
        for _ in range(HELD):
            connection = socket.create_connection(("127.0.0.1", 18601))
            connection.sendall(b"GET /tasks/import HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            held.append(connection)
        while_held = rss_mib(gateway.pid)
        started = time.monotonic()
        probe = urllib.request.urlopen("http://127.0.0.1:18602/readyz", timeout=5).status
        probe_ms = (time.monotonic() - started) * 1000
        started = time.monotonic()
        caller = urllib.request.urlopen(f"http://127.0.0.1:18601{TASK}", timeout=10).status
        caller_ms = (time.monotonic() - started) * 1000
        time.sleep(4)
        closed = 0
        for connection in held:
            connection.settimeout(0.01)
            try:
                connection.recv(1024)
                closed += 1
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except socket.timeout:
                pass
        after = rss_mib(gateway.pid)
        print(f"| {HELD} half-open requests closed after the 3 s header timeout | {closed} |")
        print(f"| /readyz while they were held | {probe} in {probe_ms:.1f} ms |")
        print(f"| a real caller while they were held | {caller} in {caller_ms:.1f} ms |")
        print(f"| RSS before / while held / 4 s after the timeout | {before:.1f} / {while_held:.1f} / {after:.1f} MiB |")
    finally:
        gateway.terminate()
        gateway.wait()


if __name__ == "__main__":
    main()
