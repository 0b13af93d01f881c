#!/bin/bash
# run-fuzz.sh TARGET SEEDS WORKDIR: run one libFuzzer target for
# $HOSTGATE_FUZZ_SECONDS (default 30) on a copy of its seed corpus, so the
# inputs it finds go to the build folder and never into the source tree.
set -euo pipefail
target=$1 seeds=$2 work=$3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$target" -max_total_time="${HOSTGATE_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
