#!/usr/bin/env bash
# The moto round-trip rate on tokio and on async-std, in one run on one fresh moto.
# Usage: bash scripts/bench-runtimes.sh [N]   (N sequential calls per runtime, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -q -p asyncmcp-tests --example bench_runtimes -- "${1:-200}"
