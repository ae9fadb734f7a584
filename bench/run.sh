#!/usr/bin/env bash
# The benchmarks in one command: installs wrk and redis-server if they are missing, builds the
# release gateway and runs bench/gateway.rs (one process), bench/fleet.rs (replicas sharing
# Redis), bench/waiting.rs (held long-polls, a streamed dump), bench/batch.rs (an orchestrator's
# tasks as long-polls against one held batch), bench/transfers.rs (a 1 GiB
# export file downloaded), bench/uploads.rs (a 1 GiB import file uploaded) and bench/maxima.rs
# (memory with every bound of the chart's defaults reached at once), which print tables of figures
# against the targets; `bench/run.sh gateway` (or fleet, waiting, batch, transfers, uploads,
# maxima) runs one. Not a test: it never fails on the machine's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_or_not=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
for tool in wrk redis-server; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool (Debian package)" >&2
    $sudo_or_not apt-get update -qq && $sudo_or_not apt-get install -y -qq "$tool"
  fi
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sm)" >&2
for bench in "${@:-gateway fleet waiting batch transfers uploads maxima}"; do
  for name in $bench; do
    cargo bench --locked --bench "$name"
  done
done
