#!/usr/bin/env bash
# End-to-end test of the deploy assets (deploy/prometheus, deploy/grafana, deploy/kubernetes).
#
#   tests/e2e/deploy_assets.sh [path/to/monitoring-demo]   (default build/release/examples/...)
#
# 1. Static: promtool check config / check rules / test rules; every alert has a firing and a
#    quiet unit test; dashboards are valid JSON, use only catalog metrics and follow the job
#    and instance variables; the Kubernetes shutdown budget adds up.
# 2. Live: the demo (with real PostgreSQL and Redis behind its health checks) scraped by a real
#    Prometheus running the shipped config and rules. Every dashboard query and alert
#    expression must evaluate; most dashboard queries must have data; the alerts stay quiet
#    while all is well, and fire (pending) when Redis and then the bot itself go away.
#
# Needs prometheus + promtool, redis-server, postgresql and psql, python3, curl (Debian 12).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DEMO=$(readlink -f "${1:-build/release/examples/monitoring-demo}")
# shellcheck source-path=SCRIPTDIR/../..
source tests/fixtures/lib.sh
# shellcheck disable=SC2034  # lib.sh's messages name the caller by it
FIXTURE_NAME=deploy_assets
PROMETHEUS_BIN=${PROMETHEUS_BIN:-prometheus}
PROMTOOL_BIN=${PROMTOOL_BIN:-promtool}
HELPER=(python3 "$ROOT/tests/e2e/deploy_assets.py")
# Below this share of dashboard queries with data the dashboards are mostly empty graphs.
MIN_DATA_RATIO=0.7

started=$SECONDS
log() { printf '[deploy_assets %3ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
  echo "deploy_assets: FAIL: $*" >&2
  exit 1
}

for tool in "$PROMETHEUS_BIN" "$PROMTOOL_BIN" python3 curl psql; do
  command -v "$tool" >/dev/null || fail "'$tool' not found (scripts/install-deps.sh)"
done
[[ -x $DEMO ]] || fail "demo binary '$DEMO' not found: build it (target monitoring-demo) or pass its path"

