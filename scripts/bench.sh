#!/usr/bin/env bash
# The benchmark suite of issue 17: one table, each row naming its anchor (what it is
# measured against, in the same run), its target and whether it holds.
#
# Usage: bash scripts/bench.sh [PART...]      (no PART: all of them, in this order)
#   codec     (7) decode+encode against a serde_json::Value round trip, 1 KiB / 64 KiB
#   core      (4) Server + Client alone (no I/O) with 1k/10k/100k sessions; idle bytes
#   moto      (3) API calls per round trip at 8 and 64 in flight, sequential latency,
#             (2) CPU per API call against a raw SDK loop, over sqs, sns-sqs envelope
#                 and sns-sqs raw (scripts/bench-moto.sh has the prose version)
#   python    (1) against Python asyncmcp 0.2.1 (client and server in two processes)
#   scaleout  (5) stateless workers on one queue: simulator 1/2/4/8, moto 3 processes
#             (every queue call traced into scaleout-trace.txt; an extra run of a request
#             is classified as a moto double receive, a redelivery or a duplicate send)
#   shared    (6) one process, 1,000 legacy client sessions over one reply queue (ClientHost):
#             API calls per round trip and per message against one client at the same
#             in-flight, resident bytes per open session
# Env: SEQ/PAR (our calls per moto phase, default 200/400), PY_SEQ/PY_PAR (Python's,
#      100/200), SESSIONS/SHARED_IN_FLIGHT (row 6, default 1000/64), BENCH_OUT (directory
#      for the raw outputs; default a temporary one).
# Needs python3 with moto[server] (scripts/find-moto.sh) and, for `python`, network
# access to PyPI on first run (Python asyncmcp goes into $CARGO_TARGET_DIR/py-venv,
# as the interop tier does). Whole run: about 16 minutes on 2 cores (shared: 6).
set -euo pipefail
cd "$(dirname "$0")/.."

SEQ=${SEQ:-200}
PAR=${PAR:-400}
PY_SEQ=${PY_SEQ:-100}
PY_PAR=${PY_PAR:-200}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/asyncmcp-bench-XXXX)}
mkdir -p "$OUT"
ROWS="$OUT/rows.tsv"
: >"$ROWS"
ALL="codec core moto python scaleout shared"
PARTS=${*:-$ALL}
for p in $PARTS; do
  case " $ALL " in *" $p "*) ;; *) echo "unknown part $p (parts: $ALL)" >&2; exit 2 ;; esac
done
STARTED=$(date +%s)
echo "== bench.sh: parts [$PARTS], $(nproc) cores, load at start: $(cut -d' ' -f1-3 /proc/loadavg); raw outputs in $OUT"

# row ANCHOR FIGURE MEASURED TARGET HOLDS
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
# holds VALUE OP LIMIT: "yes" or "no"
holds() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? (v <= l) : (v >= l); print (ok ? "yes" : "no") }'; }
# field FILE PHASE KEY: KEY=value of the `BENCH phase=PHASE` line in FILE
field() { awk -v p="phase=$2" -v k="$3" '$1 == "BENCH" && $2 == p { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

# ---------------------------------------------------------------- moto
MOTO_PID=""
ENDPOINT=""
stop_moto() {
  if [ -n "$MOTO_PID" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}
trap stop_moto EXIT
# As tests/src/moto.rs does: python3's moto, else moto[server]==5.2.1 in a venv under
# the target directory (installed on first use, staged so a half install never counts).
ensure_moto() {
  local venv="$TARGET_DIR/moto-venv" staging
  python3 -c "import moto.server" >/dev/null 2>&1 && return 0
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import moto.server" >/dev/null 2>&1 && return 0
  staging="$venv.tmp-$$"
  rm -rf "$staging"
  echo "== installing moto[server]==5.2.1 into $venv"
  python3 -m venv "$staging"
  "$staging/bin/python" -m pip install --quiet --disable-pip-version-check --no-input 'moto[server]==5.2.1'
  rm -rf "$venv"
  mv "$staging" "$venv"
}
start_moto() {
  [ -n "$MOTO_PID" ] && return 0
  ensure_moto
  # shellcheck source=scripts/find-moto.sh
  CARGO_TARGET_DIR="$TARGET_DIR" source scripts/find-moto.sh
  local port
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$OUT/moto.log" 2>&1 &
  MOTO_PID=$!
  ENDPOINT="http://127.0.0.1:$port"
  wait_for_moto "$ENDPOINT" "$OUT/moto.log"
  echo "== moto $("$PYTHON" -c 'import moto; print(moto.__version__)') on $ENDPOINT (pid $MOTO_PID)"
}
# Every row starts on an empty moto: queue depth slows moto down linearly.
reset_moto() { curl -sf -X POST "$ENDPOINT/moto-api/reset" >/dev/null; }

BIN="$TARGET_DIR/release/examples"
build_moto_bins() {
  [ -n "${BUILT_MOTO_BINS:-}" ] && return 0
  echo "== building bench_client, bench_server and bench_shared (release)"
  cargo build --release --locked -q -p asyncmcp-tokio --features aws,rmcp --example bench_client --example bench_server \
    --example bench_shared
  BUILT_MOTO_BINS=1
}

TOPOLOGIES=("sqs" "sns-sqs" "sns-sqs --raw")
topo_name() { case "$1" in sqs) echo sqs ;; "sns-sqs") echo sns-env ;; *) echo sns-raw ;; esac; }

