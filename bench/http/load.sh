#!/usr/bin/env bash
# Load test of the demo service as deployed: wrk with 256 connections for 30 s on /metrics and
# then on /live, against the demo's own server (its default thread count unless
# MONITORING_SERVER_THREADS is set) while the simulated bot keeps working. Prints, per path:
# req/s, non-2xx answers, socket errors (connect/read/write/timeout), p50/p99 latency, and the
# demo's RSS before and after.
#
#   bench/http/load.sh [path/to/monitoring-demo]
#   env: DURATION=30s CONNECTIONS=256 WRK_THREADS=2 MONITORING_SERVER_THREADS=1
#
# All connections come from 127.0.0.1, one client address, so the per-client connection limit
# (default 64) is lifted for the run; the test is of the server, not of that limit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
script=load.sh
# shellcheck source=lib.sh
source "$here/lib.sh"
require_tools wrk curl python3
demo=$(readlink -f "${1:-$here/../../build/release/examples/monitoring-demo}")
duration=${DURATION:-30s}
connections=${CONNECTIONS:-256}
wrk_threads=${WRK_THREADS:-2}
server_threads=${MONITORING_SERVER_THREADS:-1}
[[ -x $demo ]] || { echo "load.sh: $demo not found (build the monitoring-demo target)" >&2; exit 1; }

port=$(free_port)
(cd "$tmp" && exec env -i PATH="$PATH" MONITORING_HOST=127.0.0.1 MONITORING_PORT="$port" \
  MONITORING_SERVER_THREADS="$server_threads" MONITORING_MAX_CONNECTIONS_PER_CLIENT=0 \
  LOG_DIR="$tmp/logs" LOG_CONSOLE=none DEMO_SPEED=20 "$demo" >"$tmp/demo.out" 2>&1) &
pids+=($!)
demo_pid=$!
wait_ready "http://127.0.0.1:$port/live"
sleep 2  # the demo's first business events, so /metrics has its usual series

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$demo_pid/status"; }

# wrk --latency output -> one row.
summarize() {  # path rss_before rss_after wrk_output_file
  python3 - "$@" <<'EOF'
import re, sys
path, before, after, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4]).read()
def unit(value, suffix):
    scale = {"us": 1e-3, "ms": 1, "s": 1e3, "m": 60e3}[suffix]
    return float(value) * scale
latency = dict((p, unit(v, s)) for p, v, s in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
requests = int(re.search(r"(\d+) requests in", out).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
errors = "/".join(errors.groups()) if errors else "0/0/0/0"
print(f"| {path} | {rps:,.0f} | {requests:,} | {int(non2xx.group(1)) if non2xx else 0} | {errors} "
      f"| {latency.get('50', float('nan')):.2f} | {latency.get('99', float('nan')):.2f} "
      f"| {before / 1024:.1f} → {after / 1024:.1f} |")
EOF
}

size=$(curl -s "http://127.0.0.1:$port/metrics" | wc -c)  # wrk sends no Accept-Encoding: uncompressed
echo "demo on 127.0.0.1:$port, $server_threads server thread(s); /metrics is $size bytes;" \
  "wrk -t$wrk_threads -c$connections -d$duration --timeout 2s"
echo
echo "| path | req/s | requests | non-2xx | socket errors c/r/w/timeout | p50 ms | p99 ms | RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for path in /metrics /live; do
  before=$(rss_kb)
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" --timeout 2s --latency \
    "http://127.0.0.1:$port$path" >"$tmp/wrk.out" 2>&1 || { cat "$tmp/wrk.out" >&2; exit 1; }
  after=$(rss_kb)
  summarize "$path" "$before" "$after" "$tmp/wrk.out"
done
kill -0 "$demo_pid" 2>/dev/null || { echo "load.sh: the demo died under load:" >&2; tail "$tmp/demo.out" >&2; exit 1; }
