#!/usr/bin/env bash
# `make demo-stack`: the demo bot plus a local Prometheus running deploy/prometheus (config
# and alert rules, exemplar storage on), so targets, alerts and graphs are visible at once, and
# without SENTRY_DSN a local Sentry ingest (tests/fixtures/sentry.sh) that receives the demo's
# errors and traces. Ctrl-C stops them all.
#
#   DEMO=build/release/examples/monitoring-demo   the demo binary (make demo-stack builds it)
#   DEMO_PORT=9090                                the demo's monitoring port (as in the config)
#   PROMETHEUS_PORT=9091                          Prometheus' UI and API
#   SENTRY_DSN=                                   a real project; empty: the local ingest, when
#                                                 node and `npm ci` in tests/fixtures/sentry are there
#   SENTRY_TRACES_SAMPLE_RATE=0.2                 share of webhooks and handlers sent as traces
#   DEMO_SPEED, DEMO_SEED, LOG_LEVEL, ...         passed on to the demo
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source-path=SCRIPTDIR/..
source tests/fixtures/lib.sh
# shellcheck disable=SC2034  # lib.sh's messages name the caller by it
FIXTURE_NAME=demo-stack

DEMO=${DEMO:-build/release/examples/monitoring-demo}
DEMO_PORT=${DEMO_PORT:-9090}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9091}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-prometheus}

[[ -x $DEMO ]] || fixture_die "no demo at $DEMO (make demo-stack builds it)"
command -v "$PROMETHEUS_BIN" >/dev/null || fixture_die "'$PROMETHEUS_BIN' not found (apt install prometheus)"
for var in DEMO_PORT PROMETHEUS_PORT; do
  port=${!var}
  [[ $port =~ ^[0-9]+$ ]] || fixture_die "$var=$port is not a port"
  # The Debian package also starts a system Prometheus on 9090.
  fixture_port_in_use "$port" && fixture_die "port $port is taken; choose another with $var=<port>"
done
[[ $DEMO_PORT != "$PROMETHEUS_PORT" ]] || fixture_die "DEMO_PORT and PROMETHEUS_PORT must differ"

dir=$(fixture_make_dir demo-stack)
demo_pid="" prom_pid="" sentry_dir="" sentry_url=""
# shellcheck disable=SC2317  # called by the trap
stop() {
  trap - EXIT INT TERM
  echo
  echo "demo-stack: stopping"
  [[ -n $demo_pid ]] && fixture_kill_tree "$demo_pid" TERM 15
  [[ -n $prom_pid ]] && fixture_kill_tree "$prom_pid" TERM 15
  [[ -n $sentry_dir ]] && bash tests/fixtures/sentry.sh stop "$sentry_dir" >/dev/null 2>&1
  rm -rf -- "$dir"
}
trap stop EXIT
trap 'exit 0' INT TERM

# The shipped config, pointed at the demo's port. The rules directory is linked, not
# copied: edit a rule, then `curl -X POST localhost:$PROMETHEUS_PORT/-/reload`.
sed "s/'localhost:9090'/'localhost:$DEMO_PORT'/" deploy/prometheus/prometheus.yml >"$dir/prometheus.yml"
ln -s "$ROOT/deploy/prometheus/rules" "$dir/rules"
mkdir -p "$dir/data" "$dir/logs"

# Traces need a Sentry: the local ingest stands in for an account (it keeps what it receives in
# memory, parsed with Sentry's own JavaScript parser).
if [[ -z ${SENTRY_DSN:-} ]]; then
  if command -v "${NODE_BIN:-node}" >/dev/null && [[ -d tests/fixtures/sentry/node_modules/@sentry/core ]]; then
    sentry_out=$(bash tests/fixtures/sentry.sh start) || fixture_die "the local Sentry ingest did not start"
    sentry_dir=$(sed -n 's/^DIR=//p' <<<"$sentry_out")
    sentry_url=$(sed -n 's/^URL=//p' <<<"$sentry_out")
    SENTRY_DSN=$(sed -n 's/^DSN=//p' <<<"$sentry_out")
  else
    echo "demo-stack: no SENTRY_DSN and no local Sentry ingest (needs node and 'npm ci' in" \
      "tests/fixtures/sentry): errors and traces are not sent" >&2
  fi
