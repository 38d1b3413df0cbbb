#!/usr/bin/env bash
# The attention grid: MultiHeadAttention d 256, 8 heads, batch 8, T = 128 .. 2048,
# forward and forward + backward, plain and fused paths, 1 and 2 threads; one process per case
# (peak RSS is per process). Writes one JSON line per case to $1 (default attention.jsonl) and
# prints a table (cpu: CPU ms per step summed over threads, what counts on a busy machine).
#
#   cmake --build build/rel --target bench_attention && bash bench/bench_attention.sh out.jsonl
set -euo pipefail
binary=${BENCH_ATTENTION:-build/rel/bench/bench_attention}
out=${1:-attention.jsonl}
: >"$out"
for seq in 128 512 1024 2048; do
  case $seq in 128) steps=21 ;; 512) steps=9 ;; 1024) steps=5 ;; *) steps=3 ;; esac
  for backward in 0 1; do
    for threads in 1 2; do
      for path in plain fused; do
        "$binary" --path $path --seq $seq --threads $threads --backward $backward \
          --steps $steps | tee -a "$out"
      done
    done
  done
done
python3 - "$out" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
key = lambda r: (r["case"], r["seq_len"], r["threads"])
by = {}
for r in rows: by.setdefault(key(r), {})[r["path"]] = r
print(f"{'case':<14}{'T':>6}{'thr':>4}{'plain ms':>11}{'fused ms':>10}{'speedup':>9}"
      f"{'plain cpu':>11}{'fused cpu':>11}{'plain +MB':>11}{'fused +MB':>11}")
for (case, seq, threads), paths in by.items():
  p, f = paths["plain"], paths["fused"]
  print(f"{case:<14}{seq:>6}{threads:>4}{p['ms']:>11.1f}{f['ms']:>10.1f}{p['ms'] / f['ms']:>9.2f}"
        f"{p['cpu_ms']:>11.1f}{f['cpu_ms']:>11.1f}"
        f"{p['peak_growth_mb']:>11.0f}{f['peak_growth_mb']:>11.0f}")
EOF
