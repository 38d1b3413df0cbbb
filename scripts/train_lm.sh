#!/usr/bin/env bash
# README command 3: fetches Debian's fortune cookies once (data/fortunes), builds in Release and
# trains the small byte-level language model (under ten minutes on two cores), printing its
# table, curves and samples. Extra arguments go to the training program (try --help); the run
# lands in runs/lm, where build/release/examples/generate --run runs/lm "The " reads it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/fetch_fortunes.sh data
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON
cmake --build build/release -j "$(nproc)" --target train_lm generate
build/release/examples/train_lm --data-dir data/fortunes/usr/share/games/fortunes --run runs/lm "$@"
