#!/usr/bin/env bash
# Makes berth's base images without any registry, as image tarballs that `berth load` and
# `docker load` accept:
#
#   busybox.tar   busybox:latest              Debian's static busybox + applet symlinks
#   debian.tar    debian:bookworm, :latest    mmdebstrap --variant=minbase bookworm
#
# Usage: scripts/make-base-images.sh [--out DIR] [--only busybox|debian] [--force] [--verify]
#   --out DIR    where the tars go (default: $BERTH_IMAGES_DIR or /var/lib/berth-images)
#   --only NAME  make only that image
#   --force      rebuild even if the tar exists and is newer than this script
#   --verify     afterwards check each tar with the peer dockerd (load + run), podman, skopeo and
#                umoci, whichever are available; removes from those engines what it loaded
#
# The tar format is what Docker 25+ `docker save` writes: a docker-archive (manifest.json,
# repositories) with an OCI image layout inside (oci-layout, index.json, blobs/sha256/...). Layers are
# uncompressed tars made reproducibly (sorted, fixed mtime = $SOURCE_DATE_EPOCH or 2024-01-01), so the
# same inputs give the same image ID. Needs only bash, coreutils, tar, sha256sum (no jq, no python).
#
# Sourcing this file (`source scripts/make-base-images.sh`) only defines the functions, so other
# scripts (bench/load.sh) can build image archives with `reproducible_tar` and `write_image_archive`.

# Image creation time and layer mtimes: fixed, so image IDs are reproducible.
: "${SOURCE_DATE_EPOCH:=1704067200}" # 2024-01-01T00:00:00Z
export SOURCE_DATE_EPOCH

mbi_log() { printf '%s\n' "make-base-images: $*" >&2; }
mbi_die() { mbi_log "error: $*"; exit 1; }

# json_str STRING: STRING as a JSON string literal (quotes included).
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

# json_str_array STRING...: a JSON array of strings.
json_str_array() {
  local out="[" sep="" a
  for a in "$@"; do out+="$sep$(json_str "$a")"; sep=","; done
  printf '%s]' "$out"
}

sha256_hex() { sha256sum "$1" | cut -d' ' -f1; }
file_size() { stat -c %s "$1"; }

# The OCI architecture name of this host.
oci_arch() {
  local a
  a=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case $a in
    amd64 | x86_64) echo amd64 ;;
    arm64 | aarch64) echo arm64 ;;
    armhf | armel | arm*) echo arm ;;
    i386 | i686) echo 386 ;;
    ppc64el | ppc64le) echo ppc64le ;;
    *) echo "$a" ;; # s390x, riscv64, mips64le, ... are spelled the same
  esac
}

