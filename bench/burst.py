#!/usr/bin/env python3
"""A burst of made-up task ids against the gateway's demo, as a broken caller's loop would send:
1000 requests for distinct ids, 100 at a time, with GATEWAY_UPSTREAM_RATE=10/s.

Reports the Integration API calls the gateway made (from /metrics), how long the burst took, the
calls per second, and how the callers were answered. Usage: bench/burst.py [gateway binary],
default target/release/anaplan-gateway (build it first). Standard library only; loopback ports
18611-2.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

BASE = "http://127.0.0.1:18611"
ADMIN = "http://127.0.0.1:18612"
QUERY = "modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009"


def calls():
    text = urllib.request.urlopen(f"{ADMIN}/metrics", timeout=5).read().decode()
    found = re.search(r"^anaplan_gateway_upstream_budget_calls_total (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def ask(n):
    url = f"{BASE}/tasks/import/{n:032X}?{QUERY}"
    try:
        return urllib.request.urlopen(url, timeout=60).status
    except urllib.error.HTTPError as error:
        return error.code


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/anaplan-gateway"
    env = dict(os.environ, GATEWAY_LISTEN="127.0.0.1:18611", GATEWAY_ADMIN_LISTEN="127.0.0.1:18612",
               GATEWAY_UPSTREAM_RATE="10/s", RUST_LOG="warn")
    gateway = subprocess.Popen([binary, "demo"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        urllib.request.urlopen(f"{ADMIN}/readyz", timeout=5)
        before = calls()
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(ask, range(1, 1001)))
        took = time.monotonic() - started
        made = calls() - before
        counts = {status: statuses.count(status) for status in sorted(set(statuses))}
        print(f"| 1000 made-up ids, 100 at a time, GATEWAY_UPSTREAM_RATE=10/s | {made} calls in {took:.1f} s: {made / took:.1f} a second |")
        print(f"| callers' answers | {', '.join(f'{count} x {status}' for status, count in counts.items())} |")
    finally:
        gateway.terminate()
        gateway.wait()


if __name__ == "__main__":
    main()
