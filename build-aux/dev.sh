#!/bin/bash
# Set up, build and run hostgate on a Debian 12 machine.
#
#   build-aux/dev.sh demo    install what is missing, build, run the main job
#   build-aux/dev.sh test    install what is missing, build, run every test
#   build-aux/dev.sh deps    only install the Debian packages
#   build-aux/dev.sh build   only build (in build/)
#   build-aux/dev.sh bench   run the benchmarks by hand (tests/bench/run.sh)
#
# Builds go to build/ (normal), build-asan/ (AddressSanitizer and
# UndefinedBehaviorSanitizer) and build-fuzz/ (clang with libFuzzer).
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$srcdir"

packages=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libglib2.0-dev libglib2.0-bin libsoup-3.0-dev libjson-glib-dev
  libgtk-4-dev libidn2-dev libpsl-dev
  gettext desktop-file-utils appstream
  xvfb xauth xdotool dbus-bin libx11-6
  curl git python3 python3-pip openssl bubblewrap socat iproute2
)

log () { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_deps () {
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all Debian packages present"
    return
  fi

  log "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# setup_build DIR [meson options…]: configure DIR once, then build it.
setup_build () {
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    log "configuring $dir"
    meson setup "$dir" "$@" >/dev/null
  fi
  log "building $dir"
  ninja -C "$dir" >/dev/null
}

run_tests () {
  local status=0

  setup_build build
  setup_build build-asan -Dsanitize=true
  CC=clang setup_build build-fuzz -Dfuzzing=true

  log "unit and end-to-end tests"
  meson test -C build --no-rebuild --print-errorlogs --suite unit --suite e2e || status=1

  log "unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$srcdir/tests/lsan.supp \
    meson test -C build-asan --no-rebuild --print-errorlogs --suite unit || status=1

  log "fuzz targets, ${HOSTGATE_FUZZ_SECONDS:-30} s each"
  HOSTGATE_FUZZ_SECONDS=${HOSTGATE_FUZZ_SECONDS:-30} \
    meson test -C build-fuzz --no-rebuild --print-errorlogs --suite fuzz --num-processes 1 || status=1

  python3 build-aux/count-tests.py build/meson-logs/testlog.json \
    build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json
  return $status
}

run_demo () {
  setup_build build
  exec build-aux/demo.sh "$srcdir/build"
}

# Benchmarks need a quiet machine; never part of `test` or CI.
run_bench () {
  install_deps
  exec tests/bench/run.sh --build "$srcdir/build" "$@"
}

case ${1:-} in
  deps) install_deps ;;
  build) install_deps; setup_build build ;;
  test) install_deps; run_tests ;;
  demo) install_deps; run_demo ;;
  bench) shift; run_bench "$@" ;;
  *)
    echo "usage: $0 demo|test|deps|build|bench [--quick]" >&2
    exit 2
    ;;
esac