TMP=$(fixture_make_dir deploy-assets)
DEMO_PID="" PROM_PID="" REDIS_DIR="" PG_DIR=""
cleanup() {
  local status=$?
  [[ -n $DEMO_PID ]] && fixture_kill_tree "$DEMO_PID" TERM 10
  [[ -n $PROM_PID ]] && fixture_kill_tree "$PROM_PID" TERM 10
  [[ -n $REDIS_DIR ]] && bash tests/fixtures/redis.sh stop "$REDIS_DIR" >/dev/null 2>&1
  [[ -n $PG_DIR ]] && bash tests/fixtures/postgres.sh stop "$PG_DIR" >/dev/null 2>&1
  if ((status != 0)); then
    for f in "$TMP"/demo/demo.out "$TMP"/prometheus/server.log; do
      [[ -s $f ]] && { echo "--- tail of $f"; tail -n 20 "$f"; } >&2
    done
  fi
  rm -rf -- "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Fixture servers stop with this script, even if it is killed.
export MONITORING_FIXTURE_OWNER=$$

# --------------------------------------------------------------------------- static checks
log "promtool check config"
"$PROMTOOL_BIN" check config deploy/prometheus/prometheus.yml >/dev/null ||
  fail "promtool check config deploy/prometheus/prometheus.yml"
k8s=deploy/prometheus/prometheus-kubernetes.yml
if ! out=$("$PROMTOOL_BIN" check config "$k8s" 2>&1); then
  # Debian builds Prometheus without Kubernetes discovery, so its promtool cannot parse
  # kubernetes_sd_configs. Check everything else: the same file with that block swapped for
  # a static target (and the role checked by hand).
  grep -q 'field kubernetes_sd_configs not found' <<<"$out" || fail "promtool check config $k8s:
$out"
  grep -Eq '^\s+- role: endpoints$' "$k8s" || fail "$k8s: expected kubernetes_sd_configs role 'endpoints'"
  mkdir -p "$TMP/k8s"
  ln -s "$ROOT/deploy/prometheus/rules" "$TMP/k8s/rules"
  awk '
    /^    kubernetes_sd_configs:/ { print "    static_configs:"; print "      - targets: [\"pod:9090\"]"; skip = 1; next }
    skip && /^    [a-z_]+:/ { skip = 0 }
    !skip { print }
  ' "$k8s" >"$TMP/k8s/prometheus.yml"
  grep -q 'static_configs' "$TMP/k8s/prometheus.yml" || fail "$k8s: kubernetes_sd_configs block not found"
  "$PROMTOOL_BIN" check config "$TMP/k8s/prometheus.yml" >/dev/null ||
    fail "promtool check config $k8s (kubernetes_sd_configs replaced by a static target)"
  log "  $k8s: checked with kubernetes_sd_configs swapped out (this promtool has no Kubernetes discovery)"
fi

log "promtool check rules"
"$PROMTOOL_BIN" check rules deploy/prometheus/rules/*.yml >/dev/null || fail "promtool check rules"

log "promtool test rules"
"$PROMTOOL_BIN" test rules deploy/prometheus/tests/*.yml >"$TMP/promtool-test.log" 2>&1 || {
  cat "$TMP/promtool-test.log" >&2
  fail "promtool test rules"
}

# Each alert needs a test where it fires and one where it stays quiet ("exp_alerts: []").
mapfile -t alerts < <(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' deploy/prometheus/rules/*.yml)
((${#alerts[@]} > 0)) || fail "no alerts in deploy/prometheus/rules"
coverage=$(awk '
  /^ *alertname:/ { name = $2 }
  /^ *exp_alerts:/ { if ($2 == "[]") quiet[name]++; else firing[name]++ }
  END { for (n in firing) print n, "firing"; for (n in quiet) print n, "quiet" }
' deploy/prometheus/tests/*.yml)
for alert in "${alerts[@]}"; do
  for kind in firing quiet; do
    grep -qx "$alert $kind" <<<"$coverage" || fail "alert $alert has no '$kind' case in deploy/prometheus/tests"
  done
done
log "  all ${#alerts[@]} alerts have firing and quiet unit tests"

log "dashboards"
"${HELPER[@]}" dashboards deploy/grafana/dashboards "$TMP/queries.json"
"${HELPER[@]}" names src "$TMP/queries.json"

log "kubernetes shutdown budget"
# Kubernetes kills the pod terminationGracePeriodSeconds after it starts stopping it; the
# preStop sleep, the drain (/ready 503), in-flight requests and the final flush must fit.
yaml_value() { sed -n "s/^ *$1: *\"*\([0-9]*\)\"*.*/\1/p" "$2" | head -n 1; }
grace=$(yaml_value terminationGracePeriodSeconds deploy/kubernetes/deployment.yaml)
drain_ms=$(yaml_value MONITORING_DRAIN_MS deploy/kubernetes/configmap.yaml)
inflight_ms=$(yaml_value MONITORING_SHUTDOWN_GRACE_MS deploy/kubernetes/configmap.yaml)
prestop=$(sed -n 's/.*command: *\["sleep", *"\([0-9]*\)"\].*/\1/p' deploy/kubernetes/deployment.yaml | head -n 1)
for v in grace drain_ms inflight_ms prestop; do
  [[ ${!v} =~ ^[0-9]+$ ]] || fail "deploy/kubernetes: could not read $v"
done
flush=5  # logging flush and sentry::close at exit
need=$((prestop + (drain_ms + inflight_ms + 999) / 1000 + flush))
((grace >= need)) || fail "terminationGracePeriodSeconds=$grace < preStop $prestop s + drain $drain_ms ms + in-flight $inflight_ms ms + flush ${flush} s"
((drain_ms > 0)) || fail "MONITORING_DRAIN_MS must be > 0 in the ConfigMap"
# The drain must outlast the kubelet noticing /ready's 503.
readiness=$(sed -n '/readinessProbe:/,/^ *[a-zA-Z]*Probe:\|lifecycle:/p' deploy/kubernetes/deployment.yaml)
period=$(sed -n 's/^ *periodSeconds: *\([0-9]*\)/\1/p' <<<"$readiness")
failures=$(sed -n 's/^ *failureThreshold: *\([0-9]*\)/\1/p' <<<"$readiness")
[[ $period =~ ^[0-9]+$ && $failures =~ ^[0-9]+$ ]] || fail "deployment.yaml: readinessProbe periodSeconds/failureThreshold"
((period * failures * 1000 <= drain_ms)) ||
  fail "readiness notices the drain after $((period * failures)) s but MONITORING_DRAIN_MS is $drain_ms"
grep -q '^ *startupProbe:' deploy/kubernetes/deployment.yaml || fail "deployment.yaml: no startupProbe"
filled=$(grep -E '^ +[A-Z_]+:' deploy/kubernetes/secret.template.yaml | grep -Ev ':\s*""\s*(#.*)?$' || true)
[[ -z $filled ]] || fail "secret.template.yaml must stay a template, found values: $filled"
grep -q '^ *MONITORING_AUTH_TOKEN: ""' deploy/kubernetes/secret.template.yaml || fail "secret.template.yaml: keys missing"
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/kubernetes >/dev/null || fail "kubectl kustomize deploy/kubernetes"
fi
for path in /live /ready; do
  grep -q "path: $path\$" deploy/kubernetes/deployment.yaml || fail "deployment.yaml: no probe on $path"
done
log "  ${grace}s grace >= ${prestop}s preStop + ${drain_ms}ms drain + ${inflight_ms}ms in-flight + ${flush}s flush"

# --------------------------------------------------------------------------- live stack
log "PostgreSQL and Redis for the demo's health checks"
out=$(bash tests/fixtures/postgres.sh start) || fail "postgres fixture"
PG_DIR=$(sed -n 's/^DIR=//p' <<<"$out")
pg_url=$(sed -n 's/^URL=//p' <<<"$out")
# The readiness check "migrations" wants an Alembic version table.
psql "$pg_url" -v ON_ERROR_STOP=1 -qc \
  "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('e2e0001');" ||
  fail "could not create alembic_version"
out=$(bash tests/fixtures/redis.sh start) || fail "redis fixture"
REDIS_DIR=$(sed -n 's/^DIR=//p' <<<"$out")
redis_url=$(sed -n 's/^URL=//p' <<<"$out")

log "demo"
mkdir -p "$TMP/demo"
for _ in 1 2 3 4 5; do
  demo_port=$(fixture_free_port)
  # A clean environment: a SENTRY_DSN or LOG_LEVEL of the caller must not change the run.
  # PANEL_URL points at the demo's own /live so the panel check has a real HTTP peer.
  (cd "$TMP/demo" && exec setsid env -i PATH="$PATH" HOME="$TMP/demo" \
    MONITORING_HOST=127.0.0.1 MONITORING_PORT="$demo_port" DEMO_SPEED=20 \
    LOG_DIR="$TMP/demo/logs" LOG_CONSOLE=none \
    DATABASE_URL="$pg_url" REDIS_URL="$redis_url" PANEL_URL="http://127.0.0.1:$demo_port/live" \
    "$DEMO" </dev/null >"$TMP/demo/demo.out" 2>&1) &
  DEMO_PID=$!
  deadline=$((SECONDS + 20))
  until fixture_http_ok "http://127.0.0.1:$demo_port/live" && fixture_owns_port "$DEMO_PID" "$demo_port"; do
    fixture_alive "$DEMO_PID" || break
    ((SECONDS < deadline)) || fail "demo did not answer on port $demo_port"
    sleep 0.1
  done
  fixture_alive "$DEMO_PID" && break
  grep -qi 'address already in use' "$TMP/demo/demo.out" || fail "demo exited: $(cat "$TMP/demo/demo.out")"
  DEMO_PID=""
done
[[ -n $DEMO_PID ]] || fail "no free port for the demo"

log "Prometheus with the shipped config and rules"
# The shipped config with the target moved to the demo and 1 s intervals, so a short run
# fills rate() windows; everything else (job name, rules) as shipped.
pdir=$TMP/prometheus
mkdir -p "$pdir/data"
cp -r deploy/prometheus/rules "$pdir/rules"
sed -e "s/'localhost:9090'/'127.0.0.1:$demo_port'/" \
  -e 's/\(scrape_interval\|evaluation_interval\|scrape_timeout\): [0-9]*s/\1: 1s/' \
  deploy/prometheus/prometheus.yml >"$pdir/prometheus.yml"
grep -q "'127.0.0.1:$demo_port'" "$pdir/prometheus.yml" ||
  fail "deploy/prometheus/prometheus.yml no longer targets 'localhost:9090'; update this test's rewrite"
if grep -Eq '(interval|timeout): *([2-9]|[1-9][0-9]+)s' "$pdir/prometheus.yml"; then
  fail "intervals left unchanged in the rewritten config"
fi
"$PROMTOOL_BIN" check config "$pdir/prometheus.yml" >/dev/null || fail "rewritten config invalid"
for _ in 1 2 3 4 5; do
  prom_port=$(fixture_free_port)
  setsid "$PROMETHEUS_BIN" --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdir/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn \
    </dev/null >"$pdir/server.log" 2>&1 &
  PROM_PID=$!
  deadline=$((SECONDS + 30))
  until fixture_http_ok "http://127.0.0.1:$prom_port/-/ready" && fixture_owns_port "$PROM_PID" "$prom_port"; do
    fixture_alive "$PROM_PID" || break
    ((SECONDS < deadline)) || fail "Prometheus did not become ready"
    sleep 0.1
  done
  fixture_alive "$PROM_PID" && break
  grep -qi 'address already in use' "$pdir/server.log" || fail "Prometheus exited"
  PROM_PID=""
done
[[ -n $PROM_PID ]] || fail "no free port for Prometheus"
PROM=http://127.0.0.1:$prom_port
query() { "${HELPER[@]}" query "$PROM" "$1"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND prints a number > 0
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit)) n
  while :; do
    n=$("$@") || fail "$what: query failed"
    [[ $n =~ ^[0-9]+$ ]] && ((n > 0)) && return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
