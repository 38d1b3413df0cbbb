#!/usr/bin/env bash
# README command 2: installs what is missing, builds in Release with -Werror, runs the whole
# suite with ctest and prints its summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON
cmake --build build/release -j "$(nproc)"
ctest --test-dir build/release -j "$(nproc)" --output-on-failure
