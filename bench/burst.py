#!/usr/bin/env python3
"""A burst of made-up task ids against the gateway's demo, as a broken caller's loop would send:
1000 requests for distinct ids, 100 at a time, with GATEWAY_UPSTREAM_RATE=10/s.

Reports the Integration API calls the gateway made (from /metrics), how long the burst took, the
calls per second, and how the callers were answered. Usage: bench/burst.py [gateway binary]
[replicas], default target/release/anaplan-gateway (build it first) and 1. With more replicas,
they share one Redis (BURST_REDIS_URL, default redis://127.0.0.1:6379) and so one budget, and the
burst is spread over them in turn. Standard library only; loopback ports from 18611.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

FIRST_PORT = 18611
QUERY = "modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009"


def api(replica):
    return f"http://127.0.0.1:{FIRST_PORT + 2 * replica}"


def admin(replica):
    return f"http://127.0.0.1:{FIRST_PORT + 2 * replica + 1}"


def calls(replica):
    text = urllib.request.urlopen(f"{admin(replica)}/metrics", timeout=5).read().decode()
    found = re.search(r"^anaplan_gateway_upstream_budget_calls_total (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def ask(n, replicas):
    url = f"{api(n % replicas)}/tasks/import/{n:032X}?{QUERY}"
    try:
        return urllib.request.urlopen(url, timeout=60).status
    except urllib.error.HTTPError as error:
        return error.code


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/anaplan-gateway"
    replicas = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    shared = {}
    if replicas > 1:
        shared = {"GATEWAY_REDIS_URL": os.environ.get("BURST_REDIS_URL", "redis://127.0.0.1:6379"),
                  "GATEWAY_REDIS_PREFIX": f"burst-{os.getpid()}"}
    gateways = []
    for replica in range(replicas):
        env = dict(os.environ, GATEWAY_LISTEN=api(replica)[7:], GATEWAY_ADMIN_LISTEN=admin(replica)[7:],
                   GATEWAY_UPSTREAM_RATE="10/s", RUST_LOG="warn", **shared)
        gateways.append(subprocess.Popen([binary, "demo"], env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))
    try:
        time.sleep(1.5)
        for replica in range(replicas):
            urllib.request.urlopen(f"{admin(replica)}/readyz", timeout=5)
        before = sum(calls(replica) for replica in range(replicas))
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(lambda n: ask(n, replicas), range(1, 1001)))
        took = time.monotonic() - started
        made = sum(calls(replica) for replica in range(replicas)) - before
        counts = {status: statuses.count(status) for status in sorted(set(statuses))}
        fleet = f", {replicas} replicas sharing Redis" if replicas > 1 else ""
        print(f"| 1000 made-up ids, 100 at a time, GATEWAY_UPSTREAM_RATE=10/s{fleet} | {made} calls in {took:.1f} s: {made / took:.1f} a second |")
        print(f"| callers' answers | {', '.join(f'{count} x {status}' for status, count in counts.items())} |")
    finally:
        for gateway in gateways:
            gateway.terminate()
            gateway.wait()


if __name__ == "__main__":
    main()
