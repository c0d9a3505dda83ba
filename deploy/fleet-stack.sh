#!/usr/bin/env bash
# `make demo-stack FLEET=1`: the demo bot as a fleet of replicas plus the shipped monitoring
# around it, every server from its Debian package on 127.0.0.1, free ports, one temp dir:
#   - FLEET_REPLICAS demo replicas, found by Prometheus through file_sd with the labels the
#     Kubernetes discovery gives pods (namespace, pod, instance = pod name)
#   - Prometheus with deploy/prometheus/prometheus-fleet.yml and the alert rules
#   - Alertmanager with deploy/alertmanager/alertmanager.yml
#   - VictoriaMetrics with deploy/victoriametrics/victoria-metrics.default (remote_write)
#   - a webhook receiver standing in for the pager (tests/fixtures/webhook_receiver.py)
# It prints every URL; Ctrl-C (or SIGTERM) stops everything and removes the temp dir.
#
#   DEMO=build/release/examples/monitoring-demo   the demo binary (make builds it)
#   FLEET_REPLICAS=3                              replicas (1..20)
#   FLEET_INTERVAL=15s                            scrape and rule evaluation interval
#   FLEET_FOR=                                    when set, replaces every alert's `for:`
#   FLEET_GROUP_WAIT=30s FLEET_GROUP_INTERVAL=5m  Alertmanager's grouping timers
#   FLEET_STATE=                                  when set, KEY=VALUE lines (URLs, ports, the
#                                                 temp dir) are written there once all is up
#   DEMO_SPEED=1, LOG_LEVEL                       passed on to the replicas
#
# Replica i (0-based) is started by DIR/replica-i.sh (writes DIR/replica-i.pid), so a test can
# stop one and start it again on the same port and with the same labels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source-path=SCRIPTDIR/..
source tests/fixtures/lib.sh
# shellcheck disable=SC2034  # lib.sh's messages name the caller by it
FIXTURE_NAME=fleet-stack

DEMO=$(readlink -f "${DEMO:-build/release/examples/monitoring-demo}")
REPLICAS=${FLEET_REPLICAS:-3}
INTERVAL=${FLEET_INTERVAL:-15s}
FOR=${FLEET_FOR:-}
GROUP_WAIT=${FLEET_GROUP_WAIT:-30s}
GROUP_INTERVAL=${FLEET_GROUP_INTERVAL:-5m}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-prometheus}
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-prometheus-alertmanager}
VICTORIA_BIN=${VICTORIA_BIN:-victoria-metrics}

[[ -x $DEMO ]] || fixture_die "no demo at $DEMO (make demo-stack FLEET=1 builds it)"
if ! [[ $REPLICAS =~ ^[0-9]+$ ]] || ((REPLICAS < 1 || REPLICAS > 20)); then
  fixture_die "FLEET_REPLICAS=$REPLICAS: expected 1..20"
fi
duration_re='^[0-9]+(ms|s|m|h)$'
for var in INTERVAL GROUP_WAIT GROUP_INTERVAL; do
  [[ ${!var} =~ $duration_re ]] || fixture_die "$var=${!var} is not a duration (e.g. 15s)"
done
[[ -z $FOR || $FOR =~ $duration_re ]] || fixture_die "FLEET_FOR=$FOR is not a duration"
for tool in "$PROMETHEUS_BIN" "$ALERTMANAGER_BIN" "$VICTORIA_BIN" python3 curl; do
  command -v "$tool" >/dev/null || fixture_die "'$tool' not found (scripts/install-deps.sh)"
done

