#!/usr/bin/env bash
# One command for the comparison with QEMU's guest agent (docs/performance.md):
#   bench/run.sh [--quick] [bench.py options...]
# Installs qemu-guest-agent and the build dependencies when missing (apt-get, idempotent),
# builds quiesce-agent optimised in build-bench/, then runs bench/bench.py as root, which writes
# build-bench/results/{results.md,results.json,latency.svg} and prints the tables (strace counts
# the polled commands' syscalls).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(qemu-guest-agent gcc pkg-config meson ninja-build python3 libglib2.0-dev
  libmount-dev libudev-dev libcmocka-dev util-linux e2fsprogs strace)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  $sudo apt-get update -qq
  # the package's service must not start: the benchmark runs its own instances
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

echo "==> building build-bench (debugoptimized, like a distribution's -O2 build)"
if [ -f build-bench/build.ninja ]; then
  meson configure build-bench -Dbuildtype=debugoptimized >/dev/null
else
  meson setup build-bench -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-bench agent/quiesce-agent >/dev/null

exec $sudo python3 bench/bench.py --binary "$PWD/build-bench/agent/quiesce-agent" "$@"