fi

MONITORING_HOST=${MONITORING_HOST:-127.0.0.1} MONITORING_PORT=$DEMO_PORT \
  LOG_DIR=${LOG_DIR:-$dir/logs} LOG_CONSOLE=${LOG_CONSOLE:-none} \
  SENTRY_DSN=${SENTRY_DSN:-} SENTRY_TRACES_SAMPLE_RATE=${SENTRY_TRACES_SAMPLE_RATE:-0.2} \
  SENTRY_CACHE_DIR=${SENTRY_CACHE_DIR:-$dir/sentry-cache} \
  "$DEMO" </dev/null &
demo_pid=$!
# Exemplar storage: the histograms' exemplars (trace ids) show on graphs of their buckets.
"$PROMETHEUS_BIN" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle --log.level=warn \
  --enable-feature=exemplar-storage </dev/null >"$dir/prometheus.log" 2>&1 &
prom_pid=$!

fixture_wait_port "$DEMO_PORT" 30 || fixture_die "the demo did not start"
until fixture_http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; do
  fixture_alive "$prom_pid" || fixture_die "Prometheus exited: $(tail -n 5 "$dir/prometheus.log")"
  sleep 0.2
done

prom=http://localhost:$PROMETHEUS_PORT
graph="$prom/graph?g0.range_input=15m&g0.tab=0"
graph+="&g0.expr=$(fixture_urlencode 'sum by (message_type) (rate(bot_messages_total[1m]))')"
graph+="&g1.range_input=15m&g1.tab=0"
graph+="&g1.expr=$(fixture_urlencode 'histogram_quantile(0.95, sum by (payment_system, le) (rate(payment_processing_duration_seconds_bucket[1m])))')"
graph+="&g2.range_input=15m&g2.tab=0&g2.expr=$(fixture_urlencode 'payment_system_availability')"
cat <<EOF

demo-stack is up (data in $dir, removed on exit)
  Prometheus targets  $prom/targets
  alerts              $prom/alerts
  graphs              $graph
  the demo            http://localhost:$DEMO_PORT/metrics  /health  /ready  /live
Scrapes every 15 s, so the first graphs need a minute; alerts wait out their "for:".
Grafana: provision deploy/grafana (datasource URL $prom). Ctrl-C stops everything.
Exemplars (trace ids of sampled webhooks and handlers, SENTRY_TRACES_SAMPLE_RATE):
  curl -s -H 'Accept: application/openmetrics-text' http://localhost:$DEMO_PORT/metrics | grep trace_id
EOF
if [[ -n $sentry_url ]]; then
  cat <<EOF
Traces and errors go to the local Sentry ingest: every envelope as JSON at $sentry_url/envelopes;
the transactions (trace id, op, name):
  curl -s $sentry_url/envelopes | jq -r '.[].items[] | select(.[0].type == "transaction") | .[1] | "\(.contexts.trace.trace_id) \(.contexts.trace.op) \(.transaction)"'

EOF
elif [[ -n ${SENTRY_DSN:-} ]]; then
  printf 'Traces and errors go to the Sentry project of SENTRY_DSN (Performance, Issues).\n\n'
else
  echo
fi
# Either process ending ends the stack.
wait -n "$demo_pid" "$prom_pid" || true
fixture_alive "$demo_pid" || echo "demo-stack: the demo exited" >&2
fixture_alive "$prom_pid" || echo "demo-stack: Prometheus exited: $(tail -n 5 "$dir/prometheus.log")" >&2
exit 1
