#!/usr/bin/env bash
# Times `load -i TAR` of the same two-layer image in berth, docker and podman, and prints medians and
# ratios to docker.
#
# Usage: bench/load.sh [-n RUNS] [--rebuild]
#   -n RUNS    timed loads per engine (default 5); engines take turns within each run
#   --rebuild  rebuild the cached input image
#
# The input (built once, cached under $BENCH_CACHE = /var/tmp/berth-bench): the Debian minbase layer
# from scripts/make-base-images.sh plus a layer of 2000 files (55 MB; sizes ~0.4 KB to ~0.8 MB, most
# a few KB; in nested directories; content a fixed AES-CTR keystream, so the image ID is stable),
# as a docker-archive with an OCI layout inside, like `docker save` of Docker 25+ writes.
# Before each timed load the image is removed from that engine (so both layers are stored again).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/common.sh
source "$here/common.sh"
# shellcheck source=scripts/make-base-images.sh
source "$REPO_ROOT/scripts/make-base-images.sh" # reproducible_tar, write_image_archive

runs=5 rebuild=0
while (($#)); do
  case $1 in
    -n) runs=${2:?-n needs a number}; shift 2 ;;
    -n*) runs=${1#-n}; shift ;;
    --rebuild) rebuild=1; shift ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) bench_die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || bench_die "-n takes a positive number"

FILES=2000
TOTAL_BYTES=$((55 * 1000 * 1000))
TAG=berth-bench/load:latest
IMAGE_TAR=$BENCH_CACHE/load-image.tar

# The second layer's files: deterministic sizes (seeded $RANDOM, scaled to TOTAL_BYTES) and content
# (one AES-128-CTR keystream with a fixed key, sliced; /dev/urandom if there is no openssl).
make_data_layer() {
  local work=$1 out=$2
  local root=$work/data-rootfs
  mkdir -p "$root"
  local -a sizes
  local i r s sum=0
  RANDOM=20240101
  for ((i = 0; i < FILES; i++)); do
    r=$((RANDOM % 100))
    if ((r < 55)); then s=$((1024 + RANDOM % 7168))             # 55%: 1-8 KB
    elif ((r < 85)); then s=$((8192 + (RANDOM * 2) % 57344))    # 30%: 8-64 KB
    elif ((r < 97)); then s=$((65536 + (RANDOM * 7) % 196608))  # 12%: 64-256 KB
    else s=$((262144 + (RANDOM * 64) % 1835008)); fi            #  3%: 256 KB-2 MB
    sizes[i]=$s
    sum=$((sum + s))
  done
  local stream=$work/stream
  if command -v openssl >/dev/null 2>&1; then
    head -c "$TOTAL_BYTES" /dev/zero |
      openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 >"$stream"
  else
    bench_log "note: no openssl; layer content from /dev/urandom (image ID differs per build)"
    head -c "$TOTAL_BYTES" /dev/urandom >"$stream"
  fi
  local off=0 dir f
  for ((i = 0; i < FILES; i++)); do
    s=$((sizes[i] * TOTAL_BYTES / sum))
    ((i == FILES - 1)) && s=$((TOTAL_BYTES - off)) # land exactly on the total
    dir=$(printf 'srv/data/%02d/%02d' $((i % 16)) $((i / 16 % 8)))
    ((i % 5 == 0)) && dir+=/deep/er/still
    ((i % 11 == 0)) && dir=srv/data/flat
    mkdir -p "$root/$dir"
    f=$(printf '%s/file-%04d.bin' "$dir" "$i")
    dd if="$stream" of="$root/$f" bs=64K iflag=skip_bytes,count_bytes skip="$off" count="$s" status=none
    off=$((off + s))
  done
  rm -f "$stream"
  find "$root" -type d -exec chmod 0755 {} +
  find "$root" -type f -exec chmod 0644 {} +
  reproducible_tar "$root" "$out"
  rm -rf "$root"
}

