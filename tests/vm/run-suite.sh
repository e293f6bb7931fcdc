#!/bin/bash
# Entry point of the VM test suite (see suite.py for options and checks).
#
#   tests/vm/run-suite.sh                                  # every check, harness only
#   tests/vm/run-suite.sh --agent-bin BUILD/agent/quiesce-agent \
#       --agent-unit packaging/systemd/quiesce-agent.service [CHECK ...]
#
# Needs root (debootstrap for the image, QEMU). Installs its host tools with apt-get when missing,
# builds or reuses the cached guest image, boots, runs the checks, powers off and removes every
# process and temporary file it made. Prints `N passed, N failed` last; exit status 0 = all passed.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3
fi
exec python3 "$(dirname "${BASH_SOURCE[0]}")/suite.py" "$@"