wait_for 20 "target up" query 'up{job="2getpro_bot"} == 1' || fail "the demo target never came up in Prometheus"
log "  target up; waiting for payments, health checks and a few rate() windows"
up_at=$SECONDS
# Payments take a few simulated seconds to start; every check (database, redis, panel,
# migrations, connections, cache) reports after its first run.
wait_for 60 "payments" query 'payment_success_total{job="2getpro_bot"}' || log "  (no successful payment yet)"
wait_for 30 "health checks" query 'count(health_check_status{job="2getpro_bot"}) >= 6' ||
  fail "expected 6 health/readiness checks: $(curl -s "http://127.0.0.1:$demo_port/health")"
while ((SECONDS - up_at < 20)); do sleep 1; done

curl -sf --noproxy '*' "http://127.0.0.1:$demo_port/metrics" >"$TMP/metrics.txt" || fail "scrape /metrics"
"${HELPER[@]}" exposition "$TMP/metrics.txt"
curl -sf --noproxy '*' "$PROM/api/v1/rules" >"$TMP/rules.json" || fail "GET /api/v1/rules"
"${HELPER[@]}" alerts "$TMP/rules.json" deploy/prometheus/rules
"${HELPER[@]}" names src "$TMP/rules.json"

log "evaluating dashboard queries and alert expressions"
"${HELPER[@]}" evaluate "$PROM" "$TMP/queries.json" "$TMP/rules.json" "$MIN_DATA_RATIO" \
  job=2getpro_bot instance="127.0.0.1:$demo_port" __rate_interval=15s __interval=5s

