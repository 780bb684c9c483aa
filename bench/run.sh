#!/usr/bin/env bash
# `run --rm busybox true` end to end through each engine's CLI and daemon: berth vs docker and
# podman, taking turns each round. Usage: bench/run.sh [-n RUNS]   (default 10)
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=10
while getopts "n:" o; do
  case $o in
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker podman}
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
image_for() { if [[ $1 == berth ]]; then echo busybox:latest; else echo busybox:local; fi; }
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
fi
for e in "${BENCH_ENGINES[@]}"; do
  engine "$e" run --rm "$(image_for "$e")" true >/dev/null # warm-up
  eval "RESULTS_$e=()"
done
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    t=$(time_ms engine "$e" run --rm "$(image_for "$e")" true)
    eval "RESULTS_$e+=($t)"
  done
done
echo "== run --rm busybox true ($runs runs) =="
print_results docker
