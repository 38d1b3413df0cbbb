#!/usr/bin/env bash
# README command 1, the main job: installs what is missing, fetches the SpamAssassin corpus once
# (data/), builds in Release and trains the sentence classifier, printing its metrics. Extra
# arguments go to the training program (try --help); the run lands in runs/classifier.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/fetch_data.sh data
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON
cmake --build build/release -j "$(nproc)" --target train_classifier predict_classifier attention_walkthrough
build/release/examples/train_classifier --data-dir data/spamassassin/package/data "$@"
