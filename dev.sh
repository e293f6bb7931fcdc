#!/usr/bin/env bash
# The two commands of the README.
#   ./dev.sh run    install what is missing, build, start the agent on ./quiesce-agent.sock
#   ./dev.sh test   install what is missing, build, run every test suite
# Both are idempotent: packages already installed are not touched, builds are incremental.
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Debian 12 packages, by what needs them. Everything the project uses is installed here: a fresh
# machine (and CI) has nothing else.
build_pkgs=(gcc pkg-config meson ninja-build python3 libglib2.0-dev
  libmount-dev libudev-dev libcmocka-dev scdoc)
test_pkgs=(socat util-linux e2fsprogs xfsprogs btrfs-progs lvm2 mdadm valgrind clang
  libclang-rt-14-dev)
vm_pkgs=(qemu-system-x86 qemu-utils debootstrap)
deb_pkgs=(dpkg-dev debhelper fakeroot lintian pkgconf systemd)
# the Windows cross build (win32/) and its tests under wine; the .msi is built with wixl
win32_pkgs=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 msitools wixl)

log() { printf '\n==> %s\n' "$*"; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# configure DIR [meson options...]: set up once, reconfigure when options change
configure() {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

cmd_run() {
  install_missing "${build_pkgs[@]}" socat
  log "building"
  configure build
  ninja -C build
  local sock=$top/quiesce-agent.sock
  mkdir -p "$top/run"
  cat <<MSG

quiesce-agent is starting on $sock (Ctrl-C stops it).
Talk to it from another terminal:

  socat - UNIX-CONNECT:$sock
  {"execute":"guest-info"}
  {"execute":"guest-ping"}

MSG
  exec "$top/build/agent/quiesce-agent" --method unix-listen --path "$sock" \
    --statedir "$top/run/state" --pidfile "$top/run/quiesce-agent.pid" --verbose "$@"
}

# counts of the last meson test run in DIR, added to the totals
passed=0; failed=0; skipped=0
count_results() {
  local json=$1/meson-logs/testlog.json
  [ -f "$json" ] || return 0
  read -r p f s < <(python3 - "$json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# count_summary LOG NAME: add the "N passed, N failed[, N skipped]" line that ends LOG to the
# totals; a run that never printed one counts as one failure
count_summary() {
  local summary p f s
  if summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1); then
    read -r p f s < <(echo "$summary" \
      | sed -E 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
  else
    echo "$2 did not report its results"
    failed=$((failed + 1))
  fi
}

run_meson_tests() {
  local dir=$1; shift
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs "$@" || true
  count_results "$dir"
}

# run_fuzzer BINARY: replay every input that ever crashed, then fuzz from the seed corpus for a
# bounded time in a scratch copy (new corpus entries are not written into the tree)
run_fuzzer() {
  local bin=$1 name=${1##*/fuzz-}
  local regressions=tests/fuzz/regressions/$name
  local work
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$name/." "$work/"
  if [ -n "$(find "$regressions" -type f ! -name .keep 2>/dev/null)" ]; then
    if ! "$bin" $(find "$regressions" -type f ! -name .keep); then
      echo "fuzz-$name: a regression input fails again"
      rm -rf "$work"; return 1
    fi
  fi
  if ! "$bin" -max_total_time="${QA_FUZZ_SECONDS:-60}" -max_len=65536 -timeout=10 \
      -artifact_prefix="build-fuzz/crash-$name-" "$work" 2>build-fuzz/fuzz-$name.log; then
    tail -40 "build-fuzz/fuzz-$name.log"
    echo "fuzz-$name: crash; the input is in build-fuzz/crash-$name-*; add it to $regressions"
    rm -rf "$work"; return 1
  fi
  tail -1 "build-fuzz/fuzz-$name.log"
  rm -rf "$work"
}

# The Windows agent: static GLib built once into a cache (win32/build-deps.sh),
# a cross build of quiesce-agent.exe and its .msi, then its tests under wine in a scratch prefix.
test_windows() {
  install_missing "${win32_pkgs[@]}"
  log "Windows: static GLib (built once, then cached)"
  local deps_cross
  deps_cross=$(win32/build-deps.sh --print-cross-file)
  # the dependencies' cross file is part of the build's identity: new deps, new build dir
  if [ "$(cat build-win32/.deps-cross 2>/dev/null)" != "$deps_cross" ]; then
    rm -rf build-win32
  fi
  log "Windows: cross build of quiesce-agent.exe and the .msi (warnings are errors)"
  if [ ! -f build-win32/build.ninja ]; then
    meson setup build-win32 --cross-file win32/cross-x86_64-w64-mingw32.ini \
      --cross-file "$deps_cross" -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
    echo "$deps_cross" >build-win32/.deps-cross
  fi
  ninja -C build-win32
  log "Windows: unit, protocol, service and installer tests under wine"
  export WINEPREFIX=$top/build-win32/wineprefix WINEDEBUG=-all WINEARCH=win64
  # a fresh prefix settles (first-run setup) before the tests use it
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    wineboot -i >/dev/null 2>&1 || true
    wineserver -w || true
  fi
  run_meson_tests build-win32
  # the prefix's own wine processes (services, the wineserver) end with the tests
  wineserver -k 2>/dev/null || true
}

# The unit and integration suites once more with valgrind memcheck around every test binary and
# every agent the integration tests start (qalib.Agent honours QA_AGENT_WRAPPER). Any error or
# definite leak fails: the unit tests through valgrind's exit status, the agents through their
# log files, which stay empty unless valgrind reports something. The integration tests scale
# their floods down under the wrapper (see test_hostile.py).
run_valgrind() {
  log "unit and integration tests under valgrind memcheck"
  local logs=$top/build-test/valgrind
  local vg="valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite"
  vg+=" --errors-for-leak-kinds=definite --track-fds=no"
  rm -rf "$logs"
  mkdir -p "$logs"
  # GLib's slice allocator hides frees from valgrind unless told to use malloc
  G_SLICE=always-malloc G_DEBUG=gc-friendly \
    run_meson_tests build-test --suite unit --wrapper "$vg" --timeout-multiplier 10
  G_SLICE=always-malloc G_DEBUG=gc-friendly QA_AGENT_WRAPPER="$vg --log-file=$logs/agent.%p.log" \
    run_meson_tests build-test --suite integration --timeout-multiplier 10
  # valgrind 3.19 does not know LOOP_GET_STATUS64 (how the storage graph asks the loop driver
  # for a backing file's device; the structure is zeroed first) nor pidfd_open (434, which
  # GLib's child watch tries first and falls back from when it fails), and says so: those notes
  # are all that is dropped from the logs before they are judged
  local noted='unhandled ioctl 0x4c05|could cause spurious value errors|README_MISSING_SYSCALL'
  noted+='|unhandled amd64-linux syscall: 434|write your own handler|we consider this a bug'
  noted+='|valgrind.org/support/bug_reports'
  local dirty=()
  for f in "$logs"/*; do
    [ -f "$f" ] || continue
    grep -Evq "$noted" "$f" && dirty+=("$f")
  done
  if [ ${#dirty[@]} -gt 0 ]; then
    echo "valgrind reported errors in agents run by the integration tests:"
    head -40 "${dirty[@]}"
    failed=$((failed + 1))
  fi
}

cmd_test() {
  install_missing "${build_pkgs[@]}" "${test_pkgs[@]}"
  log "building (warnings are errors)"
  configure build-test -Dwerror=true -Dbuildtype=debugoptimized
  ninja -C build-test
  log "unit and integration tests"
  run_meson_tests build-test

  log "unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  configure build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_meson_tests build-asan

  log "Debian package: dpkg-buildpackage from the last commit, then lintian"
  install_missing "${deb_pkgs[@]}"
  if packaging/build-deb.sh --nocheck build-test/deb >build-test/deb.log 2>&1; then
    passed=$((passed + 1)); tail -3 build-test/deb.log
  else
    failed=$((failed + 1)); tail -30 build-test/deb.log; echo "the .deb did not build cleanly"
  fi

  run_valgrind

  log "fuzzing (libFuzzer + ASan + UBSan, ${QA_FUZZ_SECONDS:-60} s per target)"
  CC=clang configure build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug
  ninja -C build-fuzz
  for target in build-fuzz/tests/fuzz/fuzz-*; do
    [ -f "$target" ] && [ -x "$target" ] || continue
    run_fuzzer "$target" && passed=$((passed + 1)) || failed=$((failed + 1))
  done

  if [ "${QA_SKIP_WIN32:-0}" != 1 ]; then
    test_windows
  fi

  if [ "${QA_SKIP_VM:-0}" != 1 ]; then
    install_missing "${vm_pkgs[@]}"
    log "QEMU guest suite (TCG; the guest image is cached under ~/.cache/quiesce-agent/vm)"
    tests/vm/run-suite.sh --agent-bin build-test/agent/quiesce-agent \
      --agent-unit build-test/packaging/quiesce-agent.service \
      --agent-file packaging/udev/99-quiesce-agent.rules:/etc/udev/rules.d/99-quiesce-agent.rules \
      2>&1 | tee build-test/vm.log || true
    count_summary build-test/vm.log "the QEMU guest suite"
    log "the .deb in the QEMU guest: install over qemu-guest-agent, sandbox, restart, upgrade, purge"
    local deb
    deb=$(ls build-test/deb/quiesce-agent_*_amd64.deb 2>/dev/null | head -1)
    if [ -n "$deb" ]; then
      python3 packaging/check-deb-vm.py "$deb" 2>&1 | tee build-test/deb-vm.log || true
      count_summary build-test/deb-vm.log "the in-guest package check"
    else
      echo "no .deb was built: the in-guest package check cannot run"
      failed=$((failed + 1))
    fi
  fi

  echo
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  [ "$failed" -eq 0 ]
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
