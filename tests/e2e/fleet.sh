#!/usr/bin/env bash
# End-to-end test of the fleet setup: three demo replicas behind file_sd, Prometheus with the
# shipped fleet config and rules, remote_write to VictoriaMetrics, Alertmanager with the
# shipped routes and inhibitions, and a webhook receiver, all started by deploy/fleet-stack.sh
# (`make demo-stack FLEET=1`) with short intervals (1 s scrapes, every `for:` 3 s).
#
#   tests/e2e/fleet.sh [path/to/monitoring-demo]   (default build/release/examples/...)
#
#  1. Static: promtool check config (fleet config, file_sd targets), amtool check-config.
#  2. Three replicas up with distinct instance labels; every dashboard query returns the same
#     series from VictoriaMetrics as from Prometheus.
#  3. One replica stops: BotInstanceDown fires for it alone and reaches the on-call webhook
#     grouped by alert and instance; no fleet alert fires; every dashboard query that had data
#     over the fleet still has it.
#  4. Inhibition: a dependency alert of the stopped replica is held back by Alertmanager,
#     the same alert of a running replica reaches the warning receiver.
#  5. The replica starts again: the resolved notification arrives.
#
# Needs prometheus + promtool, prometheus-alertmanager + amtool, victoria-metrics, python3,
# curl (scripts/install-deps.sh). Bounded by FLEET_TEST_TIMEOUT (default 240 s).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DEMO=$(readlink -f "${1:-build/release/examples/monitoring-demo}")
# shellcheck source-path=SCRIPTDIR/../..
source tests/fixtures/lib.sh
# shellcheck disable=SC2034  # lib.sh's messages name the caller by it
FIXTURE_NAME=fleet
HELPER=(python3 "$ROOT/tests/e2e/fleet.py")
ASSETS=(python3 "$ROOT/tests/e2e/deploy_assets.py")
LIMIT=${FLEET_TEST_TIMEOUT:-240}

started=$SECONDS
log() { printf '[fleet %3ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
  echo "fleet: FAIL: $*" >&2
  exit 1
}

for tool in promtool amtool prometheus prometheus-alertmanager victoria-metrics python3 curl; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (scripts/install-deps.sh)"
done
[[ -x $DEMO ]] || fail "demo binary '$DEMO' not found: build it (target monitoring-demo) or pass its path"