# ours TOPOLOGY IN_FLIGHTS: runs bench_client once (legacy era) into $OUT/ours-NAME.txt,
# unless this run already did it with those in-flight counts.
ours() {
  local name file
  name=$(topo_name "$1")
  file="$OUT/ours-$name.txt"
  if [ -s "$file" ] && grep -q "^BENCH phase=par${2##*,} " "$file"; then return 0; fi
  start_moto
  build_moto_bins
  reset_moto
  echo "== ours, $1: $SEQ sequential, $PAR at each of $2 in flight, then the raw SDK loop"
  # shellcheck disable=SC2086
  "$BIN/bench_client" --endpoint-url "$ENDPOINT" --transport $1 --seq "$SEQ" --par "$PAR" --in-flight "$2" \
    --server-bin "$BIN/bench_server" >"$file"
  grep -E '^  (sequential|concurrent|raw)' "$file" | sed 's/^/   /' || true
}

# ---------------------------------------------------------------- parts
part_codec() {
  echo "== (7) codec"
  bash scripts/bench-codec.sh >"$OUT/codec.txt"
  local r1 r64
  r1=$(awk '$1 == "1k" && NF == 6 { print $6 }' "$OUT/codec.txt")
  r64=$(awk '$1 == "64k" && NF == 6 { print $6 }' "$OUT/codec.txt")
  row "(7) serde_json::Value round trip, same body, paired blocks" "codec decode+encode / Value, 1 KiB" "$r1" "<= 0.6" "$(holds "$r1" "<=" 0.6)"
  row "(7) serde_json::Value round trip, same body, paired blocks" "codec decode+encode / Value, 64 KiB" "$r64" "<= 0.5" "$(holds "$r64" "<=" 0.5)"
}

part_core() {
  echo "== (4) core alone"
  bash scripts/bench-core.sh >"$OUT/core.txt"
  local rate scale idle
  rate=$(awk '/^messages\/s\/core at 1k sessions/ { print $5 }' "$OUT/core.txt")
  scale=$(awk '/^cost at 100k \/ cost at 1k/ { print $8 }' "$OUT/core.txt")
  idle=$(awk '/^bytes per idle legacy session/ { print $6 }' "$OUT/core.txt")
  row "(4) absolute (no I/O, one core)" "core messages/s/core, 1k sessions" "$rate" ">= 1000000" "$(holds "$rate" ">=" 1000000)"
  row "(4) the same at 1k sessions" "core cost per message 100k / 1k sessions" "$scale" "<= 1.3" "$(holds "$scale" "<=" 1.3)"
  row "(4) absolute (resident set growth)" "bytes per idle legacy session" "$idle" "<= 1024" "$(holds "$idle" "<=" 1024)"
}

