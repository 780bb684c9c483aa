#!/usr/bin/env bash
# `berth registry serve` vs Debian's docker-registry serving the same 100 MB blob to 8 parallel
# clients over loopback (curl), servers taking turns each round; prints the median wall time of
# the 8 downloads and the throughput ratio to docker-registry.
# Usage: bench/registry-serve.sh [-n RUNS]   (default 5)
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=5
while getopts "n:" o; do case $o in n) runs=$OPTARG ;; *) exit 2 ;; esac; done
command -v docker-registry >/dev/null || bench_die "docker-registry not installed"
have_berth || exit 1
work=$(mktemp -d /var/tmp/berth-bench-regserve.XXXXXX)
BENCH_CLEANUP+=("rm -rf '$work'")
head -c $((100 * 1000 * 1000)) /dev/urandom >"$work/blob"
digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
BENCH_CLEANUP+=('for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done')
wait_up() { for _ in $(seq 200); do curl -fs "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; bench_die "$1 did not start"; }

p1=$(port)
"$BERTH_BIN" registry serve --addr "127.0.0.1:$p1" --root "$work/berth" >/dev/null 2>&1 &
PIDS+=($!)
p2=$(port)
cat >"$work/reg.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/dist
http:
  addr: 127.0.0.1:$p2
EOF
docker-registry serve "$work/reg.yml" >/dev/null 2>&1 &
PIDS+=($!)
wait_up "127.0.0.1:$p1"
wait_up "127.0.0.1:$p2"
for p in $p1 $p2; do
  loc=$(curl -fsi -X POST "http://127.0.0.1:$p/v2/bench/blob/blobs/uploads/" | tr -d '\r' |
    awk 'tolower($1) == "location:" { print $2 }')
  [[ $loc == http* ]] || loc="http://127.0.0.1:$p$loc"
  sep='?'; [[ $loc == *\?* ]] && sep='&'
  curl -fs -X PUT --data-binary @"$work/blob" -H 'Content-Type: application/octet-stream' \
    "$loc${sep}digest=$digest" >/dev/null
  # Every client must get the whole blob, or the timing means nothing.
  got=$(curl -fs "http://127.0.0.1:$p/v2/bench/blob/blobs/$digest" | sha256sum | cut -d' ' -f1)
  [[ "sha256:$got" == "$digest" ]] || bench_die "port $p does not serve the blob"
done
fetch8() {
  local p=$1 i
  for i in 1 2 3 4 5 6 7 8; do
    curl -fs -o /dev/null "http://127.0.0.1:$p/v2/bench/blob/blobs/$digest" &
  done
  wait
}
BENCH_ENGINES=(berth docker-registry)
RESULTS_berth=()
RESULTS_docker_registry=()
for ((r = 0; r < runs; r++)); do
  RESULTS_berth+=("$(time_ms fetch8 "$p1")")
  RESULTS_docker_registry+=("$(time_ms fetch8 "$p2")")
done
b=$(median "${RESULTS_berth[@]}")
d=$(median "${RESULTS_docker_registry[@]}")
echo "== 8 parallel GETs of a 100 MB blob ($runs runs) =="
printf '%-16s %10s %12s\n' server "median ms" "MB/s"
printf '%-16s %10s %12s\n' berth "$b" "$((800 * 1000 / b))"
printf '%-16s %10s %12s\n' docker-registry "$d" "$((800 * 1000 / d))"
echo "throughput berth / docker-registry: $(ratio "$d" "$b")"
