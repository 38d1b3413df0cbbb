#!/usr/bin/env bash
# Crash test of the main example's checkpoints: SIGKILL at random moments, resume, same weights.
#   bash scripts/crash_test.sh [TRIALS]        (default 10)
# Trains a small configuration once without interruption (the reference), then TRIALS times in a
# fresh run directory: starts the training, kills it with SIGKILL after a random delay (up to
# three times per trial; on odd trials with --checkpoint-every 1 so that kills land in saves),
# checks after every kill that the checkpoint on disk loads, and resumes with --resume until the
# run completes. The last weights (final_weights.safetensors) and the best model
# (model.safetensors) must equal the reference's byte for byte. Exits non-zero on any difference
# or unloadable checkpoint. A kill that leaves a temporary file of the atomic writer behind
# (.<name>.tmp.<pid>.<n>) landed while a save was writing or syncing the file; those are counted
# (kills while a save encodes the tensors or syncs the directory leave no trace and are not).
# CRASH_TEST_SEED (default 1) seeds the delays; TAPEGRAD_DATA_DIR is the corpus (default: fetched
# into data/ by scripts/fetch_data.sh); TAPEGRAD_BUILD_DIR the build (default build/release).
set -euo pipefail
cd "$(dirname "$0")/.."

trials="${1:-10}"
RANDOM="${CRASH_TEST_SEED:-1}"
max_kills_per_trial=3

source scripts/small_run.sh
small+=(--epochs 4 --limit-train 2000)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
digest() { cat "$1/final_weights.safetensors" "$1/model.safetensors" | sha256sum | cut -d' ' -f1; }

started=$(now_ms)
"$train" "${small[@]}" --out "$work/reference" >"$work/reference.log"
reference_ms=$(($(now_ms) - started))
reference=$(digest "$work/reference")
echo "reference: ${reference_ms} ms, weights $reference"

kills=0
kills_in_saves=0
for trial in $(seq 1 "$trials"); do
  out="$work/trial$trial"
  every=(--checkpoint-every 0)
  if [ $((trial % 2)) -eq 1 ]; then every=(--checkpoint-every 1); fi
  trial_kills=0
  while true; do
    "$train" "${small[@]}" "${every[@]}" --out "$out" --resume >>"$out.log" 2>&1 &
    pid=$!
    if [ "$trial_kills" -lt "$max_kills_per_trial" ]; then
      delay_ms=$(((RANDOM * 32768 + RANDOM) % reference_ms))
      sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    status=0
    wait "$pid" 2>/dev/null || status=$?  # (quiet: no "Killed" line from bash)
    if [ "$status" -eq 0 ]; then break; fi
    if [ "$status" -ne 137 ]; then
      echo "trial $trial: training failed with status $status; its log:" >&2
      cat "$out.log" >&2
      exit 1
    fi
    trial_kills=$((trial_kills + 1))
    leftovers=$(find "$out" -name ".*.tmp.$pid.*" | wc -l)
    if [ "$leftovers" -gt 0 ]; then kills_in_saves=$((kills_in_saves + 1)); fi
    if [ -e "$out/checkpoint.safetensors" ] &&
      ! "$train" --check-checkpoint "$out/checkpoint.safetensors" >/dev/null 2>"$work/check.err"; then
      echo "trial $trial: the checkpoint does not load after a kill at ${delay_ms} ms:" >&2
      cat "$work/check.err" >&2
      exit 1
    fi
  done
  kills=$((kills + trial_kills))
  result=$(digest "$out")
  resumes=$(grep -c "^resumed from" "$out.log" || true)
  echo "trial $trial: ${every[*]}, $trial_kills kills, $resumes resumed from a checkpoint," \
    "weights $result"
  if [ "$result" != "$reference" ]; then
    echo "trial $trial: the resumed run's weights differ from the reference" >&2
    exit 1
  fi
done
echo "crash test: $trials trials, $kills kills ($kills_in_saves during a save), every resumed run" \
  "bit-identical to the reference, in $((($(now_ms) - started) / 1000)) s"
