#!/usr/bin/env bash
# HTTP throughput: nginx `return 200` vs bench_server (monitoring HttpServer and a minimal Asio
# responder), /live and /metrics, wrk -t1 -c8. Loopback only; every process it starts is
# stopped on exit.
#
#   bench/http/run.sh [build-dir]   env: DURATION=5s SERIES=1000 CONNECTIONS=8 THREADS=1 ROUNDS=1
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
script=run.sh
# shellcheck source=lib.sh
source "$here/lib.sh"
require_tools wrk nginx curl python3
build=${1:-$here/../../build}
bench_server=$build/bench/bench_server
duration=${DURATION:-5s}
series=${SERIES:-1000}
connections=${CONNECTIONS:-8}
threads=${THREADS:-1}
rounds=${ROUNDS:-1}

[[ -x $bench_server ]] || { echo "run.sh: $bench_server not found (build the bench_server target)" >&2; exit 1; }




# bench_server prints "port=N" once listening.
start_bench_server() {  # mode -> sets started_port
  local out=$tmp/$1.out
  : >"$out"
  "$bench_server" --mode="$1" --port 0 --series "$series" --threads "$threads" >"$out" 2>"$tmp/$1.err" &
  pids+=($!)
  for _ in $(seq 100); do
    started_port=$(sed -n 's/^port=//p' "$out")
    [[ -n $started_port ]] && return 0
    sleep 0.05
  done
  echo "run.sh: bench_server --mode=$1 did not start:" >&2
  cat "$tmp/$1.err" >&2
  return 1
}

# nginx serves the same /metrics bytes as a static file.
"$bench_server" --dump-metrics --series "$series" >"$tmp/metrics.txt"
start_nginx
start_bench_server monitoring
monitoring_port=$started_port
monitoring_pid=${pids[-1]}
start_bench_server asio-baseline
baseline_port=$started_port
baseline_pid=${pids[-1]}

declare -A port=([nginx]=$nginx_port [monitoring]=$monitoring_port [asio-baseline]=$baseline_port)
declare -A pid=([nginx]=$nginx_pid [monitoring]=$monitoring_pid [asio-baseline]=$baseline_pid)
for name in nginx monitoring asio-baseline; do
  for path in /live /metrics; do wait_ready "http://127.0.0.1:${port[$name]}$path"; done
done

metrics_bytes=$(stat -c %s "$tmp/metrics.txt")
echo "wrk -t1 -c$connections -d$duration x $rounds round(s); /metrics = $series series, $metrics_bytes bytes;" \
  "bench_server threads=$threads; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

seconds=${duration%s}
ticks_per_second=$(getconf CLK_TCK)
cpu_ticks() {  # pid -> utime + stime of the whole process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# Besides req/s (which background load on a shared machine distorts), record the server
# process's own CPU time per request: the cost that does not depend on who else runs.
measure() {  # key name url
  local before after report requests
  before=$(cpu_ticks "${pid[$2]}")
  report=$(timeout $((seconds + 20)) wrk -t1 -c"$connections" -d"$duration" "$3")
  after=$(cpu_ticks "${pid[$2]}")
  samples[$1]+=" $(awk '/^Requests\/sec:/ {print $2}' <<<"$report")"
  requests=$(awk '/requests in/ {print $1}' <<<"$report")
  cpu[$1]+=" $(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" 'BEGIN {print n ? t / hz * 1e6 / n : 0}')"
  local errors
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$report" || true)
  if [[ -n $errors ]]; then echo "warning: $1: $errors" >&2; fi
}

median() {
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# Targets are interleaved round by round so background load hits them alike; the table shows
# each target's median over the rounds.
declare -A samples cpu rps cpu_us
for ((round = 1; round <= rounds; round++)); do
  for path in /live /metrics; do
    for name in nginx monitoring asio-baseline; do measure "$name$path" "$name" "http://127.0.0.1:${port[$name]}$path"; done
  done
  # Diagnostic: the monitoring server with the /metrics body prebuilt (no serialization).
  measure monitoring/metrics-prebuilt monitoring "http://127.0.0.1:$monitoring_port/metrics-prebuilt"
done
for key in "${!samples[@]}"; do
  rps[$key]=$(median "${samples[$key]}")
  cpu_us[$key]=$(median "${cpu[$key]}")
done

row() {  # label key base-key
  printf '%-30s %10.0f %9.2fx %12.1f %9.2fx\n' "$1" "${rps[$2]}" "$(awk -v a="${rps[$2]}" -v b="${rps[$3]}" 'BEGIN {print a / b}')" \
    "${cpu_us[$2]}" "$(awk -v a="${cpu_us[$2]}" -v b="${cpu_us[$3]}" 'BEGIN {print b ? a / b : 0}')"
}
printf '\n%-30s %10s %10s %12s %10s\n' "target" "req/s" "vs nginx" "CPU us/req" "vs nginx"
for path in /live /metrics; do
  for name in nginx monitoring asio-baseline; do row "$name $path" "$name$path" "nginx$path"; done
done
row "monitoring /metrics-prebuilt" monitoring/metrics-prebuilt nginx/metrics
