#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 10 million) with the nightly toolchain
# (`cargo +nightly`, or RUSTC_BOOTSTRAP=1 on stable) and prints libFuzzer's final statistics.
# Usage: fuzz/run.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_request decode_response link_stream data_headers agent_session)
tc=+nightly
rustup toolchain list 2>/dev/null | grep -q nightly || { tc=; export RUSTC_BOOTSTRAP=1; }
for t in "${targets[@]}"; do
  echo "== $t ($runs runs)"
  start=$(date +%s)
  extra=()
  # The agent serves each client on a detached thread that ends a moment after the session;
  # LeakSanitizer, run between inputs, counts the thread's bookkeeping as leaked. Agent leaks
  # are measured for real by crates/rsm-testkit/tests/lifetime.rs (fds, maps, RSS).
  # Sessions of at most 256 bytes (~80 messages): each message is a round trip to the agent,
  # so longer inputs cost far more time than the states they reach.
  [ "$t" = agent_session ] && extra=(-detect_leaks=0 -max_len=256)
  cargo $tc fuzz run -O "$t" -- -runs="$runs" -print_final_stats=1 "${extra[@]}" 2>&1 \
    | grep -E "^(stat::|Done|INFO: (Seed|Loaded)|==[0-9]+==|SUMMARY)" || true
  echo "   wall $(( $(date +%s) - start )) s"
done