build_input() {
  mkdir -p "$BENCH_CACHE"
  bench_log "base image: scripts/make-base-images.sh --only debian"
  "$REPO_ROOT/scripts/make-base-images.sh" --only debian >/dev/null
  local base=${BERTH_IMAGES_DIR:-/var/lib/berth-images}/debian.tar
  [[ -f $base ]] || bench_die "no $base"
  if ((!rebuild)) && [[ -f $IMAGE_TAR && $IMAGE_TAR -nt $base && $IMAGE_TAR -nt $0 &&
    $IMAGE_TAR -nt $REPO_ROOT/scripts/make-base-images.sh ]]; then
    return 0
  fi
  bench_log "building $IMAGE_TAR (debian minbase + $FILES files, $((TOTAL_BYTES / 1000000)) MB) ..."
  local work
  work=$(mktemp -d "$BENCH_CACHE/.work.XXXXXX")
  BENCH_CLEANUP+=("rm -rf '$work'")
  local base_layer
  base_layer=$(tar -xOf "$base" manifest.json | grep -oE '"Layers":\["blobs/sha256/[0-9a-f]{64}' | grep -oE '[0-9a-f]{64}')
  tar -C "$work" -xf "$base" "blobs/sha256/$base_layer"
  make_data_layer "$work" "$work/data-layer.tar"
  # shellcheck disable=SC2034 # used through namerefs in write_image_archive
  local -a tags=("$TAG") hist=("mmdebstrap --variant=minbase bookworm (scripts/make-base-images.sh)"
    "bench/load.sh: $FILES files, $TOTAL_BYTES bytes")
  # shellcheck disable=SC2034
  local -A cfg=([Env]="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" [Cmd]="bash")
  MBI_STAGE_DIR=$work write_image_archive "$IMAGE_TAR" tags cfg hist "$work/blobs/sha256/$base_layer" "$work/data-layer.tar" >/dev/null
  rm -rf "$work"
}

# The engine already holds another image with this image's base layer: its load then skips it.
shares_base_layer() {
  local e=$1 id
  case $e in
    docker | podman)
      for id in $(engine "$e" images -q --no-trunc 2>/dev/null | sort -u); do
        [[ $id == "$IMAGE_ID" || ${id#sha256:} == "${IMAGE_ID#sha256:}" ]] && continue
        engine "$e" image inspect -f '{{.RootFS.Layers}}' "$id" 2>/dev/null | grep -q "$BASE_DIFF_ID" && return 0
      done ;;
  esac
  return 1
}

build_input
IMAGE_ID=sha256:$(tar -xOf "$IMAGE_TAR" manifest.json | grep -oE '"Config":"blobs/sha256/[0-9a-f]{64}' | grep -oE '[0-9a-f]{64}')
BASE_DIFF_ID=$(tar -xOf "$IMAGE_TAR" manifest.json | grep -oE '"Layers":\["blobs/sha256/[0-9a-f]{64}' | grep -oE '[0-9a-f]{64}')
size=$(stat -c %s "$IMAGE_TAR")

detect_engines berth docker podman
((${#BENCH_ENGINES[@]})) || bench_die "no engine to measure"
for e in "${BENCH_ENGINES[@]}"; do
  declare -a "RESULTS_$e=()"
  declare -i "FAILS_$e=0"
  BENCH_CLEANUP+=("engine $e rmi -f $IMAGE_ID >/dev/null 2>&1")
  if shares_base_layer "$e"; then
    bench_log "warning: $e already has an image with the Debian base layer (e.g. debian:bookworm);" \
      "its loads store only the second layer. Remove that image for a fair comparison."
  fi
done

echo "load: $IMAGE_TAR ($(numfmt --to=iec --suffix=B "$size"), 2 layers, $FILES files in layer 2), image $IMAGE_ID"
echo "host: $(nproc) cores, $(uname -r); $runs runs; engines: $(for e in "${BENCH_ENGINES[@]}"; do printf '%s; ' "$(engine_version "$e")"; done)"
cat "$IMAGE_TAR" >/dev/null # every engine reads the input from the page cache

for ((run = 1; run <= runs; run++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    engine "$e" rmi -f "$IMAGE_ID" >/dev/null 2>&1 || true
    sync
    if ms=$(time_ms engine "$e" load -i "$IMAGE_TAR"); then
      declare -n res="RESULTS_$e"
      res+=("$ms")
      unset -n res
      if ((run == 1)) && ! engine "$e" image inspect "$IMAGE_ID" >/dev/null 2>&1; then
        bench_log "warning: $e load succeeded but image $IMAGE_ID is not there"
      fi
    else
      declare -n fails="FAILS_$e"
      fails+=1
      unset -n fails
      bench_log "$e: load failed (run $run); BENCH_LOG=FILE keeps its output"
    fi
    bench_log "run $run/$runs $e: ${ms:-failed} ms"
    ms=""
  done
done
for e in "${BENCH_ENGINES[@]}"; do engine "$e" rmi -f "$IMAGE_ID" >/dev/null 2>&1 || true; done

echo
print_results docker
for e in "${BENCH_ENGINES[@]}"; do
  declare -n fails="FAILS_$e"
  ((fails == 0)) || echo "$e: $fails of $runs loads failed"
  unset -n fails
done
