#!/usr/bin/env bash
# Type-checks the cargo-fuzz targets (with --cfg fuzzing, as cargo fuzz builds them)
# on stable Rust, so they cannot rot. CI runs it; no nightly, no libFuzzer run.
# Usage: bash scripts/fuzz-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing" cargo check --manifest-path fuzz/Cargo.toml --bins --locked
echo "fuzz targets: ok"
