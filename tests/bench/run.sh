#!/bin/bash
# Benchmark hostgate-proxy against tinyproxy, squid and no proxy at all.
#
#   tests/bench/run.sh [--quick] [--rounds N] [--only FIGURES] [--build DIR]
#                      [--doc FILE] [--render JSON]
#
# Installs tinyproxy and squid from Debian when missing (their system
# services are kept stopped), builds the tools in DIR (default: build/),
# runs every figure on 127.0.0.1 and writes DIR/bench.json and the doc
# (default: docs/benchmarks.md). The full run takes about eight minutes on
# two cores; --quick uses smaller counts and takes about two. FIGURES is a
# comma-separated subset of throughput,connect,keepalive,idle,filter,
# approval. --render JSON only rewrites the doc from an earlier bench.json,
# for instance after editing tests/bench/notes.md.
#
# Benchmarks are run by hand on a quiet machine, never in CI.
set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=$srcdir/build
render=0
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help)
      sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
      exit 0 ;;
    --build)
      [[ $# -ge 2 ]] || { echo "run.sh: --build needs a folder" >&2; exit 2; }
      builddir=$(realpath -m "$2"); shift 2 ;;
    --render) render=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# Rewriting the doc from an earlier bench.json needs no peers and no build.
if [[ $render -eq 1 ]]; then
  exec python3 "$srcdir/tests/bench/bench.py" --build "$builddir" --srcdir "$srcdir" "${args[@]}"
fi

log () { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root () {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# Installs the peers without letting their packages start a system
# service: squid's postinst would otherwise start one on port 3128.
install_peers () {
  local missing=() pkg created_policy=0
  for pkg in tinyproxy squid; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return

  log "installing ${missing[*]} (services kept stopped)"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $created_policy -eq 1 ]]; then
    as_root rm -f /usr/sbin/policy-rc.d
  fi

  for pkg in "${missing[@]}"; do
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      as_root systemctl disable --now "$pkg" >/dev/null 2>&1 || true
    else
      as_root update-rc.d "$pkg" disable >/dev/null 2>&1 || true
      as_root invoke-rc.d "$pkg" stop >/dev/null 2>&1 || true
    fi
  done
}

install_peers

if [[ ! -f $builddir/build.ninja ]]; then
  log "configuring $builddir"
  meson setup "$builddir" "$srcdir" >/dev/null
fi
log "building $builddir"
ninja -C "$builddir" proxy/hostgate-proxy tests/bench/hg-bench-origin \
  tests/bench/hg-bench-load tests/bench/hg-bench-filter >/dev/null

# Each process may hold up to the hard limit of open files; the idle
# tunnel figure needs two descriptors per tunnel in each proxy.
ulimit -n "$(ulimit -Hn)"

exec python3 "$srcdir/tests/bench/bench.py" --build "$builddir" --srcdir "$srcdir" "${args[@]}"
