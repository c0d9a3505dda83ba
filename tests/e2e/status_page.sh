#!/usr/bin/env bash
# The status page in a real browser: starts the demo with a fast sample interval, waits until
# its charts have points, and runs tests/e2e/status_page/check.mjs (puppeteer-core driving
# Debian's headless Chromium). With a second argument, also writes a desktop screenshot there.
#
#   tests/e2e/status_page.sh [path/to/monitoring-demo] [screenshot.png]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DEMO=$(readlink -f "${1:-build/release/examples/monitoring-demo}")
SCREENSHOT=${2:+$(readlink -f "$2")}
# shellcheck source-path=SCRIPTDIR/../..
source tests/fixtures/lib.sh
# shellcheck disable=SC2034  # lib.sh's messages name the caller by it
FIXTURE_NAME=status_page

fail() {
  echo "status_page: FAIL: $*" >&2
  exit 1
}
command -v chromium >/dev/null || fail "chromium not found (scripts/install-deps.sh)"
[[ -x $DEMO ]] || fail "demo binary '$DEMO' not found: build it (target monitoring-demo)"

(cd tests/e2e/status_page && npm ci --no-audit --no-fund --prefer-offline >/dev/null)

dir=$(mktemp -d -t status_page.XXXXXX)
demo_pid=
redis_dir=
cleanup() {
  [[ -n $demo_pid ]] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
  [[ -n $redis_dir ]] && bash tests/fixtures/redis.sh stop "$redis_dir" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

# A real Redis and the demo's own /live as the panel: checks the page must list.
out=$(bash tests/fixtures/redis.sh start) || fail "redis fixture"
redis_dir=$(sed -n 's/^DIR=//p' <<<"$out")
redis_url=$(sed -n 's/^URL=//p' <<<"$out")

port=$(fixture_free_port)
base="http://127.0.0.1:$port"
# A clean environment: the caller's SENTRY_DSN or LOG_LEVEL must not change the run.
env -i PATH="$PATH" HOME="$dir" MONITORING_HOST=127.0.0.1 MONITORING_PORT="$port" \
  MONITORING_STATUS_SAMPLE_MS=300 LOG_DIR="$dir/logs" LOG_CONSOLE=none DEMO_SPEED=20 \
  REDIS_URL="$redis_url" PANEL_URL="$base/live" "$DEMO" </dev/null >"$dir/demo.out" 2>&1 &
demo_pid=$!

# Until every chart has a line (a payment needs a few simulated minutes), at most 60 s.
deadline=$((SECONDS + 60))
until curl -fsS "$base/status" 2>/dev/null | python3 -c '
import re, sys
points = [int(p) for p in re.findall(r"data-points=\"(\d+)\"", sys.stdin.read())]
sys.exit(0 if len(points) == 4 and min(points) >= 2 else 1)'; do
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo exited: $(tail -n 5 "$dir/demo.out")"
  ((SECONDS < deadline)) || fail "the charts have no lines after 60 s: $(curl -fsS "$base/status" | grep -o 'data-points="[0-9]*"' | tr '\n' ' ')"
  sleep 0.5
done

timeout 120 node tests/e2e/status_page/check.mjs "$base" ${SCREENSHOT:+"$SCREENSHOT"}
