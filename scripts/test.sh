#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: system packages and base images, then
# formatting, lints and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci-setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"