TMP=$(fixture_make_dir fleet-e2e)
STACK_PID="" RESTARTED_PID="" WATCHDOG=""
cleanup() {
  local status=$?
  ((SECONDS - started >= LIMIT)) && echo "fleet: FAIL: stopped after the ${LIMIT}s limit" >&2
  [[ -n $WATCHDOG ]] && fixture_kill_tree "$WATCHDOG" TERM 1
  [[ -n $STACK_PID ]] && fixture_kill_tree "$STACK_PID" TERM 60
  [[ -n $RESTARTED_PID ]] && fixture_kill_tree "$RESTARTED_PID" TERM 10
  if ((status != 0)) && [[ -s $TMP/stack.out ]]; then
    { echo "--- tail of the stack's output"; tail -n 20 "$TMP/stack.out"; } >&2
  fi
  rm -rf -- "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The whole test is bounded: the watchdog ends it (and through the trap, the stack).
# shellcheck disable=SC2016  # expanded by the inner shell
setsid bash -c 'sleep "$1"; kill -TERM "$2"' watchdog "$LIMIT" $$ </dev/null >/dev/null 2>&1 &
WATCHDOG=$!

# ---------------------------------------------------------------------- static checks
log "promtool check config (fleet), amtool check-config"
promtool check config deploy/prometheus/prometheus-fleet.yml >/dev/null ||
  fail "promtool check config deploy/prometheus/prometheus-fleet.yml"
amtool check-config deploy/alertmanager/alertmanager.yml >/dev/null ||
  fail "amtool check-config deploy/alertmanager/alertmanager.yml"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert all({"namespace","pod","instance"} <= set(g["labels"]) for g in t)' \
  deploy/prometheus/targets/2getpro_bot.json || fail "targets/2getpro_bot.json: every group needs namespace, pod and instance"
"${ASSETS[@]}" dashboards deploy/grafana/dashboards "$TMP/queries.json" >/dev/null

# ---------------------------------------------------------------------- the stack
log "starting the stack (3 replicas, Prometheus, Alertmanager, VictoriaMetrics, receiver)"
FLEET_REPLICAS=3 FLEET_INTERVAL=1s FLEET_FOR=3s FLEET_GROUP_WAIT=2s FLEET_GROUP_INTERVAL=3s \
  FLEET_STATE=$TMP/state DEMO_SPEED=20 DEMO=$DEMO \
  setsid bash deploy/fleet-stack.sh </dev/null >"$TMP/stack.out" 2>&1 &
STACK_PID=$!
until [[ -f $TMP/state ]]; do
  fixture_alive "$STACK_PID" || fail "the stack did not start"
  sleep 0.2
done
# shellcheck source=/dev/null
source "$TMP/state"
read -r -a ports <<<"$REPLICA_PORTS"

query() { "${ASSETS[@]}" query "$PROMETHEUS" "$1"; }
alert_state() { "${ASSETS[@]}" alert-state "$PROMETHEUS" "$@"; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND prints a number > 0
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit)) n
  while :; do
    n=$("$@") || fail "$what: command failed"
    [[ $n =~ ^[0-9]+$ ]] && ((n > 0)) && return 0
    ((SECONDS < deadline)) || fail "$what: not within ${limit}s"
    sleep 0.5
  done
}
firing() { [[ $(alert_state "$@") == firing ]] && echo 1 || echo 0; }
expect_inactive() {
  local state
  state=$(alert_state "$@")
  [[ $state == inactive ]] || fail "$* is $state"
}
vars=(job=2getpro_bot 'instance=.*' __rate_interval=15s __interval=5s)

wait_for 30 "three targets up with their own instance label" query \
  'count(up{job="2getpro_bot", namespace="bot-2getpro", instance=~"bot-2getpro-[012]", pod=~"bot-2getpro-[012]"} == 1) == 3'
up_at=$SECONDS
wait_for 60 "a successful payment" query 'payment_success_total{job="2getpro_bot"}'
# rate() windows ($__rate_interval 15 s) full, and VictoriaMetrics' newest 30 s out of the way.
while ((SECONDS - up_at < 45)); do sleep 1; done
"${HELPER[@]}" data "$PROMETHEUS" "$TMP/queries.json" "$TMP/before.json" "${vars[@]}"

log "VictoriaMetrics against Prometheus, every dashboard query"
at=$(($(date +%s) - 32))
"${HELPER[@]}" compare "$PROMETHEUS" "$VICTORIA" "$TMP/queries.json" "$at" "${vars[@]}"

for alert in BotInstanceDown BotFleetMostlyDown AllPaymentSystemsUnavailable BotTargetMissing; do
  expect_inactive "$alert"
done
log "  all replicas up: instance and fleet availability alerts quiet"

# ---------------------------------------------------------------------- one replica stops
log "bot-2getpro-2 stops"
fixture_kill_tree "$(<"$DIR/replica-2.pid")" TERM 15
wait_for 30 "BotInstanceDown{instance=bot-2getpro-2} firing" firing BotInstanceDown instance=bot-2getpro-2
delivered() { "${HELPER[@]}" delivered "$RECEIVER" "$@"; }
wait_for 30 "BotInstanceDown for bot-2getpro-2 at the on-call webhook" \
  delivered oncall firing BotInstanceDown bot-2getpro-2