# reproducible_tar ROOTFS OUT [--keep-owners]: an uncompressed layer tar of the contents of ROOTFS
# (member names without a leading "./"), sorted, with fixed mtimes and no atime/ctime. By default
# every file is owned by 0:0; --keep-owners keeps the numeric owners (needed for a Debian rootfs,
# where e.g. /etc/shadow is group shadow and /var/cache/apt/archives/partial belongs to _apt).
reproducible_tar() {
  local root=$1 out=$2 owners=(--owner=0 --group=0)
  [[ ${3:-} == --keep-owners ]] && owners=()
  local -a members
  mapfile -t members < <(find "$root" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)
  ((${#members[@]})) || mbi_die "reproducible_tar: $root is empty"
  LC_ALL=C tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" "${owners[@]}" --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$out" -- "${members[@]}"
}

# The fully qualified name Docker/containerd record for REPO:TAG (busybox:latest ->
# docker.io/library/busybox:latest, me/x:1 -> docker.io/me/x:1, host:5000/x:1 unchanged).
qualified_ref() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then
    echo "docker.io/library/$ref"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
    echo "$ref"
  else
    echo "docker.io/$ref"
  fi
}

# write_image_archive OUT_TAR TAGS_VAR CONFIG_VAR HISTORY_VAR LAYER_TAR...
#   TAGS_VAR     name of an array of "repo:tag" references (at least one)
#   CONFIG_VAR   name of an assoc array: Env (newline-separated), Cmd (newline-separated),
#                Entrypoint, WorkingDir, User (optional)
#   HISTORY_VAR  name of an array with one created_by text per layer
#   LAYER_TAR    uncompressed layer tars, bottom first (copied, not consumed)
# Writes a docker-archive with an OCI layout inside and prints the image ID (sha256:<config hex>).
# Stages the archive in a temp dir under $MBI_STAGE_DIR (default: OUT_TAR's directory).
write_image_archive() {
  local out=$1
  local -n _tags=$2 _cfg=$3 _hist=$4
  shift 4
  local -a layers=("$@")
  ((${#_tags[@]})) || mbi_die "write_image_archive: no tags"
  ((${#layers[@]})) || mbi_die "write_image_archive: no layers"
  ((${#_hist[@]} == ${#layers[@]})) || mbi_die "write_image_archive: need one history entry per layer"

  local stage created arch
  stage=$(mktemp -d "${MBI_STAGE_DIR:-$(dirname "$out")}/.stage.XXXXXX")
  mkdir -p "$stage/blobs/sha256"
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  arch=$(oci_arch)

  # Layers: uncompressed, so digest == diff_id.
  local l hex size diff_ids="" layer_descs="" layer_paths="" sep=""
  for l in "${layers[@]}"; do
    hex=$(sha256_hex "$l")
    size=$(file_size "$l")
    if [[ ! -e $stage/blobs/sha256/$hex ]]; then
      ln "$l" "$stage/blobs/sha256/$hex" 2>/dev/null || cp "$l" "$stage/blobs/sha256/$hex"
    fi
    diff_ids+="$sep\"sha256:$hex\""
    layer_descs+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$hex\",\"size\":$size}"
    layer_paths+="$sep\"blobs/sha256/$hex\""
    sep=","
  done
  local top_layer_hex=$hex

  # Image config.
  local -a env=() cmd=() ep=()
  [[ -n ${_cfg[Env]:-} ]] && mapfile -t env <<<"${_cfg[Env]}"
  [[ -n ${_cfg[Cmd]:-} ]] && mapfile -t cmd <<<"${_cfg[Cmd]}"
  [[ -n ${_cfg[Entrypoint]:-} ]] && mapfile -t ep <<<"${_cfg[Entrypoint]}"
  local c="{" csep=""
  if ((${#env[@]})); then c+="\"Env\":$(json_str_array "${env[@]}")"; csep=","; fi
  if ((${#ep[@]})); then c+="$csep\"Entrypoint\":$(json_str_array "${ep[@]}")"; csep=","; fi
  if ((${#cmd[@]})); then c+="$csep\"Cmd\":$(json_str_array "${cmd[@]}")"; csep=","; fi
  if [[ -n ${_cfg[WorkingDir]:-} ]]; then c+="$csep\"WorkingDir\":$(json_str "${_cfg[WorkingDir]}")"; csep=","; fi
  if [[ -n ${_cfg[User]:-} ]]; then c+="$csep\"User\":$(json_str "${_cfg[User]}")"; fi
  c+="}"
  local h history="" hsep=""
  for h in "${_hist[@]}"; do
    history+="$hsep{\"created\":\"$created\",\"created_by\":$(json_str "$h"),\"comment\":\"berth scripts/make-base-images.sh\"}"
    hsep=","
  done
  local config="{\"architecture\":\"$arch\",\"config\":$c,\"created\":\"$created\",\"history\":[$history],\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diff_ids]}}"
  local cfg_hex cfg_size
  printf '%s' "$config" >"$stage/config.json"
  cfg_hex=$(sha256_hex "$stage/config.json")
  cfg_size=$(file_size "$stage/config.json")
  mv "$stage/config.json" "$stage/blobs/sha256/$cfg_hex"

  # OCI manifest.
  local man_hex man_size
  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cfg_hex\",\"size\":$cfg_size},\"layers\":[$layer_descs]}" >"$stage/manifest.oci"
  man_hex=$(sha256_hex "$stage/manifest.oci")
  man_size=$(file_size "$stage/manifest.oci")
  mv "$stage/manifest.oci" "$stage/blobs/sha256/$man_hex"

  # index.json: one descriptor per tag (as docker save does), oci-layout, manifest.json, repositories.
  local t descs="" dsep="" repo_tags="" rsep=""
  local -A repos=()
  local -a repo_order=()
  for t in "${_tags[@]}"; do
    [[ $t == *:* && ${t##*:} != */* ]] || mbi_die "write_image_archive: tag '$t' must be repo:tag"
    descs+="$dsep{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$man_hex\",\"size\":$man_size,\"annotations\":{\"io.containerd.image.name\":$(json_str "$(qualified_ref "$t")"),\"org.opencontainers.image.ref.name\":$(json_str "${t##*:}")}}"
    dsep=","
    repo_tags+="$rsep$(json_str "$t")"
    rsep=","
    local r=${t%:*}
    [[ -n ${repos[$r]+x} ]] || repo_order+=("$r")
    repos[$r]+="${repos[$r]:+,}$(json_str "${t##*:}"):\"$top_layer_hex\""
  done
  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[$descs]}" >"$stage/index.json"
  printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$stage/oci-layout"
  printf '%s\n' "[{\"Config\":\"blobs/sha256/$cfg_hex\",\"RepoTags\":[$repo_tags],\"Layers\":[$layer_paths]}]" >"$stage/manifest.json"
  local repositories="{" psep=""
  for r in "${repo_order[@]}"; do repositories+="$psep$(json_str "$r"):{${repos[$r]}}"; psep=","; done
  printf '%s\n' "$repositories}" >"$stage/repositories"

  local tmp_out="$out.tmp.$$"
  chmod 0644 "$stage"/*.json "$stage/oci-layout" "$stage/repositories" "$stage"/blobs/sha256/*
  reproducible_tar "$stage" "$tmp_out"
  rm -rf "$stage"
  mv -f "$tmp_out" "$out"
  echo "sha256:$cfg_hex"
}

# ensure_packages PKG...: apt-get install the ones that are missing (apt-get update first, once).
ensure_packages() {
  local p local_log missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  mbi_log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  local_log=$(mktemp)
  if ! { apt-get -qq -o DPkg::Lock::Timeout=300 update &&
    apt-get -y -qq -o DPkg::Lock::Timeout=300 install "${missing[@]}"; } >"$local_log" 2>&1; then
    tail -n 20 "$local_log" >&2
    rm -f "$local_log"
    mbi_die "apt-get install ${missing[*]} failed"
  fi
  rm -f "$local_log"
}

# The host's apt sources for bookworm, as files mmdebstrap accepts as MIRROR arguments (third-party
# repositories such as nodesource or cloud-sdk are left out). Override with $MMDEBSTRAP_MIRRORS
# (space-separated mmdebstrap MIRROR arguments).
debian_mirrors() {
  if [[ -n ${MMDEBSTRAP_MIRRORS:-} ]]; then
    local -a m
    read -ra m <<<"$MMDEBSTRAP_MIRRORS"
    printf '%s\n' "${m[@]}"
    return
  fi
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    grep -v '^[[:space:]]*#' "$f" | grep -qE '(^|[[:space:]])bookworm(-[a-z]+)?([[:space:]]|$)' || continue
    grep -v '^[[:space:]]*#' "$f" | grep -qE 'debian' || continue
    echo "$f"
  done
}

# shellcheck disable=SC2034 # tags, cfg, hist are used through namerefs in write_image_archive
build_busybox() {
  local out=$1 work=$2
  ensure_packages busybox-static
  local bb
  bb=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n1)
  [[ -x $bb ]] || mbi_die "busybox-static installed but no busybox binary found"
  local root=$work/busybox-rootfs
  mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,usr,var}
  install -m 0755 "$bb" "$root/bin/busybox"
  local a
  for a in $("$root/bin/busybox" --list); do
    [[ $a == busybox || $a == */* ]] && continue
    ln -s busybox "$root/bin/$a"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nogroup:x:65534:' >"$root/etc/group"
  : >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
  chmod 0644 "$root"/etc/*
  chmod 0755 "$root" "$root"/{bin,dev,etc,home,proc,sys,usr,var}
  chmod 0700 "$root/root"
  chmod 1777 "$root/tmp"

  reproducible_tar "$root" "$work/busybox-layer.tar"
  rm -rf "$root"
  local -a tags=(busybox:latest) hist
  local -A cfg=([Env]="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" [Cmd]="sh")
  hist=("Debian busybox-static $(dpkg-query -W -f '${Version}' busybox-static) at /bin/busybox + applet symlinks")
  write_image_archive "$out" tags cfg hist "$work/busybox-layer.tar"
}

# shellcheck disable=SC2034 # tags, cfg, hist are used through namerefs in write_image_archive
build_debian() {
  local out=$1 work=$2
  ensure_packages mmdebstrap
  local root=$work/debian-rootfs
  local -a mirrors
  mapfile -t mirrors < <(debian_mirrors)
  mbi_log "mmdebstrap minbase bookworm (sources: ${mirrors[*]:-mmdebstrap default}) ..."
  # Merged /usr the way debootstrap (and so the official image) does it, instead of the usrmerge
  # package, which would drag perl (~40 MB) into the image.
  local -a hooks=()
  [[ -d /usr/share/mmdebstrap/hooks/merged-usr ]] && hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
  mmdebstrap --quiet --variant=minbase --mode=root --format=dir "${hooks[@]}" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    bookworm "$root" "${mirrors[@]}" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$work/mmdebstrap.log" >&2; mbi_die "mmdebstrap failed"; }
  # The runtime makes /dev; apt lists and caches are not part of the image.
  find "$root/dev" -mindepth 1 -delete
  find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial -exec rm -rf {} +
  find "$root/var/lib/apt/lists/partial" "$root/var/cache/apt" -mindepth 1 -type f -delete 2>/dev/null || true
  rm -f "$root/var/cache/ldconfig/aux-cache"
  # mmdebstrap leaves the build host's name and resolver here; the runtime provides both.
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  chmod 0644 "$root/etc/hostname" "$root/etc/resolv.conf"
  reproducible_tar "$root" "$work/debian-layer.tar" --keep-owners
  rm -rf "$root"
  local -a tags=(debian:bookworm debian:latest) hist
  local -A cfg=([Env]="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" [Cmd]="bash")
  hist=("mmdebstrap --variant=minbase bookworm (Debian $(cat /etc/debian_version 2>/dev/null || echo 12) host sources)")
  write_image_archive "$out" tags cfg hist "$work/debian-layer.tar"
}

# verify_archive TAR TAG CMD...: load TAR into the peer engines that are available, run CMD in TAG,
# then remove what was loaded (unless the tag was there before).
verify_archive() {
  local tar=$1 tag=$2 id=$3
  shift 3
  local ok=1 name
  name=$(basename "$tar")
  local D="/usr/bin/docker -H unix:///var/run/docker.sock"
  if [[ -x /usr/bin/docker ]] && $D version >/dev/null 2>&1; then
    local had=0 out
    $D image inspect "$tag" >/dev/null 2>&1 && had=1
    if out=$($D load -i "$tar" 2>&1) && [[ $($D image inspect -f '{{.Id}}' "$tag" 2>/dev/null) == "$id" ]] &&
      [[ $($D run --rm --network none "$tag" "$@" 2>&1) == ok ]]; then
      mbi_log "verify $name: docker load + run ok ($out)"
    else
      mbi_log "verify $name: docker FAILED: $out"; ok=0
    fi
    ((had)) || $D rmi -f "$id" >/dev/null 2>&1 || true
  else
    mbi_log "verify $name: docker skipped (no daemon on /var/run/docker.sock; run ../shared/peers/setup.sh)"
  fi
  if command -v podman >/dev/null 2>&1; then
    local had=0 out pid
    podman image exists "$id" 2>/dev/null && had=1
    if out=$(podman load -i "$tar" 2>&1) && pid=$(podman image inspect -f '{{.Id}}' "$id" 2>/dev/null) &&
      [[ sha256:$pid == "$id" ]] && [[ $(podman run --rm --network none "$id" "$@" 2>&1) == ok ]]; then
      mbi_log "verify $name: podman load + run ok ($(echo "$out" | tail -n1))"
    else
      mbi_log "verify $name: podman FAILED: $out"; ok=0
    fi
    ((had)) || podman rmi -f "$id" >/dev/null 2>&1 || true
  fi
  if command -v skopeo >/dev/null 2>&1; then
    local d1 d2
    d1=$(skopeo inspect --raw --config "docker-archive:$tar" 2>&1 | sha256sum | cut -d' ' -f1)
    d2=$(skopeo inspect --raw --config "oci-archive:$tar:${tag##*:}" 2>&1 | sha256sum | cut -d' ' -f1)
    if [[ sha256:$d1 == "$id" && sha256:$d2 == "$id" ]]; then
      mbi_log "verify $name: skopeo docker-archive + oci-archive config digest ok"
    else
      mbi_log "verify $name: skopeo FAILED"; ok=0
    fi
  fi
  if command -v umoci >/dev/null 2>&1; then
    local u
    u=$(mktemp -d)
    if tar -C "$u" -xf "$tar" && mkdir "$u/layout" && mv "$u"/{blobs,index.json,oci-layout} "$u/layout/" &&
      umoci unpack --image "$u/layout:${tag##*:}" "$u/bundle" >/dev/null 2>&1 && [[ -e $u/bundle/rootfs/bin/sh ]]; then
      mbi_log "verify $name: umoci unpack ok"
    else
      mbi_log "verify $name: umoci unpack FAILED"; ok=0
    fi
    rm -rf "$u"
  fi
  ((ok))
}

main() {
  set -euo pipefail
  umask 022
  local out=${BERTH_IMAGES_DIR:-/var/lib/berth-images} only="" force=0 verify=0
  while (($#)); do
    case $1 in
      --out) out=${2:?--out needs a directory}; shift 2 ;;
      --out=*) out=${1#--out=}; shift ;;
      --only) only=${2:?--only needs busybox or debian}; shift 2 ;;
      --only=*) only=${1#--only=}; shift ;;
      --force) force=1; shift ;;
      --verify) verify=1; shift ;;
      -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; return 0 ;;
      *) mbi_die "unknown argument: $1 (see --help)" ;;
    esac
  done
  local -a images=(busybox debian)
  case $only in
    "") ;;
    busybox | debian) images=("$only") ;;
    *) mbi_die "--only takes busybox or debian, not '$only'" ;;
  esac
  [[ $(id -u) == 0 ]] || mbi_log "warning: not root; apt-get and mmdebstrap --mode=root will fail"
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local self
  self=$(readlink -f "$0")

  local img tar work id rc=0
  local -a made=()
  for img in "${images[@]}"; do
    tar=$out/$img.tar
    if ((!force)) && [[ -f $tar && $tar -nt $self ]]; then
      mbi_log "$tar is up to date"
    else
      work=$(mktemp -d "$out/.work-$img.XXXXXX")
      # shellcheck disable=SC2064 # expand now: remove this work dir whatever happens
      trap "rm -rf '$work'" EXIT
      mbi_log "building $tar ..."
      MBI_STAGE_DIR=$work "build_$img" "$tar" "$work" >/dev/null
      rm -rf "$work"
      trap - EXIT
    fi
    made+=("$tar")
  done

  printf '%-40s %-73s %s\n' TAR "IMAGE ID" SIZE
  for tar in "${made[@]}"; do
    id=sha256:$(tar -xOf "$tar" manifest.json | grep -oE '"Config":"blobs/sha256/[0-9a-f]{64}"' | grep -oE '[0-9a-f]{64}')
    printf '%-40s %-73s %s (%s)\n' "$tar" "$id" "$(file_size "$tar")" "$(numfmt --to=iec --suffix=B "$(file_size "$tar")")"
  done

  if ((verify)); then
    for tar in "${made[@]}"; do
      id=sha256:$(tar -xOf "$tar" manifest.json | grep -oE '"Config":"blobs/sha256/[0-9a-f]{64}"' | grep -oE '[0-9a-f]{64}')
      case $(basename "$tar") in
        busybox.tar) verify_archive "$tar" busybox:latest "$id" echo ok || rc=1 ;;
        debian.tar) verify_archive "$tar" debian:bookworm "$id" bash -c 'test -f /etc/debian_version && echo ok' || rc=1 ;;
      esac
    done
  fi
  return "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
