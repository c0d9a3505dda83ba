#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian 12 packages.
# Idempotent: packages already present are skipped by apt. Uses sudo when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  # toolchain; clang-14 and its runtime libraries (libFuzzer, sanitizers) build fuzz/
  build-essential cmake pkg-config git ca-certificates clang-format python3
  clang-14 libclang-rt-14-dev
  # library dependencies
  libboost-dev libcurl4-openssl-dev libpq-dev libhiredis-dev libfmt-dev zlib1g-dev libdeflate-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev libspdlog-dev
  # real servers the tests start on loopback
  prometheus prometheus-pushgateway redis-server postgresql
  # the fleet end-to-end test (tests/e2e/fleet.sh): alert delivery and long-term storage
  prometheus-alertmanager victoria-metrics
  # HTTP load and probing
  wrk nginx-light curl procps iproute2 psmisc
  # the status page is tested in a real browser
  chromium
)
# Node.js runs the npm test validators; a machine may already have a newer Node with npm bundled.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

# The Debian packages start these services on their default ports; the tests run their own
# instances on free ports, so stop the system ones where a service manager is present.
for svc in prometheus prometheus-pushgateway prometheus-alertmanager victoria-metrics redis-server postgresql nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
