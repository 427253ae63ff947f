#!/usr/bin/env bash
# Fuzzes one target with cargo-fuzz for SECONDS seconds, in ONE process, using (and
# growing) the committed corpus fuzz/corpus/TARGET; prints libFuzzer's final stats.
# Crash inputs land in fuzz/artifacts/TARGET/ (gitignored): minimize with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir fuzz -s none TARGET fuzz/artifacts/TARGET/crash-...
# and keep the result under fuzz/regressions/TARGET/ so the replay test runs it.
#
# Usage: bash scripts/fuzz.sh TARGET SECONDS
# Env:   FUZZ_SANITIZER (default none: the fuzzed code is safe Rust; `address` works too)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# cargo fuzz passes -Z flags to rustc: allow them on a stable toolchain.
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
# The fuzz crate has its own target dir (fuzz/target), whatever the caller uses.
unset CARGO_TARGET_DIR

corpus="fuzz/corpus/$target"
mkdir -p "$corpus" fuzz/target
log="fuzz/target/fuzz-$target.log"
# No -jobs/-workers: libFuzzer's default is a single in-process worker (-jobs=1 would
# add a supervising process and move the output to fuzz-0.log).
set +e
cargo fuzz run --fuzz-dir fuzz -s "${FUZZ_SANITIZER:-none}" "$target" "$corpus" -- \
  -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
status=$?
set -e
echo "== $target: libFuzzer log in $log"
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^(Done |stat::)' "$log" || true
echo "corpus: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
if [ "$status" -ne 0 ]; then
  grep -E 'panicked at|SUMMARY|Test unit written' "$log" || tail -n 30 "$log"
fi
exit "$status"
