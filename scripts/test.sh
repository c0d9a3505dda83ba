#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: dependencies, format check, Release
# build, unit and integration tests (real Prometheus, Pushgateway, ...), install + consumer
# builds (CMake package and pkg-config), the secret hunt over the demo's outputs, a benchmark
# smoke run, unit tests under AddressSanitizer+UBSan, the concurrency tests under
# ThreadSanitizer, and the libFuzzer harnesses (fuzz/) for 30 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD_ROOT:-$ROOT/build}
start=$(date +%s)
step() { printf '\n=== %s (%ss) ===\n' "$*" "$(( $(date +%s) - start ))"; }

step "dependencies"
bash scripts/install-deps.sh

step "test fixture packages (npm ci from the lock file)"
(cd tests/fixtures/sentry && npm ci --no-audit --no-fund --prefer-offline)

step "format check"
bash scripts/check-format.sh

step "release build"
cmake -S . -B "$BUILD/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD/release" -j"$JOBS"

step "unit tests"
ctest --test-dir "$BUILD/release" -L unit --output-on-failure -j"$JOBS" --timeout 300

step "integration tests"
ctest --test-dir "$BUILD/release" -L integration --output-on-failure --timeout 600

step "deploy assets: promtool and end-to-end"
bash tests/e2e/deploy_assets.sh "$BUILD/release/examples/monitoring-demo"

step "fleet: Kubernetes schemas; 3 replicas, Alertmanager, VictoriaMetrics end-to-end (at most 240 s)"
(cd tests/e2e/k8s-schema && npm ci --no-audit --no-fund --prefer-offline)
node tests/e2e/k8s-schema/validate.mjs deploy/kubernetes
FLEET_TEST_TIMEOUT=240 bash tests/e2e/fleet.sh "$BUILD/release/examples/monitoring-demo"

step "status page in headless Chromium"
bash tests/e2e/status_page.sh "$BUILD/release/examples/monitoring-demo"

step "secret hunt: the demo's every output, with secrets in every secret-carrying variable"
python3 tests/e2e/secret_hunt.py "$BUILD/release/examples/monitoring-demo"

step "install and consumers"
rm -rf "$BUILD/install" "$BUILD/consumer" "$BUILD/metrics-only"
cmake --install "$BUILD/release" --prefix "$BUILD/install" >/dev/null
cmake -S tests/install -B "$BUILD/consumer" -DCMAKE_PREFIX_PATH="$BUILD/install" >/dev/null
cmake --build "$BUILD/consumer" -j"$JOBS" >/dev/null
"$BUILD/consumer/consumer"
pc_dir=$(dirname "$(find "$BUILD/install" -name monitoring.pc | head -n 1)")
g++ -std=c++20 tests/install/main.cpp -o "$BUILD/consumer/consumer-pkgconfig" \
  $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs monitoring)
"$BUILD/consumer/consumer-pkgconfig"
bash tests/install/check_metrics_only.sh "$BUILD/install" "$BUILD/metrics-only"

step "benchmark smoke run"
for bench in "$BUILD"/release/bench/*_bench; do
  [ -x "$bench" ] || continue
  # scaling_bench's million-series configurations are for measuring, not for the smoke run.
  MONITORING_SCALING_MAX_SERIES=10000 "$bench" --benchmark_min_time=0.01 >/dev/null
  echo "ok: $(basename "$bench")"
done

# Sanitizer builds at -O1 with line tables only (-g1: what their reports print): the build is
# most of these steps' time, and this takes about a third off it against -O2 -g.
SANITIZER_FLAGS="-O1 -g1 -DNDEBUG"

step "AddressSanitizer + UBSan: unit tests"
unit_targets=$(cd tests/unit && for d in */; do printf 'unit_%s ' "${d%/}"; done)
cmake -S . -B "$BUILD/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONITORING_SANITIZE=address \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
  -DMONITORING_BUILD_BENCH=OFF -DMONITORING_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD/asan" -j"$JOBS" --target $unit_targets
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$BUILD/asan" -L unit --output-on-failure -j"$JOBS" --timeout 600

step "ThreadSanitizer: concurrency tests"
# Only the test programs that have *Concurrency suites.
tsan_targets=$(cd tests/unit && for d in */; do
  if grep -qs 'Concurrency' "$d"*.cpp; then printf 'unit_%s ' "${d%/}"; fi
done)
cmake -S . -B "$BUILD/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONITORING_SANITIZE=thread \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
  -DMONITORING_BUILD_BENCH=OFF -DMONITORING_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD/tsan" -j"$JOBS" --target $tsan_targets
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir "$BUILD/tsan" -L unit -R Concurrency --output-on-failure -j"$JOBS" --timeout 600

step "libFuzzer: 7 harnesses x 30 s (clang-14, ASan+UBSan)"
# Only the harnesses and the libraries they link; clang because libFuzzer is clang's.
CXX=clang++-14 CC=clang-14 cmake -S . -B "$BUILD/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMONITORING_BUILD_FUZZERS=ON -DMONITORING_BUILD_TESTS=OFF -DMONITORING_BUILD_BENCH=OFF \
  -DMONITORING_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD/fuzz" -j"$JOBS" --target fuzzers
bash fuzz/run.sh "$BUILD/fuzz" 30

step "all tests passed"
