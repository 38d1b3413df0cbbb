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

data_dir="${TAPEGRAD_DATA_DIR:-data/spamassassin/package/data}"
build="${TAPEGRAD_BUILD_DIR:-build/release}"
if [ -z "${TAPEGRAD_DATA_DIR:-}" ]; then bash scripts/fetch_data.sh data; fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target train_classifier
train="$build/examples/train_classifier"
small=(--data-dir "$data_dir" --threads 1 --epochs 1 --limit-train 200 --batch-size 16
  --d-model 16 --heads 2 --ffn 32 --max-len 32 --body-words 24 --inject-nan-at-step 5)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
