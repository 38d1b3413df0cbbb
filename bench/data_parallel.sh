#!/usr/bin/env bash
# Data-parallel training throughput on this machine: configs A and B (bench/README.md), 2 ranks
# × 1 thread (one core each): one rank alone, both without communication, with
# DistributedDataParallel and with a blocking all-reduce, in turns (bench/data_parallel.cpp).
# Prints the CPU, each config's table, the throughput over one rank's and the share of the
# all-reduce hidden behind backward(); then the all-reduce's latency and per-byte cost.
#   bash bench/data_parallel.sh [--configs "A B"] [extra arguments for bench/data_parallel]
# Run it on a quiet machine (uptime): 2 ranks need both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
configs="A B"
if [ "${1:-}" = "--configs" ]; then
  configs=$2
  shift 2
fi
bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON >/dev/null
cmake --build build/release -j "$(nproc)" --target data_parallel
bench=build/release/bench/data_parallel
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI and containers run as root

cpuinfo() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'; }
echo "CPU: $(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo model))," \
  "$(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for config in $configs; do
  echo
  mpirun -np 2 --bind-to core "$bench" --config "$config" "$@"
done
echo
mpirun -np 2 --bind-to core "$bench" --all-reduce-sizes
