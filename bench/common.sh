# shellcheck shell=bash
# Helpers shared by the benchmark scripts in bench/. Source it: `source "$(dirname "$0")/common.sh"`.
#
# Engines: "berth" (a private daemon started by start_berth_daemon), "docker" (the peer dockerd on
# /var/run/docker.sock, whatever DOCKER_HOST says) and "podman". detect_engines fills BENCH_ENGINES
# with those that work and prints a "skipped: ..." line for the others; engine ENGINE ARGS... runs
# one engine's CLI. A trap on EXIT stops the berth daemon and runs the commands in BENCH_CLEANUP.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/berth-bench} # inputs built once and reused across runs
BENCH_LOG=${BENCH_LOG:-/dev/null}                 # where timed commands' output goes
DOCKER=(/usr/bin/docker -H unix:///var/run/docker.sock)
PEERS_HINT="run ../shared/peers/setup.sh"

BERTH_BIN=${BERTH_BIN:-$REPO_ROOT/target/release/berth}
BERTH_PID=""
BERTH_TMP=""
BERTH_SOCK=""
BENCH_ENGINES=()
BENCH_CLEANUP=()

bench_log() { printf '%s\n' "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# --- statistics --------------------------------------------------------------------------------

# median N...: the median (mean of the two middle values for an even count), as an integer.
median() {
  (($#)) || { echo "-"; return; }
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {
    if (NR % 2) printf "%d\n", v[(NR+1)/2]; else printf "%d\n", (v[NR/2]+v[NR/2+1])/2 + 0.5 }'
}
min_of() { (($#)) || { echo "-"; return; }; printf '%s\n' "$@" | sort -n | head -n1; }
max_of() { (($#)) || { echo "-"; return; }; printf '%s\n' "$@" | sort -n | tail -n1; }

# ratio A B: A/B with two decimals, "-" when either is missing or B is 0.
ratio() {
  [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] || { echo "-"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f\n", a / b }'
}

# time_ms CMD...: runs CMD (its output to $BENCH_LOG) and prints its wall time in milliseconds.
# Returns CMD's exit status (and prints nothing) when it fails.
time_ms() {
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$@" >>"$BENCH_LOG" 2>&1 || rc=$?
  t1=$(date +%s%N)
  ((rc == 0)) || return "$rc"
  echo $(((t1 - t0 + 500000) / 1000000))
}

# --- engines -----------------------------------------------------------------------------------

# engine NAME ARGS...: that engine's CLI (docker-compatible command line for all three).
engine() {
  local name=$1
  shift
  case $name in
    berth) "$BERTH_BIN" -H "unix://$BERTH_SOCK" "$@" ;;
    docker) "${DOCKER[@]}" "$@" ;;
    podman) podman "$@" ;;
    *) bench_die "unknown engine $name" ;;
  esac
}

have_docker() {
  if [[ -x ${DOCKER[0]} ]] && "${DOCKER[@]}" version >/dev/null 2>&1; then return 0; fi
  bench_log "skipped: docker not running ($PEERS_HINT)"
  return 1
}

have_podman() {
  if command -v podman >/dev/null 2>&1 && podman version >/dev/null 2>&1; then return 0; fi
  bench_log "skipped: podman not installed ($PEERS_HINT)"
  return 1
}

have_berth() {
  if [[ -x $BERTH_BIN ]]; then return 0; fi
  bench_log "skipped: berth not built ($BERTH_BIN missing; cargo build --release, or set BERTH_BIN)"
  return 1
}

# start_berth_daemon: a berth daemon on a temporary --root/--exec-root, socket $BERTH_SOCK.
# Waits until /_ping answers OK (up to 30 s). stop_berth_daemon (also run on EXIT) ends it.
start_berth_daemon() {
  [[ -z $BERTH_PID ]] || return 0
  BERTH_TMP=$(mktemp -d /var/tmp/berth-bench-daemon.XXXXXX)
  mkdir -p "$BERTH_TMP/root" "$BERTH_TMP/exec"
  BERTH_SOCK=$BERTH_TMP/exec/berth.sock
  "$BERTH_BIN" daemon --root "$BERTH_TMP/root" --exec-root "$BERTH_TMP/exec" -H "unix://$BERTH_SOCK" \
    >"$BERTH_TMP/daemon.log" 2>&1 &
  BERTH_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if [[ $(curl -fsS --max-time 2 --unix-socket "$BERTH_SOCK" http://x/_ping 2>/dev/null) == OK ]]; then
      return 0
    fi
    if ! kill -0 "$BERTH_PID" 2>/dev/null; then
      bench_log "berth daemon exited during startup; its log:"
      tail -n 20 "$BERTH_TMP/daemon.log" >&2
      BERTH_PID=""
      stop_berth_daemon
      return 1
    fi
    sleep 0.1
  done
  bench_log "berth daemon did not answer /_ping within 30 s; its log:"
  tail -n 20 "$BERTH_TMP/daemon.log" >&2
  stop_berth_daemon
  return 1
}

# stop_berth_daemon: kills only the daemon we started, unmounts what it left under its temp dirs,
# removes them.
stop_berth_daemon() {
  if [[ -n $BERTH_PID ]]; then
    kill "$BERTH_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$BERTH_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BERTH_PID" 2>/dev/null || true
    wait "$BERTH_PID" 2>/dev/null || true
    BERTH_PID=""
  fi
  if [[ -n $BERTH_TMP && -d $BERTH_TMP ]]; then
    berth_network_cleanup
    # Innermost mounts first; never let rm follow a mount out of the temp dir.
    local m
    while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
      awk -v p="$BERTH_TMP/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system "$BERTH_TMP"
    BERTH_TMP=""
  fi
}

# berth_network_cleanup: the default bridge and firewall chains the bench daemon made in the
# host's namespace.
berth_network_cleanup() { bash "$REPO_ROOT/scripts/network-cleanup.sh"; }

# detect_engines [berth] [docker] [podman]: fill BENCH_ENGINES with the engines that work (default:
# all three), starting the berth daemon. Prints "skipped: ..." for the others.
detect_engines() {
  local want=("$@")
  ((${#want[@]})) || want=(berth docker podman)
  BENCH_ENGINES=()
  local e
  for e in "${want[@]}"; do
    case $e in
      berth)
        have_berth || continue
        if start_berth_daemon; then BENCH_ENGINES+=(berth); else bench_log "skipped: berth daemon did not start"; fi ;;
      docker) have_docker && BENCH_ENGINES+=(docker) ;;
      podman) have_podman && BENCH_ENGINES+=(podman) ;;
    esac
  done
  return 0
}

engine_version() {
  case $1 in
    berth) "$BERTH_BIN" --version 2>/dev/null | head -n1 || echo "berth (version unknown)" ;;
    docker) echo "dockerd $("${DOCKER[@]}" version -f '{{.Server.Version}}' 2>/dev/null)" ;;
    podman) echo "podman $(podman version -f '{{.Client.Version}}' 2>/dev/null)" ;;
  esac
}

# --- output ------------------------------------------------------------------------------------

# print_results BASELINE: one row per engine in BENCH_ENGINES from the arrays
# RESULTS_<engine> (milliseconds): runs, median, min, max, ratio of medians to BASELINE's.
print_results() {
  local base=$1 e base_med="-"
  if [[ " ${BENCH_ENGINES[*]} " == *" $base "* ]]; then
    local -n _b="RESULTS_$base"
    base_med=$(median "${_b[@]}")
  fi
  printf '%-8s %5s %10s %8s %8s %10s\n' engine runs "median ms" "min" "max" "vs $base"
  for e in "${BENCH_ENGINES[@]}"; do
    local -n _r="RESULTS_$e"
    local med
    med=$(median "${_r[@]}")
    printf '%-8s %5s %10s %8s %8s %10s\n' "$e" "${#_r[@]}" "$med" "$(min_of "${_r[@]}")" \
      "$(max_of "${_r[@]}")" "$(ratio "$med" "$base_med")"
    unset -n _r
  done
}

bench_cleanup() {
  local c
  for c in "${BENCH_CLEANUP[@]}"; do eval "$c" || true; done
  stop_berth_daemon
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
