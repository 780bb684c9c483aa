#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) for berth's Rust test suite: installs the packages the
# tests and scripts use, then makes the base images (scripts/make-base-images.sh). Idempotent, and
# fast when everything is there (one dpkg-query, no apt-get update). Never installs or starts dockerd:
# the peer engines for benchmarks come from ../shared/peers/setup.sh.
#
# Usage: scripts/ci-setup.sh [--no-images] [--out DIR]
#   --no-images  skip making the base images
#   --out DIR    where the base images go (default: $BERTH_IMAGES_DIR or /var/lib/berth-images)
set -euo pipefail

# Extend here. Debian package names, installed only if missing.
PACKAGES=(
  busybox-static mmdebstrap # base images (make-base-images.sh)
  docker-registry # registry tests (pull, push, login against a real distribution registry)
  iproute2 iptables nftables # bridge networks, veth, NAT, port publishing
  tar gzip zstd # layer formats
  curl jq python3 openssl # API tests over the unix socket, TLS certificates for the TCP test
  hyperfine # benchmarks
  ca-certificates build-essential pkg-config # cargo build: ring, libsqlite3-sys, zstd-sys need a C toolchain
  libseccomp-dev # berth-runtime: libcontainer links libseccomp for the default seccomp profile
  runc # berth-runtime tests run the same bundle under runc to prove the spec is right
  procps # `top`: the container's processes as the host's ps shows them
  containerd # `berth runtime` tests: a private containerd runs containers through it (ctr run --runc-binary)
  python3-docker # docker-py compatibility tests (tests/docker_py.rs)
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=1
mbi_args=()
while (($#)); do
  case $1 in
    --no-images) images=0; shift ;;
    --out) mbi_args+=(--out "${2:?--out needs a directory}"); shift 2 ;;
    --out=*) mbi_args+=("$1"); shift ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "ci-setup: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf 'ci-setup: %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }

# Which packages are missing: one dpkg-query for all of them.
declare -A installed=()
while read -r pkg status; do
  [[ $status == installed ]] && installed[$pkg]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do [[ -n ${installed[$p]:-} ]] || missing+=("$p"); done

if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  local_log=$(mktemp)
  if ! { apt-get -qq -o DPkg::Lock::Timeout=300 update &&
    apt-get -y -qq -o DPkg::Lock::Timeout=300 install "${missing[@]}"; } >"$local_log" 2>&1; then
    tail -n 20 "$local_log" >&2
    rm -f "$local_log"
    log "apt-get install ${missing[*]} failed"; exit 1
  fi
  rm -f "$local_log"
else
  log "all ${#PACKAGES[@]} packages present"
fi

# Things no package gives; warn, don't fail (some test groups skip without them).
command -v cargo >/dev/null 2>&1 || [[ -x $HOME/.cargo/bin/cargo ]] ||
  log "warning: no cargo; install Rust with rustup (https://rustup.rs) before running the tests"
grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null ||
  log "warning: no overlay filesystem in this kernel; image snapshots will not mount"
if [[ -z $(ls -A /sys/fs/cgroup 2>/dev/null) ]]; then
  log "warning: /sys/fs/cgroup is empty or missing; containers cannot get resource limits"
fi
[[ $(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null) == 1 ]] ||
  log "note: net.ipv4.ip_forward is 0 (berth enables it when it creates a bridge network)"

if ((images)); then
  "$here/make-base-images.sh" "${mbi_args[@]}"
fi