dir=$(fixture_make_dir fleet-stack)
pids=()  # the servers; replicas are found through their pid files
receiver_port="" victoria_port="" alertmanager_port="" prometheus_port=""  # set by start_server
# shellcheck disable=SC2317  # called by the trap
stop() {
  trap - EXIT INT TERM
  echo "fleet-stack: stopping" >&2
  local pidfile pid all=()
  # Prometheus first (no alerts about replicas going away), then everyone at once, so the
  # stop takes one grace period, not one per process.
  for ((pid = ${#pids[@]} - 1; pid >= 0; pid--)); do all+=("${pids[pid]}"); done
  for pidfile in "$dir"/replica-*.pid; do
    [[ -f $pidfile ]] && all+=("$(<"$pidfile")")
  done
  for pid in "${all[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${all[@]}"; do
    fixture_kill_tree "$pid" TERM 15
  done
  rm -rf -- "$dir"
}
trap stop EXIT
trap 'exit 0' INT TERM

# start_server NAME PORT_VAR LOG READY_URL_SUFFIX COMMAND...: starts COMMAND with {PORT}
# replaced by a free port, retrying when the port was taken meanwhile; sets PORT_VAR.
start_server() {
  local name=$1 port_var=$2 log=$3 ready=$4
  shift 4
  local attempt port pid deadline args
  for ((attempt = 1; attempt <= 5; attempt++)); do
    port=$(fixture_free_port)
    args=("${@//\{PORT\}/$port}")
    setsid "${args[@]}" </dev/null >"$log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 60))
    while fixture_alive "$pid" && ((SECONDS < deadline)); do
      if fixture_http_ok "http://127.0.0.1:$port$ready" && fixture_owns_port "$pid" "$port"; then
        pids+=("$pid")
        printf -v "$port_var" '%s' "$port"
        return 0
      fi
      sleep 0.1
    done
    fixture_kill_tree "$pid" KILL 2
    grep -qi 'address already in use' "$log" ||
      fixture_die "$name did not start: $(tail -n 5 "$log")"
  done
  fixture_die "$name: no usable port after 5 attempts"
}

# ------------------------------------------------------------------ replicas (file_sd)
mkdir -p "$dir/prometheus/targets" "$dir/prometheus/data" "$dir/alertmanager" "$dir/victoria"
replica_ports=()
targets="["
for ((i = 0; i < REPLICAS; i++)); do
  rdir=$dir/replica-$i
  mkdir -p "$rdir"
  # A clean environment (a caller's SENTRY_DSN must not leak in); a distinct seed per replica
  # so their simulated traffic differs.
  cat >"$dir/replica-$i.sh" <<EOF
#!/usr/bin/env bash
# Starts replica $i of the fleet (port and labels fixed for the stack's life).
echo \$\$ >"$dir/replica-$i.pid"
cd "$rdir"
exec env -i PATH="\$PATH" HOME="$rdir" MONITORING_HOST=127.0.0.1 MONITORING_PORT=\$1 \\
  DEMO_SPEED="${DEMO_SPEED:-1}" DEMO_SEED=$((1000 + i)) LOG_LEVEL="${LOG_LEVEL:-INFO}" \\
  LOG_DIR="$rdir/logs" LOG_CONSOLE=none SENTRY_CACHE_DIR="$rdir/sentry-cache" \\
  "$DEMO" </dev/null >>"$rdir/demo.out" 2>&1
EOF
  for ((attempt = 1; attempt <= 5; attempt++)); do
    port=$(fixture_free_port)
    bash "$dir/replica-$i.sh" "$port" &
    pid=$!
    deadline=$((SECONDS + 30))
    until fixture_http_ok "http://127.0.0.1:$port/live" && fixture_owns_port "$pid" "$port"; do
      fixture_alive "$pid" || break
      ((SECONDS < deadline)) || fixture_die "replica $i did not answer on port $port"
      sleep 0.1
    done
    fixture_alive "$pid" && break
    grep -qi 'address already in use' "$rdir/demo.out" || fixture_die "replica $i exited: $(tail -n 5 "$rdir/demo.out")"
    port=""
  done
  [[ -n $port ]] || fixture_die "replica $i: no usable port"
  echo "$port" >"$dir/replica-$i.port"
  replica_ports+=("$port")
  ((i > 0)) && targets+=","
  targets+="{\"targets\":[\"127.0.0.1:$port\"],\"labels\":{\"namespace\":\"bot-2getpro\",\"pod\":\"bot-2getpro-$i\",\"instance\":\"bot-2getpro-$i\"}}"
done
echo "$targets]" >"$dir/prometheus/targets/2getpro_bot.json"

# ------------------------------------------------------------------ webhook receiver
start_server "webhook receiver" receiver_port "$dir/receiver.log" / \
  python3 "$ROOT/tests/fixtures/webhook_receiver.py" "{PORT}" "$dir/notifications.jsonl"

# ------------------------------------------------------------------ VictoriaMetrics
# The shipped flags, with the data path and listen address of this stack.
vm_args=$(sed -n 's/^ARGS="\(.*\)"$/\1/p' deploy/victoriametrics/victoria-metrics.default)
[[ -n $vm_args ]] || fixture_die "no ARGS in deploy/victoriametrics/victoria-metrics.default"
read -r -a vm_flags <<<"$vm_args"
vm_cmd=("$VICTORIA_BIN")
for flag in "${vm_flags[@]}"; do
  case $flag in
    -storageDataPath=*) vm_cmd+=("-storageDataPath=$dir/victoria") ;;
    -httpListenAddr=*) vm_cmd+=("-httpListenAddr=127.0.0.1:{PORT}") ;;
    -dedup.minScrapeInterval=*) vm_cmd+=("-dedup.minScrapeInterval=$INTERVAL") ;;
    *) vm_cmd+=("$flag") ;;
  esac
