#!/usr/bin/env bash
# README command 1, the main job: installs what is missing, builds in Release and runs the main
# example. Extra arguments go to the example (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON
cmake --build build/release -j "$(nproc)" --target demo_train
build/release/examples/demo_train "$@"
