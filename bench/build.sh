#!/usr/bin/env bash
# The build benchmark of the builder issue, berth vs docker (BuildKit: DOCKER_BUILDKIT=1
# /usr/bin/docker build) and buildah (`buildah bud --layers`), engines taking turns each round:
#   cold      build --no-cache of: RUN sleep 1; COPY of a 2000-file / ~55 MB tree; RUN over it
#   noop      the same build again (every step cached)
#   edit      one file of the tree changed (its COPY and the RUN after it run again)
#   parallel  --no-cache of two independent stages that each `sleep 2`, joined by COPY --from
#             (a parallel builder needs a bit over 2 s, a serial one over 4 s)
# Usage: bench/build.sh [-n RUNS]   (default 5). The tree is made once under $BENCH_CACHE.
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=5
while getopts "n:" o; do
  case $o in
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
  esac
done

engines=()
# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker}
engines=("${BENCH_ENGINES[@]}")
if [[ " ${BENCH_ONLY:-berth docker buildah} " == *" buildah "* ]] && command -v buildah >/dev/null; then
  engines+=(buildah)
fi
BENCH_ENGINES=("${engines[@]}")
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then engine berth load -i "$images/busybox.tar" >/dev/null; fi
base_for() { case $1 in berth) echo busybox:latest ;; buildah) echo localhost/busybox:local ;; *) echo busybox:local ;; esac; }

# The tree: 2000 files in 40 directories, sizes 1 KB to 2 MB (55 MB in all), fixed content.
tree=$BENCH_CACHE/build-tree
if [[ ! -f $tree/.done ]]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  RANDOM=20241124
  stream=$BENCH_CACHE/build-stream
  head -c $((60 * 1000 * 1000)) /dev/urandom >"$stream"
  off=0
  for ((i = 0; i < 2000; i++)); do
    r=$((RANDOM % 100))
    if ((r < 55)); then s=$((1024 + RANDOM % 7168))
    elif ((r < 85)); then s=$((8192 + (RANDOM * 2) % 57344))
    elif ((r < 97)); then s=$((65536 + (RANDOM * 7) % 196608))
    else s=$((262144 + (RANDOM * 64) % 1835008)); fi
    d=$tree/d$((i % 40))
    mkdir -p "$d"
    dd if="$stream" of="$d/f$i.bin" bs=64K iflag=skip_bytes,count_bytes skip="$off" count="$s" status=none
    off=$(((off + s) % (50 * 1000 * 1000)))
  done
  rm -f "$stream"
  touch "$tree/.done"
fi
ctx=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
BENCH_CLEANUP+=("rm -rf '$ctx'")
cp -a "$tree" "$ctx/tree"
rm -f "$ctx/tree/.done"
cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM $BASE
RUN sleep 1
COPY tree/ /tree/
RUN find /tree -type f | wc -l > /count && du -s /tree >> /count
EOF
par=$(mktemp -d /var/tmp/berth-bench-par.XXXXXX)
BENCH_CLEANUP+=("rm -rf '$par'")
cat >"$par/Dockerfile" <<'EOF'
ARG BASE
FROM $BASE AS a
RUN sleep 2 && echo a > /a
FROM $BASE AS b
RUN sleep 2 && echo b > /b
FROM $BASE
COPY --from=a /a /a
COPY --from=b /b /b
EOF

build() { # engine, context, extra args...
  local e=$1 dir=$2
  shift 2
  case $e in
    docker) DOCKER_BUILDKIT=1 engine docker build -q --build-arg "BASE=$(base_for "$e")" -t bench-build:latest "$@" "$dir" ;;
    buildah) buildah bud --layers -q --build-arg "BASE=$(base_for "$e")" -t bench-build:latest "$@" "$dir" ;;
    *) engine "$e" build -q --build-arg "BASE=$(base_for "$e")" -t bench-build:latest "$@" "$dir" ;;
  esac
}

for e in "${BENCH_ENGINES[@]}"; do
  build "$e" "$ctx" >/dev/null # warm-up: base resolved, caches filled
  for c in cold noop edit parallel; do eval "RESULTS_${c}_$e=()"; done
done
n=0
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    t=$(time_ms build "$e" "$ctx" --no-cache)
    eval "RESULTS_cold_$e+=($t)"
    t=$(time_ms build "$e" "$ctx")
    eval "RESULTS_noop_$e+=($t)"
    n=$((n + 1))
    echo "edit $n" >"$ctx/tree/d7/f7.bin"
    t=$(time_ms build "$e" "$ctx")
    eval "RESULTS_edit_$e+=($t)"
    t=$(time_ms build "$e" "$par" --no-cache)
    eval "RESULTS_parallel_$e+=($t)"
  done
done
for e in "${BENCH_ENGINES[@]}"; do
  case $e in buildah) buildah rmi bench-build:latest >/dev/null 2>&1 || true ;; *) engine "$e" rmi bench-build:latest >/dev/null 2>&1 || true ;; esac
done
for c in cold noop edit parallel; do
  echo "== build, $c ($runs runs) =="
  for e in "${BENCH_ENGINES[@]}"; do eval "RESULTS_$e=(\"\${RESULTS_${c}_$e[@]}\")"; done
  print_results docker
done
