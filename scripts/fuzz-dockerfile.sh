#!/usr/bin/env bash
# Fuzzes the Dockerfile parser (crates/dockerfile): parse + expansion + .dockerignore patterns
# must never panic on any input. Usage: scripts/fuzz-dockerfile.sh [SECONDS]   (default 60)
# Needs the nightly toolchain (rustup) and cargo-fuzz (installed from crates.io when missing).
# Crashes land in crates/dockerfile/fuzz/artifacts/parse/; turn each into a unit test.
set -euo pipefail
secs="${1:-60}"
cd "$(dirname "$0")/../crates/dockerfile/fuzz"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo +nightly fuzz run parse corpus/parse -- -max_total_time="$secs" -max_len=4096
