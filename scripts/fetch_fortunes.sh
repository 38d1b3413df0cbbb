#!/usr/bin/env bash
# Fetches the text corpus of the language-model example once: Debian's fortune cookies, the
# packages `fortunes` and `fortunes-min` (which `fortunes` depends on, and which holds the
# `fortunes`, `literature` and `riddles` files), version 1:1.99.1-7.3, by `apt-get download`.
#   bash scripts/fetch_fortunes.sh [DATA_DIR]        (DATA_DIR defaults to data/)
# The text lands in DATA_DIR/fortunes/usr/share/games/fortunes/. Each .deb's SHA-256 is checked
# and it is unpacked with `dpkg-deb -x` (nothing is installed on the system); the cache is either
# complete or absent (data_cache.sh), and a complete one is left alone.
set -euo pipefail

version="1:1.99.1-7.3"
declare -A deb_sha256=(
  [fortunes]="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"
  [fortunes-min]="9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07"
)

source "$(dirname "$0")/data_cache.sh"
data_dir="${1:-data}"
cache="$data_dir/fortunes"
text="$cache/usr/share/games/fortunes"
cache_open "$cache" "Fortunes corpus"
for package in fortunes fortunes-min; do
  echo "Fetching $package=$version"
  # apt-get download writes into the current directory; -o keeps its sandbox user out of the way.
  if ! (cd "$staging" && apt-get download -q -o APT::Sandbox::User=root "$package=$version" >/dev/null); then
    echo "error: apt-get could not download $package=$version (offline, or no package lists:" \
      "run apt-get update)" >&2
    exit 1
  fi
  deb="$(ls "$staging"/"${package}"_*.deb)"
  verify_sha256 "$deb" "${deb_sha256[$package]}"
  dpkg-deb -x "$deb" "$staging/content"
done
if [ ! -f "$staging/content/usr/share/games/fortunes/fortunes" ]; then
  echo "error: the packages hold no usr/share/games/fortunes/fortunes" >&2
  exit 1
fi
cache_close "$cache"
echo "Fortunes corpus ready at $text"
