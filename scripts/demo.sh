#!/usr/bin/env bash
# Builds and runs the demo service (a simulated 2GETPRO bot) on a fresh Debian 12 machine.
# Configured by the same environment variables as the library (README: Configuration);
# MONITORING_PORT defaults to 9090. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target monitoring-demo
exec build/release/examples/monitoring-demo "$@"
