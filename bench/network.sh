#!/usr/bin/env bash
# Networking, berth vs docker on the same busybox image, in one run:
#   1. `run --rm --network NET busybox true` on a user-defined network (wall ms, median)
#   2. container-to-container TCP throughput on that network (busybox nc -e dd, MB/s; the
#      clock is /proc/uptime, 10 ms steps, so transfers are a few GB)
#   3. container-to-container round trip (busybox ping, ms)
#   4. host-to-container TCP throughput through a published port, to the host's own address
#      (no userland proxy for berth; dockerd's proxy only serves loopback)
# Usage: bench/network.sh [-n RUNS] [-m MIB]   (defaults 10 runs, 4000 MiB per transfer)
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=10
mib=4000
while getopts "n:m:" o; do
  case $o in
    n) runs=$OPTARG ;;
    m) mib=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-m MIB]" >&2; exit 2 ;;
  esac
done

# shellcheck disable=SC2086
detect_engines ${BENCH_ONLY:-berth docker}
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
image_for() { if [[ $1 == berth ]]; then echo busybox:latest; else echo busybox:local; fi; }
port_for() { if [[ $1 == berth ]]; then echo 25001; else echo 25002; fi; }
host_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
[[ -n $host_ip ]] || host_ip=$(hostname -I | awk '{print $1}')
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
fi
for e in "${BENCH_ENGINES[@]}"; do
  engine "$e" rm -f benchsrv >/dev/null 2>&1 || true
  engine "$e" network rm benchnet >/dev/null 2>&1 || true
  engine "$e" network create benchnet >/dev/null
  BENCH_CLEANUP+=("engine $e rm -f benchsrv >/dev/null 2>&1; engine $e network rm benchnet >/dev/null 2>&1")
  # A sink that takes one connection after another: busybox nc hands each socket to dd as its
  # stdin (no pipe copy in between, which would bound the rate at a few hundred MB/s).
  engine "$e" run -d --name benchsrv --network benchnet -p "$(port_for "$e"):5001" "$(image_for "$e")" \
    sh -c 'nc -ll -p 5001 -e dd of=/dev/null bs=1048576 2>/dev/null' >/dev/null
  engine "$e" run --rm --network benchnet "$(image_for "$e")" true >/dev/null # warm-up
  eval "RESULTS_$e=()"
done
sleep 1

# 1. run --rm on the user network.
for ((r = 0; r < runs; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    t=$(time_ms engine "$e" run --rm --network benchnet "$(image_for "$e")" true)
    eval "RESULTS_$e+=($t)"
  done
done
echo "== run --rm --network benchnet busybox true ($runs runs) =="
print_results docker

# MB/s for $mib MiB from "START END" seconds (busybox has no sub-second clock but /proc/uptime).
rate() { awk -v mib="$mib" '{ s = $2 - $1 } END { if (s > 0) printf "%d\n", mib * 1048576 / s / 1e6 }'; }

rounds=$(( runs < 5 ? runs : 5 ))
for e in "${BENCH_ENGINES[@]}"; do eval "C2C_$e=(); RTT_$e=(); H2C_$e=()"; done
for ((r = 0; r < rounds; r++)); do
  for e in "${BENCH_ENGINES[@]}"; do
    img=$(image_for "$e")
    v=$(engine "$e" run --rm --network benchnet "$img" sh -c \
      "s=\$(cut -d' ' -f1 /proc/uptime); nc benchsrv 5001 -e dd if=/dev/zero bs=1048576 count=$mib 2>/dev/null; echo \$s \$(cut -d' ' -f1 /proc/uptime)" | rate)
    eval "C2C_$e+=($v)"
    v=$(engine "$e" run --rm --network benchnet "$img" ping -q -c 50 -i 0.02 benchsrv |
      awk -F'[/ ]' '/round-trip|rtt/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print int($(i + 1) * 1000); exit } }')
    eval "RTT_$e+=($v)"
    t0=$(date +%s%N)
    busybox nc "$host_ip" "$(port_for "$e")" -e busybox dd if=/dev/zero bs=1048576 count="$mib" 2>/dev/null
    t1=$(date +%s%N)
    v=$(awk -v a="$t0" -v b="$t1" -v mib="$mib" \
      'BEGIN { s = (b - a) / 1e9; if (s > 0) printf "%d\n", mib * 1048576 / s / 1e6 }')
    eval "H2C_$e+=($v)"
  done
done

row() { # name unit array-prefix higher-is-better
  local base_med="-" e
  if [[ " ${BENCH_ENGINES[*]} " == *" docker "* ]]; then
    local -n _b="$3docker"; base_med=$(median "${_b[@]}"); unset -n _b
  fi
  echo "== $1 ($rounds rounds, median) =="
  printf '%-8s %12s %10s\n' engine "$2" "vs docker"
  for e in "${BENCH_ENGINES[@]}"; do
    local -n _r="$3$e"
    local med; med=$(median "${_r[@]}")
    printf '%-8s %12s %10s\n' "$e" "$med" "$(ratio "$med" "$base_med")"
    unset -n _r
  done
}
row "container-to-container TCP throughput ($mib MiB)" "MB/s" C2C_
row "container-to-container round trip (ping, 50 x 20 ms)" "rtt us" RTT_
row "host ($host_ip) to container through a published port ($mib MiB)" "MB/s" H2C_
