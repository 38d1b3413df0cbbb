#!/usr/bin/env bash
# Fuzzes every reader of untrusted bytes (tests/fuzz, docs/reliability.md): builds the libFuzzer
# targets with clang, AddressSanitizer and UBSan in build/fuzz, then runs each target, one after
# the other, on a scratch copy of its seed corpus. Exits non-zero if any target found a crash, a
# hang (over 5 s for one input), a leak or a sanitizer report; the input that did it is saved as
# build/fuzz/artifacts/<target>-crash-* (or -timeout-, -leak-, -oom-).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [RUNS_PER_TARGET]
#
# SECONDS_PER_TARGET defaults to 60 (0: no time limit); RUNS_PER_TARGET (inputs) has no limit by
# default. A target stops at whichever limit comes first: `bash scripts/fuzz.sh 0 1000000` runs a
# million inputs through each.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
runs=${2:--1}
targets=(safetensors checkpoint model_config vocabulary mail tokenizer)

bash scripts/deps.sh clang libfuzzer-14-dev

CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -gline-tables-only" -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

dictionary_of() {
  case "$1" in
    mail) echo tests/fuzz/mail.dict ;;
    tokenizer) echo "" ;;
    *) echo tests/fuzz/json.dict ;;
  esac
}

artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
summary=()
for target in "${targets[@]}"; do
  echo "== fuzz_$target"
  cp -r "tests/fuzz/corpus/$target" "$scratch/$target"
  dictionary=$(dictionary_of "$target")
  log="$scratch/$target.log"
  status=ok
  build/fuzz/tests/fuzz/"fuzz_$target" "$scratch/$target" -max_total_time="$seconds" \
    -runs="$runs" -max_len=4096 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    ${dictionary:+-dict="$dictionary"} -artifact_prefix="$artifacts/$target-" 2>"$log" ||
    status=FAILED
  if [ "$status" = FAILED ]; then
    tail -n 60 "$log"
    failed+=("$target")
  fi
  inputs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  summary+=("$(printf '%-14s %10s inputs %6s s %8s exec/s  %s' "$target" "${inputs:-?}" \
    "${elapsed:-?}" "${rate:-?}" "$status")")
done

echo "== Summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "Findings in: ${failed[*]} (inputs in $artifacts)" >&2
  exit 1
fi
