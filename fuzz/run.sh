#!/usr/bin/env bash
# Runs every libFuzzer harness for a bounded time: fuzz/run.sh <build-dir> <seconds-per-fuzzer>
#
# <build-dir> is a tree configured with -DMONITORING_BUILD_FUZZERS=ON (its fuzz/fuzz_<name>
# executables built). For each harness: first replays fuzz/regressions/<name>/ (inputs that once
# failed), then fuzzes from a copy of fuzz/corpus/<name>/ in <build-dir>/fuzz-run/<name>/, so
# the checked-in corpus is never written. Failing inputs stay in
# <build-dir>/fuzz-run/<name>/crashes/. Exits non-zero when any harness failed.
set -uo pipefail
shopt -s nullglob
if [ $# -ne 2 ]; then
  echo "usage: $0 <build-dir> <seconds-per-fuzzer>" >&2
  exit 2
fi
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$1" && pwd)
SECONDS_EACH=$2
HARNESSES=(config_from_env dsn_parse url_redaction exposition negotiation http_request log_encoding)

dictionary_for() {
  case "$1" in
    config_from_env) echo "$FUZZ_DIR/dict/config_from_env.dict" ;;
    dsn_parse | url_redaction) echo "$FUZZ_DIR/dict/url.dict" ;;
    negotiation) echo "$FUZZ_DIR/dict/negotiation.dict" ;;
    http_request) echo "$FUZZ_DIR/dict/http_request.dict" ;;
  esac
}

# No leak reports from the process-lifetime singletons (logging backend, registries).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for name in "${HARNESSES[@]}"; do
  binary="$BUILD/fuzz/fuzz_$name"
  if [ ! -x "$binary" ]; then
    echo "fuzz: $binary is missing (build the 'fuzzers' target)" >&2
    failed+=("$name(missing)")
    continue
  fi
  work="$BUILD/fuzz-run/$name"
  rm -rf "$work/corpus"
  mkdir -p "$work/corpus" "$work/crashes"
  seeds=("$FUZZ_DIR/corpus/$name"/*)
  [ "${#seeds[@]}" -gt 0 ] && cp "${seeds[@]}" "$work/corpus/"
  log="$work/fuzz.log"
  flags=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/crashes/" -print_final_stats=1)
  dict=$(dictionary_for "$name")
  [ -n "$dict" ] && flags+=(-dict="$dict")

  regressions=("$FUZZ_DIR/regressions/$name"/*)
  if [ "${#regressions[@]}" -gt 0 ]; then
    if ! "$binary" "${flags[@]}" -runs=0 "${regressions[@]}" >"$work/regressions.log" 2>&1; then
      echo "fuzz: $name FAILED on a regression input (log: $work/regressions.log)"
      tail -n 30 "$work/regressions.log"
      failed+=("$name(regression)")
      continue
    fi
  fi

  if "$binary" "${flags[@]}" -max_total_time="$SECONDS_EACH" "$work/corpus" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
    echo "fuzz: $name ok (${runs:-?} runs in ${SECONDS_EACH}s, ${#regressions[@]} regression inputs)"
  else
    echo "fuzz: $name FAILED (log: $log, inputs: $work/crashes/)"
    grep -A3 -E 'PROPERTY VIOLATED|ERROR: ' "$log" | head -n 20
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#HARNESSES[@]} harnesses passed"