log "  BotInstanceDown{instance=bot-2getpro-2} delivered to 'oncall', grouped by alertname + instance"
for instance in bot-2getpro-0 bot-2getpro-1; do
  expect_inactive BotInstanceDown instance="$instance"
  [[ $(delivered oncall firing BotInstanceDown "$instance") == 0 ]] ||
    fail "BotInstanceDown delivered for the running $instance"
done
for alert in BotFleetMostlyDown AllPaymentSystemsUnavailable BotTargetMissing; do
  expect_inactive "$alert"
  [[ $(delivered oncall firing "$alert") == 0 ]] || fail "fleet alert $alert delivered"
done
log "  the running replicas and the fleet alerts stay quiet"
"${HELPER[@]}" data "$PROMETHEUS" "$TMP/queries.json" "$TMP/after.json" "${vars[@]}"
"${HELPER[@]}" still-data "$TMP/before.json" "$TMP/after.json"

# ---------------------------------------------------------------------- inhibition
log "inhibition: a dependency alert for the stopped and for a running replica"
# Posted the way Prometheus posts: a stopped replica's instant alerts end with its series,
# so a dependency alert of a down replica is staged here (its rate-window alerts, which do
# outlive it, depend on the simulated traffic).
posted=$("${HELPER[@]}" now)
payload='['
for instance in bot-2getpro-2 bot-2getpro-0; do
  payload+="{\"labels\":{\"alertname\":\"BotDependencyDegraded\",\"severity\":\"warning\",\"scope\":\"instance\",\"job\":\"2getpro_bot\",\"namespace\":\"bot-2getpro\",\"pod\":\"$instance\",\"instance\":\"$instance\",\"check\":\"panel\"},"
  payload+="\"annotations\":{\"summary\":\"e2e: check panel failing on $instance\"}},"
done
payload="${payload%,}]"
curl -sf --noproxy '*' -H 'Content-Type: application/json' -d "$payload" "$ALERTMANAGER/api/v2/alerts" >/dev/null ||
  fail "POST $ALERTMANAGER/api/v2/alerts"
wait_for 30 "BotDependencyDegraded for the running bot-2getpro-0 at the warning webhook" \
  delivered tickets firing BotDependencyDegraded bot-2getpro-0
# Both were posted together: by now the inhibited one's group had its group_wait too; give it
# one more group_interval (3 s) before concluding it was held back.
sleep_until=$((SECONDS + 4))
wait_for 10 "BotDependencyDegraded{instance=bot-2getpro-2} suppressed by an inhibition" \
  "${HELPER[@]}" suppressed "$ALERTMANAGER" BotDependencyDegraded bot-2getpro-2
while ((SECONDS < sleep_until)); do sleep 0.5; done
[[ $("${HELPER[@]}" mentions "$RECEIVER" BotDependencyDegraded bot-2getpro-2 "$posted") == 0 ]] ||
  fail "the inhibited BotDependencyDegraded{instance=bot-2getpro-2} was delivered"
log "  delivered for bot-2getpro-0 ('tickets'), held back for the down bot-2getpro-2"

# ---------------------------------------------------------------------- resolved
log "bot-2getpro-2 starts again"
bash "$DIR/replica-2.sh" "${ports[2]}" &
RESTARTED_PID=$!
wait_for 60 "resolved BotInstanceDown for bot-2getpro-2 at the on-call webhook" \
  delivered oncall resolved BotInstanceDown bot-2getpro-2
log "  resolved notification delivered"

# An input of the README's sizing table: what a sample costs on the remote_write wire.
rw=$(curl -sf --noproxy '*' "$PROMETHEUS/metrics" | awk '
  /^prometheus_remote_storage_bytes_total/ { bytes += $NF }
  /^prometheus_remote_storage_samples_total/ { samples += $NF }
  END { if (samples > 0) printf "%d samples sent, %.1f bytes per sample", samples, bytes / samples }')
[[ -n $rw ]] || fail "Prometheus sent nothing to VictoriaMetrics"
log "remote_write: $rw"
log "PASS ($((SECONDS - started)) s)"
