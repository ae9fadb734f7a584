#!/usr/bin/env bash
# What a caller's key costs on the cached path: the release demo with a callers file, wrk on a
# fresh task answer with the key and on the same process's /livez, then the same without callers.
# Not a test. Usage: bench/callers.sh (after `cargo build --release`; needs wrk: bench/run.sh
# installs it). Loopback ports 18621-18624.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=target/release/anaplan-gateway
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
printf '{"callers":[{"name":"bench","keySha256":"%s","models":["*"],"mayCancel":false}]}' "$hash" >"$dir/callers.json"
route='/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009&workspaceId=8a8196b15b7dbae6015b8694411d13fe'
rate() { wrk -t1 -c32 -d10s "$@" | awk '/Requests\/sec/ {print $2}'; }
run() { # name, api port, admin port, extra env
  local api=$2 admin=$3
  env GATEWAY_LISTEN=127.0.0.1:$api GATEWAY_ADMIN_LISTEN=127.0.0.1:$admin RUST_LOG=warn ${4:-} \
    "$binary" demo >/dev/null 2>&1 &
  sleep 1.5
  local auth=()
  [ -n "${4:-}" ] && auth=(-H "Authorization: Bearer $key")
  curl -sf "${auth[@]}" "http://127.0.0.1:$api$route" >/dev/null
  local hit livez
  hit=$(rate "${auth[@]}" "http://127.0.0.1:$api$route")
  livez=$(rate "http://127.0.0.1:$admin/livez")
  echo "| $1 | $hit | $livez | $(awk -v h="$hit" -v l="$livez" 'BEGIN {printf "%.2f", h / l}') |"
  kill %1; wait %1 2>/dev/null || true
}
echo "| gateway | fresh hit, req/s | /livez, req/s | hit / livez |"
echo "|---|---|---|---|"
run "no callers file" 18621 18622
run "callers file, Bearer key" 18623 18624 "GATEWAY_CALLERS_FILE=$dir/callers.json"
