#!/usr/bin/env bash
# The main job on a fresh Debian machine: make the base images, build berth, start a daemon on a
# private root and socket, load the busybox and Debian images, run containers from them, and show
# them the way a Docker user would look at them. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci-setup.sh
cargo build --release
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
sock="unix://$work/run/berth.sock"
"$berth" daemon --root "$work/root" --exec-root "$work/run" -H "$sock" >"$work/daemon.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; bash scripts/network-cleanup.sh; rm -rf "$work"' EXIT
for _ in $(seq 100); do [[ -S $work/run/berth.sock ]] && break; sleep 0.05; done
b() { echo "+ berth $*" >&2; "$berth" -H "$sock" "$@"; }
images=${BERTH_IMAGES_DIR:-/var/lib/berth-images}
b version
b load -i "$images/busybox.tar"
[[ -f $images/debian.tar ]] && b load -i "$images/debian.tar"
b images
b run --rm busybox sh -c 'echo "hello from a berth container: $(uname -sr), pid $$"'
[[ -f $images/debian.tar ]] && b run --rm debian:bookworm cat /etc/debian_version
# Build the example image (multi-stage, parallel stages), run it, build again: every step cached.
b build --build-arg VERSION=demo -t hello:demo examples/hello
b run --rm hello:demo
b build --build-arg VERSION=demo -t hello:demo examples/hello
b history hello:demo
b run -d --name demo-sleeper busybox sleep 30
b ps
b rm -f demo-sleeper
# A user-defined network: a web server reached by name from another container and from the host
# through a published port.
b network create demo-net
b run -d --name demo-web --network demo-net -p 127.0.0.1:18089:80 busybox httpd -f -p 80 -h /etc
b run --rm --network demo-net busybox wget -qO- http://demo-web/hostname
echo "+ curl http://127.0.0.1:18089/hostname" >&2
curl -sf --retry 5 --retry-connrefused http://127.0.0.1:18089/hostname
b port demo-web
b rm -f demo-web
b network rm demo-net
b history busybox
b image inspect --format '{{.Id}} {{json .Config.Cmd}} {{len .RootFS.Layers}} layer(s)' busybox
b tag busybox demo/busybox:v1
b system df -v
b save -o "$work/busybox-saved.tar" demo/busybox:v1
b rmi demo/busybox:v1
b system check
