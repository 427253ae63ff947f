#!/usr/bin/env bash
# Runs the delivery model (the session_machine fuzz body: crashes and restarts of
# either side, link cuts past the retry budget, unreachable reply addresses, lost long
# polls, duplicates, reordering, fragments, FIFO, both eras) on many seeds and prints
# lost / doubled / wrong / stuck counts and tools run twice. Not part of CI, which runs
# 10^4 seeds in tests/tests/delivery_model.rs.
# Usage: bash scripts/sim-runs.sh [RUNS=1000000] [FIRST_SEED=0] [THREADS=nproc]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
first=${2:-0}
threads=${3:-$(nproc)}
cargo run --release --locked -q -p asyncmcp-tests --example sim_runs -- "$runs" "$first" "$threads"
