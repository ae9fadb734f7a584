#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the cached task answer against /livez, in the
# same process, and against nginx's proxy_cache serving the same answer from its cache. Unlike
# requests per second, the count hardly depends on the machine's speed or load, so it shows what a
# change to the hit path costs. Runs the demo (no Anaplan needed) and nginx (one process, in front
# of the demo) under valgrind, which it installs if missing with nginx and wrk, with `wrk` driving 4
# connections for 3 s per figure. With BENCH_CALLER_KEY=1 the demo runs with a callers file and
# (a) sends a caller's key.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_or_not=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
for tool in valgrind wrk curl nginx; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
    { $sudo_or_not apt-get update -qq && $sudo_or_not apt-get install -y -qq "$tool"; }
done
export PATH=$PATH:/usr/sbin
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
nginx_pid=""
trap 'kill $gateway $nginx_pid 2>/dev/null || true; rm -rf "$out"' EXIT

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
declare -A dumps
count() { # label url pid [wrk options]: instructions per request over one wrk run, counters zeroed first
  local pid=$3
  wrk -t1 -c4 -d1s "${@:4}" "$2" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  requests=$(wrk -t1 -c4 -d3s "${@:4}" "$2" | awk '/requests in/ {print $1}')
  dumps[$pid]=$((${dumps[$pid]:-0} + 1))
  callgrind_control --dump="figure" "$pid" >/dev/null 2>&1
  local file="$out/callgrind.$pid.${dumps[$pid]}"
  wait_for '[ -s "$file" ]'
  instructions=$(awk '/^summary:/ {print $2}' "$file")
  [ "${requests:-0}" -gt 0 ] && [ -n "$instructions" ] || fail "no figure for $1"
  per_request=$((instructions / requests))
  echo "$1: $per_request instructions per request ($requests requests)"
}
label="(a) cached task answer"
[ ${#key[@]} -gt 0 ] && label="$label, with a caller's key"
count "$label" "$cached" "$gateway" "${key[@]}"
cached_cost=$per_request
count "(b) /livez" "http://$admin/livez" "$gateway"
echo "(a)/(b): $(awk "BEGIN {printf \"%.2f\", $cached_cost / $per_request}") of the health check's instructions"

# (c) nginx in front of the gateway, answering the same task from its proxy_cache: one process,
# no access log, every answer kept 5 minutes whatever the gateway's Cache-Control says.
nginx_port=${BENCH_NGINX_PORT:-18483}
mkdir -p "$out/nginx"
# With a caller's key, nginx sends it on, as a proxy in front of the gateway would.
auth_line=""
[ ${#key[@]} -gt 0 ] && auth_line="proxy_set_header Authorization \"Bearer $secret\";"
cat >"$out/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $out/nginx/error.log warn;
pid $out/nginx/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $out/nginx/body;
  proxy_temp_path $out/nginx/proxy;
  fastcgi_temp_path $out/nginx/fastcgi;
  uwsgi_temp_path $out/nginx/uwsgi;
  scgi_temp_path $out/nginx/scgi;
  proxy_cache_path $out/nginx/cache keys_zone=answers:1m;
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://$api;
      proxy_http_version 1.1;
      $auth_line
      proxy_cache answers;
      proxy_cache_valid 200 5m;
      proxy_ignore_headers Cache-Control Expires;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
CONF
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
  nginx -p "$out/nginx" -c "$out/nginx.conf" >/dev/null 2>"$out/valgrind-nginx.log" &
nginx_pid=$!
nginx_cached="http://127.0.0.1:$nginx_port${cached#http://$api}"
wait_for 'curl -s -o /dev/null "$nginx_cached"'
wait_for 'curl -s -D - -o /dev/null "$nginx_cached" | grep -qi "x-cache-status: hit"'
count "(c) nginx proxy_cache hit, same answer" "$nginx_cached" "$nginx_pid"
echo "(a)/(c): $(awk "BEGIN {printf \"%.2f\", $cached_cost / $per_request}") of nginx's instructions (target: at most 0.80)"
