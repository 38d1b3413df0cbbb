#!/usr/bin/env bash
# The main example under a numerical fault, injected with --inject-nan-at-step (a NaN loss at one
# step). Checks that the run
#   - stops with an error naming the step and the first parameter whose gradient is not finite,
#     and leaves the last good checkpoint (written before the fault) on disk, loadable;
#   - with --skip-nonfinite, skips that step, completes and reports one skipped step.
# TAPEGRAD_DATA_DIR is the corpus (default: fetched into data/); TAPEGRAD_BUILD_DIR the build
# (default build/release).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/small_run.sh
small+=(--epochs 1 --limit-train 200 --inject-nan-at-step 5)

# expect_failure NAME PATTERN ARGS...: the run must fail and print PATTERN (an extended regex).
expect_failure() {
  local name=$1 pattern=$2
  shift 2
  if "$train" "${small[@]}" --out "$work/$name" "$@" >"$work/$name.log" 2>&1; then
    echo "$name: the run should have stopped at the NaN" >&2
    exit 1
  fi
  if ! grep -Eq "$pattern" "$work/$name.log"; then
    echo "$name: no '$pattern' in the output:" >&2
    tail -5 "$work/$name.log" >&2
    exit 1
  fi
  echo "$name: $(grep -E "$pattern" "$work/$name.log")"
}

expect_failure stop "step 5: the loss is nan .*'[a-z0-9_.]+' is the first parameter with a non-finite gradient" \
  --checkpoint-every 2
"$train" --check-checkpoint "$work/stop/checkpoint.safetensors" | grep -q "at step 4 " ||
  { echo "stop: the checkpoint of step 4 is not what is on disk" >&2; exit 1; }
echo "stop: the checkpoint of step 4, the last good one, is on disk and loads"

"$train" "${small[@]}" --out "$work/skip" --skip-nonfinite >"$work/skip.log" 2>&1
grep -q "skipped 1 steps with a non-finite loss or gradient" "$work/skip.log" ||
  { echo "skip: no count of skipped steps:" >&2; tail -5 "$work/skip.log" >&2; exit 1; }
echo "skip: completed, $(grep "skipped" "$work/skip.log")"
echo "nonfinite test: passed"