alert_expr() {  # the expression Prometheus loaded for alert $1
  python3 -c 'import json,sys
for g in json.load(open(sys.argv[1]))["data"]["groups"]:
    for r in g["rules"]:
        if r["name"] == sys.argv[2]: print(r["query"])' "$TMP/rules.json" "$1"
}
# Everything is healthy: the alerts about dependencies and availability must be quiet.
for alert in BotInstanceDown BotTargetMissing BotDatabaseCheckFailing BotRedisCheckFailing \
  BotDependencyDegraded BotNotReady BotNoMessages AllPaymentSystemsUnavailable; do
  expr=$(alert_expr "$alert")
  [[ -n $expr ]] || fail "alert $alert not loaded"
  [[ $(query "$expr") == 0 ]] || fail "$alert's condition holds although the demo is healthy"
done
log "  availability and dependency alerts quiet while healthy"

log "Redis goes away"
bash tests/fixtures/redis.sh stop "$REDIS_DIR" >/dev/null
REDIS_DIR=""
alert_state() { "${HELPER[@]}" alert-state "$PROM" "$@"; }
is_active() { [[ $(alert_state "$@") != inactive ]] && echo 1 || echo 0; }
wait_for 30 "redis alert" is_active BotRedisCheckFailing check=redis ||
  fail "BotRedisCheckFailing not pending/firing 30 s after Redis stopped"
wait_for 10 "readiness alert" is_active BotNotReady check=cache ||
  fail "BotNotReady{check=cache} not pending/firing after Redis stopped"
[[ $(is_active BotDatabaseCheckFailing) == 0 ]] || fail "BotDatabaseCheckFailing active although PostgreSQL runs"
log "  BotRedisCheckFailing and BotNotReady{check=cache} active, database alert quiet"

log "the bot goes away"
fixture_kill_tree "$DEMO_PID" TERM 10
DEMO_PID=""
wait_for 20 "instance down" is_active BotInstanceDown instance="127.0.0.1:$demo_port" ||
  fail "BotInstanceDown not pending/firing after the demo stopped"
log "  BotInstanceDown active"

log "PASS ($((SECONDS - started)) s)"
