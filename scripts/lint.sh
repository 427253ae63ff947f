#!/usr/bin/env bash
# The lint gates CI enforces. Usage: bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== rustdoc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked
echo "== purity gate: asyncmcp-proto depends on no runtime, no I/O stack, no AWS crate"
banned=$(cargo tree -p asyncmcp-proto -e normal --prefix none --locked \
  | awk '{print $1}' | sort -u \
  | grep -E '^(tokio|futures|futures-.*|async-std|async-io|mio|hyper|hyper-.*|aws-.*)$' || true)
if [ -n "$banned" ]; then
  echo "asyncmcp-proto must stay sans-IO, but its dependency tree holds: $banned" >&2
  exit 1
fi
echo "purity gate: ok"
echo "== asyncmcp-driver links no AWS SDK and no runtime (AWS lives in asyncmcp-aws)"
banned=$(cargo tree -p asyncmcp-driver -e normal --prefix none --locked \
  | awk '{print $1}' | sort -u \
  | grep -E '^(tokio|async-std|async-io|smol|mio|hyper|aws-.*)$' || true)
if [ -n "$banned" ]; then
  echo "asyncmcp-driver must stay runtime-agnostic and AWS-free, but its dependency tree holds: $banned" >&2
  exit 1
fi
echo "driver gate: ok"
echo "== asyncmcp-cli goes through the adapter: no direct asyncmcp-driver or asyncmcp-proto"
direct=$(cargo tree -p asyncmcp-cli -e normal --depth 1 --prefix none --locked \
  | awk '{print $1}' | grep -E '^asyncmcp-(driver|proto)$' || true)
if [ -n "$direct" ]; then
  echo "asyncmcp-cli must reach the core and the driver through asyncmcp-tokio, but depends directly on: $direct" >&2
  exit 1
fi
echo "command gate: ok"
echo "== no tokio runtime under asyncmcp-async-std --features aws; no async-std with smol only"
bash scripts/check-no-tokio-runtime.sh
