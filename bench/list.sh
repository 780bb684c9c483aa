#!/usr/bin/env bash
# `images` and `system df` with many images, through each engine's CLI: berth vs docker (and
# podman). Usage: bench/list.sh [-n RUNS] [-i IMAGES]   (defaults: 10 runs, 200 images)
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=10
count=200
while getopts "n:i:" o; do
  case $o in
    n) runs=$OPTARG ;;
    i) count=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-i IMAGES]" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker podman}
work=$(mktemp -d /var/tmp/berth-bench-list.XXXXXX)
BENCH_CLEANUP+=("rm -rf '$work'")

# One tiny distinct rootfs tar per image, so every engine stores COUNT separate images.
for ((i = 0; i < count; i++)); do
  mkdir -p "$work/r"
  printf 'image %d\n' "$i" >"$work/r/id"
  tar -C "$work/r" -cf "$work/$i.tar" id
done

for e in "${BENCH_ENGINES[@]}"; do
  bench_log "importing $count images into $e"
  for ((i = 0; i < count; i++)); do
    engine "$e" import "$work/$i.tar" "berthbench/list:$i" >/dev/null
  done
  BENCH_CLEANUP+=("for ((i = 0; i < $count; i++)); do engine $e rmi -f berthbench/list:\$i >/dev/null 2>&1; done")
done

for what in images "system df"; do
  for e in "${BENCH_ENGINES[@]}"; do eval "RESULTS_$e=()"; done
  for ((r = 0; r < runs; r++)); do
    for e in "${BENCH_ENGINES[@]}"; do
      # shellcheck disable=SC2086
      t=$(time_ms engine "$e" $what)
      eval "RESULTS_$e+=($t)"
    done
  done
  echo "== $what with $count images ($runs runs) =="
  print_results docker
done
