#!/usr/bin/env bash
# The core alone (asyncmcp-proto, no I/O): one tools/call round trip through a legacy
# session of a Server and a Client with 1k, 10k and 100k other sessions open, and the
# resident memory of an idle session. Prints messages per second per core (two
# messages per round trip), the cost at 100k over the cost at 1k, and each target
# (issue "Benchmarks"): >= 1,000,000 messages/s/core; <= 1.3x at 100k; <= 1 KiB per
# idle session.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(cargo bench -p asyncmcp-proto --bench sessions "$@")"
printf '%s\n' "$out"
idle="$(cargo bench -q -p asyncmcp-proto --bench sessions -- --idle-session-bytes | grep '^idle_session_bytes')"
printf '%s\n' "$idle"
printf '%s\n%s\n' "$out" "$idle" | awk -F'│' '
  function ns(field,    n, unit) {
    gsub(/^[ \t]+|[ \t]+$/, "", field)
    split(field, parts, /[ \t]+/)
    n = parts[1]; unit = parts[2]
    if (unit == "ns") return n
    if (unit == "µs" || unit == "us") return n * 1000
    if (unit == "ms") return n * 1000000
    return -1
  }
  /[├╰]─ [0-9]+ / {
    match($1, /[0-9]+ /)
    n = substr($1, RSTART, RLENGTH - 1)
    median[n] = ns($3)
  }
  /^idle_session_bytes/ { split($0, w, " "); idle = w[2] }
  END {
    print ""
    print "sessions   round trip median   messages/s/core"
    for (n in median) if (median[n] > 0) printf "%8s   %14.1f µs   %15.0f\n", n, median[n] / 1000, 2e9 / median[n]
    if (!(1000 in median) || !(100000 in median) || idle == "") { print "could not parse the benchmark output"; exit 1 }
    rate = 2e9 / median[1000]
    ratio = median[100000] / median[1000]
    print ""
    printf "messages/s/core at 1k sessions    %10.0f   target >= 1000000   %s\n", rate, (rate >= 1000000 ? "holds" : "does not hold")
    printf "cost at 100k / cost at 1k         %10.2f   target <= 1.3       %s\n", ratio, (ratio <= 1.3 ? "holds" : "does not hold")
    printf "bytes per idle legacy session     %10d   target <= 1024      %s\n", idle, (idle <= 1024 ? "holds" : "does not hold")
  }'
