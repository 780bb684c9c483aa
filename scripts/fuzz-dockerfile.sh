#!/usr/bin/env bash
# Fuzz the Dockerfile parser (crates/dockerfile) with cargo-fuzz.
#
#   scripts/fuzz-dockerfile.sh [SECONDS]      # default 60
#
# Installs cargo-fuzz if it is missing and runs the `parse` target on the
# nightly toolchain for SECONDS. The corpus lives in
# crates/dockerfile/fuzz/corpus/parse (seeded from fuzz/seeds); a crash is
# saved under crates/dockerfile/fuzz/artifacts/parse and the script fails.
# Builds use one job unless CARGO_BUILD_JOBS says otherwise.
set -euo pipefail

secs="${1:-60}"
case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir="$root/crates/dockerfile/fuzz"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "cargo-fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi

mkdir -p "$fuzz_dir/corpus/parse"
cp -n "$fuzz_dir"/seeds/* "$fuzz_dir/corpus/parse/" 2>/dev/null || true

cd "$root/crates/dockerfile"
exec cargo +nightly fuzz run parse \
    "$fuzz_dir/corpus/parse" \
    -- -max_total_time="$secs" -dict="$fuzz_dir/dockerfile.dict" -max_len=4096 -timeout=10
