#!/usr/bin/env bash
# 100 detached `sleep` containers per engine: the wall time to start them all (one `run -d` after
# another through the CLI), and the memory each idle container costs — the supervisor processes
# (berth shim, containerd-shim, conmon) plus the daemons' growth, as PSS from
# /proc/PID/smaps_rollup, so pages shared between processes are split fairly. Engines take turns;
# each removes its containers before the next starts.
# Usage: bench/density.sh [-n CONTAINERS]   (default 100; BENCH_ONLY picks engines)
set -euo pipefail
source "$(dirname "$0")/common.sh"

count=100
while getopts "n:" o; do
  case $o in
    n) count=$OPTARG ;;
    *) echo "usage: $0 [-n CONTAINERS]" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker podman}
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
image_for() { if [[ $1 == berth ]]; then echo busybox:latest; else echo busybox:local; fi; }
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
fi

# pss_kb PID...: summed PSS of these processes in kB.
pss_kb() {
  local p sum=0 v
  for p in "$@"; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# engine_pids ENGINE: the engine's daemons and per-container supervisors.
engine_pids() {
  case $1 in
    berth) echo "$BERTH_PID"; pgrep -f "^$(dirname "$BERTH_BIN")/berth-shim |^$BERTH_BIN shim " || true ;;
    docker) pgrep -x dockerd || true; pgrep -x containerd || true; pgrep -f containerd-shim || true ;;
    podman) pgrep -x conmon || true ;;
  esac
}

printf '%-8s %10s %12s %14s\n' engine containers "start all ms" "kB/container"
for e in "${BENCH_ENGINES[@]}"; do
  img=$(image_for "$e")
  engine "$e" run --rm "$img" true >/dev/null # warm-up
  # shellcheck disable=SC2046
  before=$(pss_kb $(engine_pids "$e"))
  names=()
  t0=$(date +%s%N)
  for ((i = 0; i < count; i++)); do
    engine "$e" run -d --name "dens-$e-$i" "$img" sleep 3600 >/dev/null
    names+=("dens-$e-$i")
  done
  t1=$(date +%s%N)
  sleep 2 # let the supervisors settle
  # shellcheck disable=SC2046
  after=$(pss_kb $(engine_pids "$e"))
  if [[ $e == podman ]]; then podman rm -f -t 0 "${names[@]}" >/dev/null; else engine "$e" rm -f "${names[@]}" >/dev/null; fi
  printf '%-8s %10s %12s %14s\n' "$e" "$count" $(((t1 - t0) / 1000000)) $(((after - before) / count))
done
