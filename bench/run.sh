#!/usr/bin/env bash
# `run --rm busybox true` end to end through each engine's CLI and daemon: berth vs docker and
# podman, taking turns each round, with raw `runc run` of a busybox bundle (runc's default spec)
# as the floor. Usage: bench/run.sh [-n RUNS]   (default 10; BENCH_ONLY="berth docker runc")
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=10
while getopts "n:" o; do
  case $o in
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
  esac
done

only=${BENCH_ONLY:-berth docker podman runc}
with_runc=0
if [[ " $only " == *" runc "* ]]; then
  runc_rootfs=${RUNC_ROOTFS_TAR:-/var/lib/berth-peers/busybox-rootfs.tar}
  if command -v runc >/dev/null 2>&1 && [[ -f $runc_rootfs ]]; then
    with_runc=1
  else
    bench_log "skipped: runc or $runc_rootfs missing ($PEERS_HINT)"
  fi
  only=${only//runc/}
fi
# shellcheck disable=SC2086
detect_engines $only
if ((with_runc)); then
  # A bundle of busybox with runc's default spec (namespaces, masked paths, no seccomp filter)
  # running `true`; runc's state lives in a directory of its own.
  RUNC_DIR=$(mktemp -d /tmp/berth-bench-runc.XXXXXX)
  BENCH_CLEANUP+=("rm -rf '$RUNC_DIR'")
  mkdir -p "$RUNC_DIR/bundle/rootfs" "$RUNC_DIR/state"
  tar -xf "$runc_rootfs" -C "$RUNC_DIR/bundle/rootfs"
  (cd "$RUNC_DIR/bundle" && runc spec)
  sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$RUNC_DIR/bundle/config.json"
  BENCH_ENGINES+=(runc)
fi
runc_run() {
  runc --root "$RUNC_DIR/state" run --bundle "$RUNC_DIR/bundle" "bench-$$-$1" </dev/null
}
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
image_for() { if [[ $1 == berth ]]; then echo busybox:latest; else echo busybox:local; fi; }
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
fi
run_once() {
  if [[ $1 == runc ]]; then runc_run "$2"; else engine "$1" run --rm "$(image_for "$1")" true; fi
}
for e in "${BENCH_ENGINES[@]}"; do
  run_once "$e" warm >/dev/null # warm-up
  eval "RESULTS_$e=()"
done
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    t=$(time_ms run_once "$e" "$r")
    eval "RESULTS_$e+=($t)"
  done
done
echo "== run --rm busybox true ($runs runs) =="
print_results docker
