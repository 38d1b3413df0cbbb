#!/usr/bin/env bash
# The libtorch comparison in one command: installs what is missing (libtorch-dev and the rest, via
# scripts/deps.sh), builds bench/compare in Release (build/compare), and runs every case, passing
# its arguments on:   bash bench/compare.sh --json compare.json [--cases train --markdown ...]
# About 15-20 minutes on 2 cores; `--quick` (3-5 steps a case) takes about 10.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh libtorch-dev libopenblas-dev
cmake -S . -B build/compare -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCH=ON -DTAPEGRAD_BUILD_COMPARE=ON >/dev/null
cmake --build build/compare --target compare -j 2
compare=build/compare/bench/compare/compare
if [ ! -x "$compare" ]; then
  echo "compare.sh: $compare was not built (libtorch, CLI11 or OpenBLAS not found by CMake)" >&2
  exit 1
fi

# Debian's OpenBLAS 0.3.21 does not recognise CPUs newer than it and falls back to its SSE3
# ("Prescott") kernels, several times slower than its AVX-512 ones: name them. libtorch calls the
# same OpenBLAS (through libblas.so.3), so this serves both references.
if grep -qw avx512f /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  export OPENBLAS_CORETYPE=SkylakeX
  echo "compare.sh: AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX (OpenBLAS 0.3.21 would pick SSE3 kernels)"
fi
# libtorch runs on libgomp, whose waits spin for a while by default: the best on idle cores, and
# what its users get. While other jobs hold the cores, every 2-thread region then waits for a
# scheduler slice (milliseconds) and 2-thread figures mean nothing: so wait up to 5 minutes in
# all for free cores (--wait-quiet; the table's "free cores" column says what each case had). On
# a machine that is never quiet, OMP_WAIT_POLICY=PASSIVE bash bench/compare.sh keeps libtorch's
# figures sane at ~10-40 µs more per parallel region (bench/README.md).
echo "compare.sh: OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset, libgomp default}"
echo "compare.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on the machine make the figures noisy)"
exec "$compare" --wait-quiet 300 "$@"
