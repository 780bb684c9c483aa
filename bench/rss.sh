#!/usr/bin/env bash
# Idle daemon memory: berth daemon RSS after loading the busybox base image and settling, next to
# dockerd + containerd's (the peer engine's resident processes). Usage: bench/rss.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

detect_engines berth docker
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
if [[ " ${BENCH_ENGINES[*]} " == *" berth "* ]]; then
  engine berth load -i "$images/busybox.tar" >/dev/null
  engine berth images >/dev/null
  engine berth system df >/dev/null
  sleep 2
  echo "berth daemon RSS: $(($(rss_kb "$BERTH_PID") / 1024)) MB (pid $BERTH_PID)"
fi
if [[ " ${BENCH_ENGINES[*]} " == *" docker "* ]]; then
  total=0
  for p in $(pgrep -x dockerd) $(pgrep -x containerd); do
    kb=$(rss_kb "$p")
    echo "$(cat "/proc/$p/comm") RSS: $((kb / 1024)) MB (pid $p)"
    total=$((total + kb))
  done
  echo "dockerd + containerd RSS: $((total / 1024)) MB"
fi
