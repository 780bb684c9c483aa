#!/usr/bin/env bash
# `build` of the same multi-stage Dockerfile and context in berth, docker (BuildKit, the default
# builder of its CLI) and podman (buildah), engines taking turns each round; prints medians and
# ratios to docker for three cases:
#   cold     build --no-cache (every step runs)
#   cached   the same build again (every step a cache hit)
#   edit     one context file changed (its COPY and every later step of the stage run again)
#
# Usage: bench/build.sh [-n RUNS]   (default 5)
# The context: 400 small source files in nested directories plus a Dockerfile with two
# independent stages (each a RUN that writes files), a stage that copies the sources and hashes
# them, and a final stage that copies the results from all three. Base image: busybox (berth's
# busybox:latest, the peers' busybox:local, passed as --build-arg BASE).
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=5
while getopts "n:" o; do
  case $o in
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS]" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker podman}
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
base_for() { if [[ $1 == berth ]]; then echo busybox:latest; else echo busybox:local; fi; }
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
fi

ctx=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
BENCH_CLEANUP+=("rm -rf '$ctx'")
for ((d = 0; d < 20; d++)); do
  mkdir -p "$ctx/src/d$d"
  for ((f = 0; f < 20; f++)); do
    printf 'file %d/%d\n%0512d\n' "$d" "$f" 0 >"$ctx/src/d$d/f$f.txt"
  done
done
cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM $BASE AS gen1
RUN mkdir -p /out && for i in $(seq 1 200); do echo "one $i" > /out/g1-$i; done

FROM $BASE AS gen2
RUN mkdir -p /out && for i in $(seq 1 200); do echo "two $i" > /out/g2-$i; done

FROM $BASE AS app
WORKDIR /app
COPY src/ ./src/
RUN find src -type f | sort | xargs cat | md5sum > /app/sum

FROM $BASE
COPY --from=gen1 /out/ /data/
COPY --from=gen2 /out/ /data/
COPY --from=app /app/sum /sum
CMD ["cat", "/sum"]
EOF

build() { # engine, extra args...
  local e=$1
  shift
  case $e in
    docker) DOCKER_BUILDKIT=1 engine docker build -q --build-arg "BASE=$(base_for "$e")" -t bench-build:latest "$@" "$ctx" ;;
    *) engine "$e" build -q --build-arg "BASE=$(base_for "$e")" -t bench-build:latest "$@" "$ctx" ;;
  esac
}

for e in "${BENCH_ENGINES[@]}"; do
  build "$e" >/dev/null # warm-up: base image resolved, caches filled
  for c in cold cached edit; do eval "RESULTS_${c}_$e=()"; done
done
n=0
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    t=$(time_ms build "$e" --no-cache)
    eval "RESULTS_cold_$e+=($t)"
    t=$(time_ms build "$e")
    eval "RESULTS_cached_$e+=($t)"
    n=$((n + 1))
    echo "edit $n" >"$ctx/src/d7/f3.txt"
    t=$(time_ms build "$e")
    eval "RESULTS_edit_$e+=($t)"
  done
done
for e in "${BENCH_ENGINES[@]}"; do engine "$e" rmi bench-build:latest >/dev/null 2>&1 || true; done
for c in cold cached edit; do
  echo "== build, $c ($runs runs) =="
  for e in "${BENCH_ENGINES[@]}"; do
    eval "RESULTS_$e=(\"\${RESULTS_${c}_$e[@]}\")"
  done
  print_results docker
done