part_moto() {
  local t name f
  for t in "${TOPOLOGIES[@]}"; do
    ours "$t" "8,64"
  done
  for t in "${TOPOLOGIES[@]}"; do
    name=$(topo_name "$t")
    f="$OUT/ours-$name.txt"
    local c8 c64 r8 r64 p50 raw50 cpu
    c8=$(field "$f" par8 calls_rt)
    c64=$(field "$f" par64 calls_rt)
    r8=$(field "$f" par8 raw_calls_rt)
    r64=$(field "$f" par64 raw_calls_rt)
    row "(3) absolute (raw SDK loop: $r8)" "API calls/round trip, 8 in flight, $name" "$c8" "<= 1.2" "$(holds "$c8" "<=" 1.2)"
    row "(3) absolute (raw SDK loop: $r64)" "API calls/round trip, 64 in flight, $name" "$c64" "<= 0.8" "$(holds "$c64" "<=" 0.8)"
    p50=$(field "$f" seq p50)
    raw50=$(field "$f" seq raw_p50)
    row "(3) raw SDK loop p50 $raw50 ms" "sequential p50 ms ours (ratio to raw), $name" "$p50 ($(ratio "$p50" "$raw50"))" "ratio <= 1.1" "$(holds "$(ratio "$p50" "$raw50")" "<=" 1.1)"
    cpu=$(field "$f" par8 cpu_call_ratio)
    row "(2) raw SDK loop, same calls, same run" "CPU per API call ours/raw, 8 in flight, $name" "$cpu" "<= 1.5" "$(holds "$cpu" "<=" 1.5)"
    # Context for (2): a batch call carries several messages, so CPU per call rises as
    # calls per round trip fall; per round trip is what a user pays.
    cpu=$(ratio "$(field "$f" par8 cpu_rt_ms)" "$(field "$f" par8 raw_cpu_rt_ms)")
    row "(2) raw SDK loop: $(field "$f" par8 raw_cpu_rt_ms) ms" "CPU per round trip ours/raw, 8 in flight, $name (context)" "$cpu" "-" "-"
  done
}

# The venv of the interop tier (tests/src/python.rs): reused while its copy of the
# pinned requirements matches, else made anew in a staging directory.
py_venv() {
  local venv="$TARGET_DIR/py-venv" staging
  local check="import asyncmcp, mcp, boto3; assert asyncmcp.__version__ == '0.2.1'"
  if cmp -s "$venv/requirements.txt" tests/python/requirements.txt && "$venv/bin/python" -c "$check" 2>/dev/null; then
    echo "$venv/bin/python"
    return 0
  fi
  staging="$venv.tmp-$$"
  rm -rf "$staging"
  echo "== installing Python asyncmcp 0.2.1 (tests/python/requirements.txt) into $venv" >&2
  python3 -m venv "$staging" >&2
  "$staging/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r tests/python/requirements.txt >&2
  cp tests/python/requirements.txt "$staging/requirements.txt"
  "$staging/bin/python" -c "$check"
  rm -rf "$venv"
  mv "$staging" "$venv"
  echo "$venv/bin/python"
}