done
start_server VictoriaMetrics victoria_port "$dir/victoria.log" /health "${vm_cmd[@]}"

# ------------------------------------------------------------------ Alertmanager
sed -e "s|http://127.0.0.1:9095/|http://127.0.0.1:$receiver_port/|" \
  -e "s/^\(  group_wait:\) .*/\1 $GROUP_WAIT/" -e "s/^\(  group_interval:\) .*/\1 $GROUP_INTERVAL/" \
  deploy/alertmanager/alertmanager.yml >"$dir/alertmanager/alertmanager.yml"
grep -q "127.0.0.1:$receiver_port/alerts/oncall" "$dir/alertmanager/alertmanager.yml" ||
  fixture_die "deploy/alertmanager/alertmanager.yml: webhook URLs not found for the rewrite"
# No cluster: a lone Alertmanager would otherwise listen on 9094 for peers.
start_server Alertmanager alertmanager_port "$dir/alertmanager.log" /-/ready \
  "$ALERTMANAGER_BIN" --config.file="$dir/alertmanager/alertmanager.yml" \
  --storage.path="$dir/alertmanager" --web.listen-address="127.0.0.1:{PORT}" \
  --cluster.listen-address= --log.level=warn

# ------------------------------------------------------------------ Prometheus
cp -r deploy/prometheus/rules "$dir/prometheus/rules"
if [[ -n $FOR ]]; then
  sed -i "s/^\( *for:\) .*/\1 $FOR/" "$dir/prometheus/rules"/*.yml
fi
sed -e "s/\(scrape_interval\|evaluation_interval\): [0-9]*[a-z]*/\1: $INTERVAL/" \
  -e "s/scrape_timeout: [0-9]*[a-z]*/scrape_timeout: $INTERVAL/" \
  -e "s/'localhost:9093'/'127.0.0.1:$alertmanager_port'/" \
  -e "s|http://localhost:8428/|http://127.0.0.1:$victoria_port/|" \
  deploy/prometheus/prometheus-fleet.yml >"$dir/prometheus/prometheus.yml"
for want in "127.0.0.1:$alertmanager_port" "127.0.0.1:$victoria_port"; do
  grep -q "$want" "$dir/prometheus/prometheus.yml" ||
    fixture_die "deploy/prometheus/prometheus-fleet.yml: rewrite to $want failed"
done
start_server Prometheus prometheus_port "$dir/prometheus.log" /-/ready \
  "$PROMETHEUS_BIN" --config.file="$dir/prometheus/prometheus.yml" \
  --storage.tsdb.path="$dir/prometheus/data" --storage.tsdb.retention.time=1d \
  --web.listen-address="127.0.0.1:{PORT}" --web.enable-lifecycle --log.level=warn \
  --enable-feature=exemplar-storage --storage.remote.flush-deadline=5s

prom=http://127.0.0.1:$prometheus_port
if [[ -n ${FLEET_STATE:-} ]]; then
  {
    echo "DIR=$dir"
    echo "PROMETHEUS=$prom"
    echo "ALERTMANAGER=http://127.0.0.1:$alertmanager_port"
    echo "VICTORIA=http://127.0.0.1:$victoria_port"
    echo "RECEIVER=http://127.0.0.1:$receiver_port"
    echo "REPLICA_PORTS='${replica_ports[*]}'"
  } >"$FLEET_STATE.tmp"
  mv "$FLEET_STATE.tmp" "$FLEET_STATE"
fi

cat <<EOF

fleet-stack is up ($REPLICAS replicas; data in $dir, removed on exit)
  Prometheus          $prom/targets  $prom/alerts
  Alertmanager        http://127.0.0.1:$alertmanager_port/#/alerts
  VictoriaMetrics     http://127.0.0.1:$victoria_port/vmui  (Prometheus API: http://127.0.0.1:$victoria_port/api/v1/query)
  webhook receiver    http://127.0.0.1:$receiver_port/  (every notification Alertmanager sent)
EOF
for ((i = 0; i < REPLICAS; i++)); do
  echo "  bot-2getpro-$i       http://127.0.0.1:${replica_ports[i]}/metrics  /health  /ready"
done
cat <<EOF
Stop a replica to see BotInstanceDown reach the receiver:
  kill \$(cat $dir/replica-0.pid)      start it again: bash $dir/replica-0.sh ${replica_ports[0]} &
Grafana: provision deploy/grafana with the datasource URL $prom (or the VictoriaMetrics one).
Ctrl-C stops everything.
EOF

# A server ending ends the stack; replicas may come and go.
wait -n "${pids[@]}" || true
echo "fleet-stack: a server exited; see the logs in $dir" >&2
exit 1
