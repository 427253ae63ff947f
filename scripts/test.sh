#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, then runs
# every tier. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (rustup) first" >&2
  exit 1
fi

echo "== unit, doc, vector, simulation and property tests"
cargo test --workspace --locked
