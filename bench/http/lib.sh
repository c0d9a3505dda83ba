# Shared pieces of the wrk scripts in this folder (sourced, not run). Sets $tmp and $pids; every
# process added to pids is stopped, and $tmp removed, when the script exits.
# Needs $script (the caller's name, for messages).

require_tools() {  # tool...
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: $tool is not installed" >&2; exit 1; }
  done
}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {  # url
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.05
  done
  echo "$script: $1 did not come up" >&2
  return 1
}

# nginx as the same-run baseline: one worker, no logging, `return 200` on /live and the file
# $tmp/metrics.txt on /metrics. Sets nginx_port and nginx_pid.
start_nginx() {
  nginx_port=$(free_port)
  sed -e "s|__DIR__|$tmp|g" -e "s|__PORT__|$nginx_port|g" "$here/nginx.conf" >"$tmp/nginx.conf"
  nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
}
