#!/usr/bin/env bash
# push and pull of the same image between each engine and a distribution registry (Debian's
# docker-registry on a free loopback port, a fresh one for every cold push), berth vs docker,
# taking turns each round; prints medians and ratios to docker for:
#   push-cold   the registry has nothing (every blob uploaded)
#   push-warm   the same push again (every blob already there: HEAD only)
#   pull-cold   the image removed locally first (every layer downloaded, verified, unpacked)
# Usage: bench/registry.sh [-n RUNS]   (default 3)
# Image: the Debian minbase image from scripts/make-base-images.sh (one ~120 MB layer of ~7000
# files), loaded into both engines from the same tar.
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=3
while getopts "n:" o; do
  case $o in
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
  esac
done
command -v docker-registry >/dev/null || bench_die "docker-registry not installed (apt-get install docker-registry)"
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
[[ -f $images/debian.tar ]] || bench_die "no $images/debian.tar (scripts/make-base-images.sh)"
# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker}
for e in "${BENCH_ENGINES[@]}"; do engine "$e" load -i "$images/debian.tar" >/dev/null; done
# skopeo moves the same image between the tar / a directory and the registry: the transfer alone,
# with no engine store on either side.
if command -v skopeo >/dev/null && [[ " ${BENCH_ONLY:-berth docker skopeo} " == *" skopeo "* ]]; then
  BENCH_ENGINES+=(skopeo)
fi

REG_PID="" REG_DIR="" REG=""
start_registry() {
  stop_registry
  REG_DIR=$(mktemp -d /var/tmp/berth-bench-registry.XXXXXX)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$REG_DIR/config.yml" >/dev/null 2>&1 &
  REG_PID=$!
  REG=127.0.0.1:$port
  for _ in $(seq 100); do curl -fs "http://$REG/v2/" >/dev/null && return 0; sleep 0.05; done
  bench_die "the registry did not start"
}
stop_registry() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; REG_PID=""; fi
  if [[ -n $REG_DIR ]]; then rm -rf "$REG_DIR"; REG_DIR=""; fi
}
BENCH_CLEANUP+=("stop_registry")

for e in "${BENCH_ENGINES[@]}"; do
  for c in push_cold push_warm pull_cold; do eval "RESULTS_${c}_$e=()"; done
done
skopeo_round() {
  local img="$REG/bench/debian:skopeo" out
  out=$(mktemp -d /var/tmp/berth-bench-skopeo.XXXXXX)
  t=$(time_ms skopeo copy -q --dest-tls-verify=false "docker-archive:$images/debian.tar:debian:bookworm" "docker://$img")
  RESULTS_push_cold_skopeo+=("$t")
  t=$(time_ms skopeo copy -q --dest-tls-verify=false "docker-archive:$images/debian.tar:debian:bookworm" "docker://$img")
  RESULTS_push_warm_skopeo+=("$t")
  t=$(time_ms skopeo copy -q --src-tls-verify=false "docker://$img" "oci:$out/layout:x")
  RESULTS_pull_cold_skopeo+=("$t")
  rm -rf "$out"
}
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    start_registry
    if [[ $e == skopeo ]]; then skopeo_round; continue; fi
    img="$REG/bench/debian:$e"
    engine "$e" tag debian:bookworm "$img"
    t=$(time_ms engine "$e" push "$img")
    eval "RESULTS_push_cold_$e+=($t)"
    t=$(time_ms engine "$e" push "$img")
    eval "RESULTS_push_warm_$e+=($t)"
    # The image goes with all its names, so every layer is fetched again.
    id=$(engine "$e" image inspect -f '{{.Id}}' "$img")
    engine "$e" rmi -f "$id" >/dev/null
    ! engine "$e" image inspect "$id" >/dev/null 2>&1 || bench_die "$e still has $id"
    t=$(time_ms engine "$e" pull "$img")
    eval "RESULTS_pull_cold_$e+=($t)"
    engine "$e" tag "$img" debian:bookworm
  done
done
for c in push_cold push_warm pull_cold; do
  echo "== ${c/_/ } debian:bookworm ($runs runs) =="
  for e in "${BENCH_ENGINES[@]}"; do eval "RESULTS_$e=(\"\${RESULTS_${c}_$e[@]}\")"; done
  print_results docker
done
