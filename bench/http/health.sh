#!/usr/bin/env bash
# Health endpoints under load, with nginx `return 200` as the baseline in the same run:
#   /live          health_bench --serve vs nginx (target: >= 0.7x nginx)
#   /health        six checks answered from cache
#   /hang/health   one dependency hangs (a TCP peer that never answers, check timeout 2 s):
#                  each request must answer within timeout + 100 ms, and /live must keep its
#                  throughput meanwhile.
# Loopback only; every process it starts is stopped on exit.
#
#   bench/http/health.sh [build-dir]     env: DURATION=5s CONNECTIONS=8 HANG_REQUESTS=5
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
script=health.sh
# shellcheck source=lib.sh
source "$here/lib.sh"
require_tools wrk nginx curl python3
build=${1:-$here/../../build}
server_bin=$build/bench/health_bench
duration=${DURATION:-5s}
connections=${CONNECTIONS:-8}
hang_requests=${HANG_REQUESTS:-5}

[[ -x $server_bin ]] || { echo "health.sh: $server_bin not found (build the health_bench target)" >&2; exit 1; }




# wrk's requests/s for url; warns about non-2xx answers or socket errors.
rps() {  # url [duration]
  local report
  report=$(wrk -t1 -c"$connections" -d"${2:-$duration}" "$1")
  grep -E "Non-2xx|Socket errors" <<<"$report" >&2 || true
  awk '/^Requests\/sec:/ {print $2}' <<<"$report"
}

# nginx, configured as for bench/http/run.sh (one worker, no logging).
: >"$tmp/metrics.txt"
start_nginx

"$server_bin" --serve --threads 1 >"$tmp/server.out" 2>"$tmp/server.err" &
pids+=($!)
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^port=//p' "$tmp/server.out")
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || { echo "health.sh: health_bench --serve did not start" >&2; cat "$tmp/server.err" >&2; exit 1; }

nginx_url=http://127.0.0.1:$nginx_port
ours=http://127.0.0.1:$port
wait_ready "$nginx_url/live"
wait_ready "$ours/live"
wait_ready "$ours/health"

echo "wrk -t1 -c$connections -d$duration; health_bench --serve with 1 server thread; nginx 1 worker; $(nproc) cores"
nginx_live=$(rps "$nginx_url/live")
our_live=$(rps "$ours/live")
our_health=$(rps "$ours/health")
our_ready=$(rps "$ours/ready")

# A hung dependency: sequential /hang/health requests, timed, while wrk hammers /live.
hang_seconds=$(( hang_requests * 2 + 2 ))
wrk -t1 -c"$connections" -d"${hang_seconds}s" "$ours/live" >"$tmp/live_during_hang.txt" &
wrk_pid=$!
pids+=($wrk_pid)
sleep 0.5
worst=0
times=()
for _ in $(seq "$hang_requests"); do
  t=$(curl -s -o "$tmp/hang.json" -w '%{time_total}' --max-time 10 "$ours/hang/health")
  times+=("$t")
  worst=$(awk -v a="$t" -v b="$worst" 'BEGIN {print (a > b) ? a : b}')
done
wait "$wrk_pid" || true
live_during_hang=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/live_during_hang.txt")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
printf '\n%-34s %12s %10s\n' "target" "req/s" "vs nginx"
printf '%-34s %12.0f %10s\n' "nginx /live (return 200)" "$nginx_live" "1.00x"
printf '%-34s %12.0f %10s\n' "monitoring /live" "$our_live" "$(ratio "$our_live" "$nginx_live")"
printf '%-34s %12.0f %10s\n' "monitoring /health (from cache)" "$our_health" "$(ratio "$our_health" "$nginx_live")"
printf '%-34s %12.0f %10s\n' "monitoring /ready (from cache)" "$our_ready" "$(ratio "$our_ready" "$nginx_live")"
printf '%-34s %12.0f %10s\n' "monitoring /live, dependency hung" "$live_during_hang" "$(ratio "$live_during_hang" "$nginx_live")"
echo
echo "/hang/health with one dependency hung (timeout 2.000 s): ${times[*]} s; worst $worst s (target <= 2.100 s)"
echo "last answer: $(head -c 300 "$tmp/hang.json")"
