#!/usr/bin/env bash
# Chaos on a local moto: a few thousand tools/call requests (rmcp clients and server,
# both eras) while the server's link to SQS is cut and restored through a relay, the
# server process is killed with SIGKILL and restarted, and about one request in ten
# reaches the server as 2-5 copies. Prints
#   sent N / answered N / errors N / run twice N / wrong answers N
# then the same per era, errors by kind, and the faults it injected
# (tests/examples/chaos.rs explains the set-up).
# Usage: bash scripts/chaos.sh [--requests N] [--seconds N] [--concurrency N]
#                              [--legacy N] [--seed N]
#   defaults: 3000 requests, 32 workers (4 legacy), 300 s; the run stops by itself
#   after --seconds (at most 600: the whole run, build excluded, is bounded to 10
#   minutes).
# Env:   PROFILE=release builds optimized (default: debug, shares the test build).
# Needs python3 with moto[server] (or the tests' venv under the target directory).
# Exit status: 0 when no call was lost or wrongly answered, every modern call was
# answered, and no request ran twice in one server process; else 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/find-moto.sh
source scripts/find-moto.sh

PROFILE=${PROFILE:-debug}
flag=""
[ "$PROFILE" = release ] && flag="--release"
echo "== building the chaos example ($PROFILE)"
# shellcheck disable=SC2086
cargo build $flag --locked -p asyncmcp-tests --example chaos 2>&1 | tail -n 1
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/examples/chaos"

PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp "/tmp/chaos-moto-$PORT-XXXX.log")
"$PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
  # moto by its own PID, never by name.
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT
ENDPOINT="http://127.0.0.1:$PORT"
wait_for_moto "$ENDPOINT" "$LOG"
echo "== moto $("$PYTHON" -c 'import moto; print(moto.__version__)') on $ENDPOINT (pid $MOTO_PID)"

# The example stops itself after --seconds; `timeout` is the backstop (10 min + grace).
status=0
timeout --signal=KILL 630 "$BIN" run --endpoint "$ENDPOINT" "$@" || status=$?
exit "$status"
