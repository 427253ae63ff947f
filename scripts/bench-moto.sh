#!/usr/bin/env bash
# End-to-end benchmark on a local moto: an rmcp client calls an `echo` tool (1 KiB)
# on an rmcp server in another process, 200 calls one at a time, then 400 with 8 in
# flight, over sqs, sns-sqs (envelope) and sns-sqs (raw delivery), in the legacy and
# the modern era; prints round trips/s, latency percentiles, API calls and CPU time
# per round trip, and the ratio to a raw-SDK loop in the same run.
# Usage: bash scripts/bench-moto.sh   (needs python3 with moto[server]; see AWS.md)
# Env:   MOTO_KEEPALIVE=1 serves moto with HTTP keep-alive (scripts/moto_keepalive.py,
#        installs waitress into a venv under the target dir): stock moto closes every
#        connection, so each SDK call pays a TCP connect that AWS does not charge.
set -euo pipefail
cd "$(dirname "$0")/.."

SEQ=${SEQ:-200}
PAR=${PAR:-400}
IN_FLIGHT=${IN_FLIGHT:-8}
# shellcheck source=scripts/find-moto.sh
source scripts/find-moto.sh

echo "== building (release)"
cargo build --release --locked -p asyncmcp-tokio --features aws,rmcp --example bench_client --example bench_server 2>&1 | tail -n 1
BIN="${CARGO_TARGET_DIR:-target}/release/examples"

PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp "/tmp/bench-moto-$PORT-XXXX.log")
if [ "${MOTO_KEEPALIVE:-0}" = 1 ]; then
  if ! "$PYTHON" -c "import waitress" >/dev/null 2>&1; then
    kvenv="${CARGO_TARGET_DIR:-target}/moto-keepalive-venv"
    [ -x "$kvenv/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$kvenv"
    "$kvenv/bin/python" -c "import waitress, moto.server" >/dev/null 2>&1 ||
      "$kvenv/bin/python" -m pip install -q 'waitress==3.0.2' "moto[server]==$("$PYTHON" -c 'import moto; print(moto.__version__)')"
    PYTHON="$kvenv/bin/python"
  fi
  "$PYTHON" scripts/moto_keepalive.py 127.0.0.1 "$PORT" >"$LOG" 2>&1 &
  SERVED="moto with keep-alive (waitress)"
else
  "$PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
  SERVED="moto (werkzeug: a new connection per call)"
fi
MOTO_PID=$!
cleanup() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
trap cleanup EXIT
ENDPOINT="http://127.0.0.1:$PORT"
wait_for_moto "$ENDPOINT" "$LOG"
echo "== $SERVED $("$PYTHON" -c 'import moto; print(moto.__version__)') on $ENDPOINT (pid $MOTO_PID), $(nproc) cores"

for era in legacy modern; do
  era_flag=""
  [ "$era" = modern ] && era_flag="--modern"
  for topology in "sqs" "sns-sqs" "sns-sqs --raw"; do
    curl -sf -X POST "$ENDPOINT/moto-api/reset" >/dev/null
    # shellcheck disable=SC2086
    "$BIN/bench_client" --endpoint-url "$ENDPOINT" --transport $topology $era_flag \
      --seq "$SEQ" --par "$PAR" --in-flight "$IN_FLIGHT" --server-bin "$BIN/bench_server"
  done
done
echo "== targets: <= 2.5 API calls per round trip with $IN_FLIGHT in flight; <= 0.4 ms client+server CPU per round trip"
