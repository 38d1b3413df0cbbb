#!/usr/bin/env bash
# README command 2: installs what is missing, builds in Release with -Werror, runs the whole
# suite with ctest and prints its summary. A test that hangs fails, named, after 5 minutes (the
# slowest takes seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON
cmake --build build/release -j "$(nproc)"
ctest --test-dir build/release -j "$(nproc)" --timeout 300 --output-on-failure
