#!/usr/bin/env bash
# The two-tier app with the berth CLI: builds both images on the Debian base (apt inside RUN
# steps, so the daemon needs a way out to the Debian mirror), puts them on one user-defined
# network, publishes the web tier and reads the page from the host. Removes what it made on exit.
# Usage: examples/twotier/run.sh [HOST_PORT]    (berth's daemon from BERTH_HOST or -H default)
set -euo pipefail
cd "$(dirname "$0")"
port=${1:-8080}
berth=${BERTH:-berth}
b() { echo "+ berth $*" >&2; "$berth" "$@"; }
trap 'b rm -f twotier-web twotier-db >/dev/null 2>&1; b network rm twotier >/dev/null 2>&1; b volume rm twotier-data >/dev/null 2>&1' EXIT
b build -t twotier-db db
b build -t twotier-web web
b network create twotier
b run -d --name twotier-db --network twotier --network-alias db -v twotier-data:/var/lib/mysql twotier-db
b run -d --name twotier-web --network twotier -p "$port:8000" twotier-web
for _ in $(seq 120); do
  if page=$(curl -sf "http://127.0.0.1:$port/"); then
    printf '%s\n' "$page"
    exit 0
  fi
  sleep 0.5
done
echo "the web tier did not answer; its log:" >&2
b logs twotier-web >&2
exit 1
