#!/usr/bin/env bash
# Runs the codec benchmark (divan, absolute figures), then measures ours/baseline per
# body size with the bench binary's paired mode (CODEC_PAIRED=1: blocks of ours and of
# the serde_json::Value round trip alternate, and the ratio is the median of the
# neighbouring blocks' ratios). On a shared 2-core machine two divan medians taken
# apart moved by up to 2x (three runs of one binary gave 0.64, 1.90 and 1.06 at 1 KiB),
# so the ratio comes from the paired mode only.
# Usage: bash scripts/bench-codec.sh [cargo bench args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -q -p asyncmcp-proto --bench codec "$@"
paired="$(CODEC_PAIRED=1 cargo bench -q -p asyncmcp-proto --bench codec "$@")"
printf '%s\n' "$paired" | awk '
  $1 == "paired" { o[$2] = $3; b[$2] = $4; r[$2] = $5; n++ }
  END {
    print ""
    print "size   ours median   baseline median   ours/baseline (median of paired blocks)"
    for (s in r) printf "%-6s %10.1f ns   %12.1f ns   %8.3f\n", s, o[s], b[s], r[s]
    exit n == 2 ? 0 : 1
  }'