part_python() {
  local py t name f pf
  py=$(py_venv)
  start_moto
  for t in "${TOPOLOGIES[@]}"; do
    name=$(topo_name "$t")
    ours "$t" "8"
    reset_moto
    pf="$OUT/python-$name.txt"
    echo "== Python asyncmcp 0.2.1, $t: $PY_SEQ sequential, $PY_PAR at 8 in flight"
    # shellcheck disable=SC2086
    "$py" tests/python/bench_client.py --endpoint "$ENDPOINT" --transport $t --seq "$PY_SEQ" --par "$PY_PAR" \
      --in-flight 8 >"$pf" 2>"$OUT/python-$name.err" || { tail -n 20 "$OUT/python-$name.err" >&2; return 1; }
    sed 's/^/   /' "$pf"
    f="$OUT/ours-$name.txt"
    local o p
    o=$(field "$f" par8 rate); p=$(field "$pf" par8 rate)
    row "(1) Python asyncmcp 0.2.1: $p" "round trips/s, 8 in flight, $name: ours (ours/py)" "$o ($(ratio "$o" "$p"))" "ours/py >= 1" "$(holds "$(ratio "$o" "$p")" ">=" 1)"
    o=$(field "$f" seq p50); p=$(field "$pf" seq p50)
    row "(1) Python asyncmcp 0.2.1: $p ms" "sequential p50 ms, $name: ours (ours/py)" "$o ($(ratio "$o" "$p"))" "ours/py <= 1" "$(holds "$(ratio "$o" "$p")" "<=" 1)"
    o=$(field "$f" seq p99); p=$(field "$pf" seq p99)
    row "(1) Python asyncmcp 0.2.1: $p ms" "sequential p99 ms, $name: ours (ours/py)" "$o ($(ratio "$o" "$p"))" "ours/py <= 1" "$(holds "$(ratio "$o" "$p")" "<=" 1)"
    o=$(field "$f" par8 calls_rt); p=$(field "$pf" par8 calls_rt)
    row "(1) Python asyncmcp 0.2.1: $p" "API calls/round trip, 8 in flight, $name: ours (ours/py)" "$o ($(ratio "$o" "$p"))" "ours/py <= 1" "$(holds "$(ratio "$o" "$p")" "<=" 1)"
    o=$(field "$f" par8 cpu_rt_ms); p=$(field "$pf" par8 cpu_rt_ms)
    row "(1) Python asyncmcp 0.2.1: $p ms" "client+server CPU ms/round trip, 8 in flight, $name: ours (ours/py)" "$o ($(ratio "$o" "$p"))" "ours/py <= 1" "$(holds "$(ratio "$o" "$p")" "<=" 1)"
  done
}

part_scaleout() {
  echo "== (5) scale-out in the simulator"
  cargo run --release --locked -q -p asyncmcp-proto --features sim --example scale_out >"$OUT/scaleout-sim.txt"
  sed 's/^/   /' "$OUT/scaleout-sim.txt"
  local w r
  for w in 2 4 8; do
    r=$(awk -v w="$w" '$1 == "SCALE" && $2 == "workers=" w { split($4, kv, "="); print kv[2] }' "$OUT/scaleout-sim.txt")
    row "(5) 1 worker, same simulator run" "sim: throughput $w workers / (${w}x 1 worker)" "$r" ">= 0.9" "$(holds "$r" ">=" 0.9)"
  done
  start_moto
  build_moto_bins
  reset_moto
  echo "== (5) 3 server processes on one moto queue (modern era)"
  # BENCH_TRACE: every queue call of the client and the servers as a TRACE line on
  # stderr (asyncmcp-tokio/examples/support/trace.rs), so an extra run is classified.
  BENCH_TRACE=1 "$BIN/bench_client" --endpoint-url "$ENDPOINT" --transport sqs --modern --scale-out 3 --par "$PAR" \
    --in-flight 8 --server-bin "$BIN/bench_server" >"$OUT/scaleout-moto.txt" 2>"$OUT/scaleout-trace.txt" ||
    { grep -v '^TRACE ' "$OUT/scaleout-trace.txt" >&2; return 1; }
  sed 's/^/   /' "$OUT/scaleout-moto.txt"
  local answered split kinds once
  answered=$(awk '$1 == "SPLIT" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "answered") print kv[2] } }' "$OUT/scaleout-moto.txt")
  split=$(awk '$1 == "SPLIT" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "split") print kv[2] } }' "$OUT/scaleout-moto.txt")
  kinds=$(classify_runs "$OUT/scaleout-trace.txt")
  echo "   tools/call messages received more than once: $kinds"
  once=$(awk -v a="$answered" -v n="$PAR" -v k="$kinds" 'BEGIN {
    split(k, f, " "); for (i in f) { split(f[i], kv, "="); c[kv[1]] = kv[2] }
    if (a == n) print "yes"
    else if (a - n == c["moto_double"] && c["redelivered"] == 0 && c["dup_send"] == 0) print "yes (extra runs: moto double receives)"
    else print "no" }')
  row "(5) requests sent: $PAR" "moto: 3 processes, responses sent (split)" "$answered ($split; $kinds)" "each answered once" "$once"
}

