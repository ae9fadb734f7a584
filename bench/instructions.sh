#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the cached task answer against /livez, in the
# same process. Unlike requests per second, the count hardly depends on the machine's speed or
# load, so it shows what a change to the hit path costs. Runs the demo (no Anaplan needed) under
# valgrind, which it installs if missing, with `wrk` driving 4 connections for 3 s per figure.
# With BENCH_CALLER_KEY=1 the demo runs with a callers file and (a) sends a caller's key.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_or_not=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
for tool in valgrind wrk curl; do
  command -v "$tool" >/dev/null || { $sudo_or_not apt-get update -qq && $sudo_or_not apt-get install -y -qq "$tool"; }
done
cargo build --locked --release --quiet
api=127.0.0.1:${BENCH_API_PORT:-18481}
admin=127.0.0.1:${BENCH_ADMIN_PORT:-18482}
out=$(mktemp -d)
key=()
if [ "${BENCH_CALLER_KEY:-0}" = 1 ]; then
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '{"callers":[{"name":"bench","keySha256":"%s","models":["*"]}]}' \
    "$(printf %s "$secret" | sha256sum | cut -d' ' -f1)" >"$out/callers.json"
  export GATEWAY_CALLERS_FILE=$out/callers.json
  key=(-H "Authorization: Bearer $secret")
fi
# A 5-minute poll interval, so every request of (a) is a fresh hit however slow valgrind makes it.
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
  target/release/anaplan-gateway demo --listen "$api" --admin-listen "$admin" \
  --poll-interval 5m --poll-max-interval 5m >/dev/null 2>"$out/valgrind.log" &
gateway=$!
trap 'kill $gateway 2>/dev/null || true; rm -rf "$out"' EXIT

fail() { echo "instructions.sh: $1" >&2; cat "$out/valgrind.log" >&2; exit 1; }
# Waits up to 60 s for a condition, failing if the gateway has stopped.
wait_for() {
  for _ in $(seq 300); do
    eval "$1" && return 0
    kill -0 "$gateway" 2>/dev/null || fail "the gateway stopped"
    sleep 0.2
  done
  fail "timed out waiting for: $1"
}
wait_for 'curl -sf "http://$admin/readyz" >/dev/null'

cached="http://$api/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009&workspaceId=8a8196b15b7dbae6015b8694411d13fe"
curl -sf -o /dev/null "${key[@]}" "$cached"
dump=0
count() { # label url [wrk options]: instructions per request over one wrk run, counters zeroed first
  wrk -t1 -c4 -d1s "${@:3}" "$2" >/dev/null
  callgrind_control -z "$gateway" >/dev/null 2>&1
  requests=$(wrk -t1 -c4 -d3s "${@:3}" "$2" | awk '/requests in/ {print $1}')
  dump=$((dump + 1))
  callgrind_control --dump="figure-$dump" "$gateway" >/dev/null 2>&1
  wait_for '[ -s "$out/callgrind.$gateway.$dump" ]'
  instructions=$(awk '/^summary:/ {print $2}' "$out/callgrind.$gateway.$dump")
  [ "${requests:-0}" -gt 0 ] && [ -n "$instructions" ] || fail "no figure for $1"
  per_request=$((instructions / requests))
  echo "$1: $per_request instructions per request ($requests requests)"
}
label="(a) cached task answer"
[ ${#key[@]} -gt 0 ] && label="$label, with a caller's key"
count "$label" "$cached" "${key[@]}"
cached_cost=$per_request
count "(b) /livez" "http://$admin/livez"
echo "(a)/(b): $(awk "BEGIN {printf \"%.2f\", $cached_cost / $per_request}") of the health check's instructions"
