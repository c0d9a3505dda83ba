#!/usr/bin/env bash
# The metrics-only consumer (tests/install/metrics_only), built against the installed package
# with CMake (COMPONENTS metrics) and with pkg-config (monitoring-metrics), must run, link no
# libpq, hiredis, libcurl or libbacktrace, and include no Boost header.
#   check_metrics_only.sh <install prefix> <build dir>
set -euo pipefail
prefix_arg=$1; build_arg=$2
cd "$(dirname "$0")/../.."
prefix=$(realpath "$prefix_arg")
build=$(realpath -m "$build_arg")
fail() { echo "metrics-only consumer: $*" >&2; exit 1; }

cmake -S tests/install/metrics_only -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$build" >/dev/null
"$build/metrics_only" >/dev/null || fail "the program failed"

pc_dir=$(dirname "$(find "$prefix" -name monitoring-metrics.pc | head -n 1)")
# shellcheck disable=SC2046
g++ -std=c++20 tests/install/metrics_only/main.cpp -o "$build/metrics_only_pkgconfig" \
  -MD -MF "$build/metrics_only_pkgconfig.d" \
  $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs monitoring-metrics)
"$build/metrics_only_pkgconfig" >/dev/null || fail "the pkg-config build failed"
libs=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --libs monitoring-metrics)
echo "pkg-config --libs monitoring-metrics: $libs"
for unwanted in -lpq -lhiredis -lcurl -lbacktrace; do
  case " $libs " in *" $unwanted "*) fail "pkg-config names $unwanted" ;; esac
done

for program in "$build/metrics_only" "$build/metrics_only_pkgconfig"; do
  echo "ldd $(basename "$program"):"
  ldd "$program" | sed 's/^/  /'
  if ldd "$program" | grep -Eq 'libpq|libhiredis|libcurl|libbacktrace'; then
    fail "$(basename "$program") links a library it must not"
  fi
  # Static archives leave no trace in ldd: look for their symbols too.
  if nm -C "$program" | grep -Eq ' (PQconnect|redisConnect|curl_easy_init|backtrace_create_state)'; then
    fail "$(basename "$program") contains libpq, hiredis, libcurl or libbacktrace code"
  fi
done

# What the compiler read: no Boost header, in either build.
deps=$(cat "$build/metrics_only_pkgconfig.d" "$build"/CMakeFiles/metrics_only.dir/main.cpp.o.d)
if grep -q 'boost/' <<<"$deps"; then
  fail "a Boost header was included: $(grep -o '[^ ]*boost/[^ ]*' <<<"$deps" | head -n 3)"
fi
echo "metrics-only consumer: runs; no libpq, hiredis, libcurl, libbacktrace; no Boost header"
