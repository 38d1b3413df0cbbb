#!/usr/bin/env bash
# A rank that dies or freezes in the middle of training: the run must end with a clear message
# within 30 s, not hang.
#   1. Rank 1 kills itself (SIGKILL, a crashed machine) at step 5: mpirun notices the lost process
#      and ends the run, naming the rank and the signal.
#   2. Rank 1 stops itself (SIGSTOP, a frozen machine) at step 5: rank 0's next all-reduce waits
#      out its --timeout of 5 s, says so, and ends the run (ProcessGroup::abort).
# Usage: kill_rank.sh path/to/ddp_worker
set -uo pipefail
worker=$1

expect_stop() {  # label, text the output must hold, worker arguments...
  local label=$1 expected=$2
  shift 2
  local started=$SECONDS output status
  output=$(timeout 90 mpirun -np 2 --bind-to none --oversubscribe "$worker" --steps 40 \
    --stop-rank 1 --stop-step 5 "$@" 2>&1)
  status=$?
  local elapsed=$((SECONDS - started))
  echo "== $label: exit status $status after $elapsed s; the run's last lines:"
  echo "$output" | grep -v '^step ' | tail -n 12
  if [ "$status" -eq 0 ]; then echo "FAIL: $label: the run ended as if nothing happened"; exit 1; fi
  if [ "$elapsed" -gt 30 ]; then echo "FAIL: $label: took $elapsed s to stop (limit 30)"; exit 1; fi
  if ! grep -q -- "$expected" <<<"$output"; then
    echo "FAIL: $label: the output does not say '$expected'"
    exit 1
  fi
}

expect_stop "rank 1 killed" "rank 1 with PID .* exited on signal 9" --stop-signal KILL
expect_stop "rank 1 frozen" "rank 0 of 2: all_reduce of .* did not complete within 5 s" \
  --stop-signal STOP --timeout 5
echo "both runs stopped with a clear message"
