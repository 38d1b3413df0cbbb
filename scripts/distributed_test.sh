#!/usr/bin/env bash
# The main example on several processes against one: a small configuration without dropout,
# trained (1) by one process, (2) by 2 ranks (mpirun -np 2 ... --distributed), (3) by 2 ranks
# stopped mid-epoch (--stop-after-steps) and resumed by one process, (4) by one process stopped
# and resumed by 2 ranks. Each run's epoch table (losses, accuracies, F1) and test F1 must match
# the first's to 2e-4: the same global batches, the gradients averaged over the ranks, equal up to
# float rounding. TAPEGRAD_DATA_DIR is the corpus (default: fetched into data/);
# TAPEGRAD_BUILD_DIR the build (default build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/small_run.sh
small+=(--epochs 2 --limit-train 2000 --dropout 0)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI runs as root
mpirun=(mpirun -np 2 --bind-to none)

# The numbers a run prints: its epoch rows without the time column, then its test F1 lines.
figures() { awk -F'|' '/^ +[0-9]+ \|/ { NF = 7; print } $1 ~ /^F1 / { print }' "$1"; }
compare() {  # label, log
  if ! paste -d' ' <(figures "$work/one.log" | tr -s ' |' ' ') <(figures "$2" | tr -s ' |' ' ') |
    awk '{ half = NF / 2; for (i = 1; i <= half; ++i) { d = $i - $(i + half); if (d < 0) d = -d
           if (d > 2e-4) { print "differs: " $0; bad = 1 } } } END { exit bad }'; then
    echo "FAIL: $1 does not match one process; its log:"
    cat "$2"
    exit 1
  fi
  [ "$(figures "$2" | wc -l)" -eq "$(figures "$work/one.log" | wc -l)" ] || {
    echo "FAIL: $1 printed another number of epochs"
    exit 1
  }
  echo "$1: matches one process"
}

"$train" "${small[@]}" --out "$work/one" >"$work/one.log"
figures "$work/one.log"
"${mpirun[@]}" "$train" "${small[@]}" --distributed --out "$work/two" >"$work/two.log" 2>&1
compare "2 ranks" "$work/two.log"
"${mpirun[@]}" "$train" "${small[@]}" --distributed --out "$work/2to1" --stop-after-steps 100 \
  >"$work/2to1.log" 2>&1
"$train" "${small[@]}" --out "$work/2to1" --resume >>"$work/2to1.log"
compare "2 ranks stopped at step 100, resumed by 1 process" "$work/2to1.log"
"$train" "${small[@]}" --out "$work/1to2" --stop-after-steps 130 >"$work/1to2.log"
"${mpirun[@]}" "$train" "${small[@]}" --distributed --out "$work/1to2" --resume \
  >>"$work/1to2.log" 2>&1
compare "1 process stopped at step 130, resumed by 2 ranks" "$work/1to2.log"