# classify_runs TRACE: how the tools/call messages that were received more than once
# came to be, from the TRACE lines (`RECV mid= rc= rid= method=`):
#   moto_double  one message id received by two polls less than 1 s apart, well inside
#                the 4 s receive visibility: moto's receive_message checks `visible`
#                and marks the message received with no lock between, on a thread per
#                request (scripts/moto-double-receive.py shows it with boto3 alone);
#   redelivered  one message id received again 1 s or more later (visibility ran out);
#   dup_send     one JSON-RPC id under two message ids (a send that landed twice).
classify_runs() {
  awk '$4 == "RECV" {
      for (i = 5; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      if (f["method"] != "tools/call") next
      n[f["mid"]]++; t = $2
      if (!(f["mid"] in first)) first[f["mid"]] = t
      else if (t - first[f["mid"]] < 1000) dbl[f["mid"]] = 1
      else red[f["mid"]] = 1
      if (!((f["rid"], f["mid"]) in pair)) { pair[f["rid"], f["mid"]] = 1; mids[f["rid"]]++ }
    }
    END {
      for (m in dbl) d++
      for (m in red) r++
      for (q in mids) if (mids[q] > 1) s++
      printf "moto_double=%d redelivered=%d dup_send=%d\n", d, r, s
    }' "$1"
}

part_shared() {
  # One process hosting SESSIONS legacy sessions over one reply queue (ClientHost,
  # spawn_client_host), at most SHARED_IN_FLIGHT busy at once, against anchors of the
  # same run, each one client on that queue: the target is one client sending the
  # sessions' mix of messages (2.5 per round trip: a session's initialize,
  # notifications/initialized and tools/call; the anchor's ping, a notification and
  # tools/call) at the same in-flight; context: echo calls only (2 per round trip), and
  # one request at a time (each session as a client of its own).
  start_moto
  build_moto_bins
  reset_moto
  local sessions=${SESSIONS:-1000} in_flight=${SHARED_IN_FLIGHT:-64} f="$OUT/shared.txt"
  echo "== (6) $sessions legacy sessions over one reply queue, $in_flight busy at once"
  "$BIN/bench_shared" --endpoint-url "$ENDPOINT" --sessions "$sessions" --in-flight "$in_flight" \
    --server-bin "$BIN/bench_server" >"$f"
  grep -vE '^BENCH ' "$f" | sed 's/^/   /'
  local crt cmsg art amsg rss unrouted seq mix
  crt=$(field "$f" shared calls_rt)
  cmsg=$(field "$f" shared calls_msg)
  art=$(field "$f" shared anchor_calls_rt)
  amsg=$(field "$f" shared anchor_calls_msg)
  rss=$(field "$f" shared rss_session_bytes)
  unrouted=$(field "$f" shared unrouted)
  seq=$(field "$f" shared seq_calls_rt)
  mix=$(field "$f" shared mix_calls_rt)
  row "(6) one client, the sessions' message mix, $in_flight in flight: $mix" "API calls/round trip, $sessions sessions over one reply queue" \
    "$crt" "<= anchor" "$(holds "$crt" "<=" "$mix")"
  row "(6) one client, echo calls only, $in_flight in flight: $amsg" "API calls/message carried, $sessions sessions (context)" \
    "$cmsg" "-" "-"
  row "(6) each session a client of its own (1 in flight): $seq" "API calls/round trip, $sessions sessions over one reply queue" \
    "$crt" "<= 0.5x anchor" "$(holds "$crt" "<=" "$(awk -v s="$seq" 'BEGIN { print s / 2 }')")"
  row "(6) absolute (resident set growth)" "bytes per open session, $sessions sessions (unrouted replies: $unrouted)" \
    "$rss" "<= 16384" "$(holds "$rss" "<=" 16384)"
}

for p in $PARTS; do
  "part_$p"
done
stop_moto

echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load now: $(cut -d' ' -f1-3 /proc/loadavg), $(($(date +%s) - STARTED)) s)"
{
  printf 'anchor\tfigure\tmeasured\ttarget\tholds\n'
  cat "$ROWS"
} | awk -F'\t' '
  { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
  END {
    for (r = 1; r <= n; r++) {
      line = "|"
      for (i = 1; i <= 5; i++) line = line sprintf(" %-" w[i] "s |", cell[r, i])
      print line
      if (r == 1) { line = "|"; for (i = 1; i <= 5; i++) { d = ""; for (j = 0; j < w[i] + 2; j++) d = d "-"; line = line d "|" } print line }
    }
  }'
