#!/usr/bin/env bash
# The async-std adapter with real AWS (feature `aws`) must carry no tokio runtime.
# The SDK's core crates (aws-smithy-async, -runtime, -runtime-api) and hyper 1 depend
# on tokio unconditionally for its `sync` primitives (channels, semaphores): that
# much is unavoidable and harmless. What must not appear is any tokio runtime piece
# (rt, time, net, io, fs, process, signal, macros), mio, or a tokio-based HTTP stack.
# Usage: bash scripts/check-no-tokio-runtime.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for features in aws "aws,smol"; do
  tree=$(cargo tree -p asyncmcp-async-std -e normal --features "$features" --prefix none --locked)
  banned=$(echo "$tree" | awk '{print $1}' | sort -u \
    | grep -E '^(mio|tokio-util|tokio-rustls|tokio-stream|hyper-util|hyper-rustls|async-compat|aws-config|socket2)$' || true)
  if [ -n "$banned" ]; then
    echo "asyncmcp-async-std --features $features pulls in a tokio stack: $banned" >&2
    exit 1
  fi
  tokio_features=$(cargo tree -p asyncmcp-async-std -e normal,features --features "$features" -i tokio \
      --prefix none --locked 2>/dev/null \
    | grep -o '^tokio feature "[^"]*"' | sed 's/^tokio feature "\(.*\)"$/\1/' | sort -u \
    | grep -vxE 'default|sync' || true)
  if [ -n "$tokio_features" ]; then
    echo "asyncmcp-async-std --features $features turns on tokio runtime features: $tokio_features" >&2
    exit 1
  fi
done
echo "no tokio runtime in asyncmcp-async-std (aws, aws+smol): tokio appears with 'sync' only"

# A smol user (default features off) links no async-std.
for features in smol "aws,smol"; do
  if cargo tree -p asyncmcp-async-std -e normal --no-default-features --features "$features" --prefix none --locked \
      | awk '{print $1}' | grep -qx 'async-std'; then
    echo "asyncmcp-async-std --no-default-features --features $features pulls in async-std" >&2
    exit 1
  fi
done
echo "asyncmcp-async-std with smol only (smol, aws+smol): no async-std"
