#!/usr/bin/env bash
# Runs the codec benchmark and prints, per body size, our decode+encode median over
# the serde_json::Value round-trip median (target: <= 1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(cargo bench -p asyncmcp-proto --bench codec "$@")"
printf '%s\n' "$out"
printf '%s\n' "$out" | awk -F'│' '
  function ns(field,    n, unit) {
    gsub(/^[ \t]+|[ \t]+$/, "", field)
    split(field, parts, /[ \t]+/)
    n = parts[1]; unit = parts[2]
    if (unit == "ps") return n / 1000
    if (unit == "ns") return n
    if (unit == "µs" || unit == "us") return n * 1000
    if (unit == "ms") return n * 1000000
    if (unit == "s") return n * 1000000000
    return -1
  }
  /(ours|baseline)_[0-9]+k/ {
    match($1, /(ours|baseline)_[0-9]+k/)
    name = substr($1, RSTART, RLENGTH)
    split(name, np, "_")
    median[np[2], np[1]] = ns($3)
    sizes[np[2]] = 1
  }
  END {
    print ""
    print "size   ours median   baseline median   ours/baseline"
    for (s in sizes) {
      o = median[s, "ours"]; b = median[s, "baseline"]
      if (o > 0 && b > 0) printf "%-6s %10.1f ns   %12.1f ns   %8.3f\n", s, o, b, o / b
      else { printf "%-6s could not parse divan output\n", s; bad = 1 }
    }
    exit bad
  }'
