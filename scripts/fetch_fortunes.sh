#!/usr/bin/env bash
# Fetches the text corpus of the language-model example once: Debian's fortune cookies, the
# packages `fortunes` and `fortunes-min` (which `fortunes` depends on, and which holds the
# `fortunes`, `literature` and `riddles` files), version 1:1.99.1-7.3, by `apt-get download`.
#   bash scripts/fetch_fortunes.sh [DATA_DIR]        (DATA_DIR defaults to data/)
# The text lands in DATA_DIR/fortunes/usr/share/games/fortunes/. Each .deb's SHA-256 is checked
# and it is unpacked with `dpkg-deb -x` (nothing is installed on the system) in a temporary
# directory inside DATA_DIR; a marker is written last and only then is the directory renamed into
# place: the cache is either complete or absent. A complete cache is left alone.
set -euo pipefail

version="1:1.99.1-7.3"
declare -A deb_sha256=(
  [fortunes]="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"
  [fortunes-min]="9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07"
)

data_dir="${1:-data}"
cache="$data_dir/fortunes"
marker="$cache/.complete"
text="$cache/usr/share/games/fortunes"

if [ -f "$marker" ]; then
  echo "Fortunes corpus already at $text"
  exit 0
fi
if [ -e "$cache" ]; then
  echo "error: $cache exists but is incomplete (no $marker); remove it and run again" >&2
  exit 1
fi

mkdir -p "$data_dir"
staging="$(realpath "$(mktemp -d "$data_dir/.fortunes.XXXXXX")")"
trap 'rm -rf "$staging"' EXIT
mkdir "$staging/fortunes"
for package in fortunes fortunes-min; do
  echo "Fetching $package=$version"
  # apt-get download writes into the current directory; -o keeps its sandbox user out of the way.
  if ! (cd "$staging" && apt-get download -q -o APT::Sandbox::User=root "$package=$version" >/dev/null); then
    echo "error: apt-get could not download $package=$version (offline, or no package lists:" \
      "run apt-get update)" >&2
    exit 1
  fi
  deb="$(ls "$staging"/"${package}"_*.deb)"
  if ! echo "${deb_sha256[$package]}  $deb" | sha256sum --check --status; then
    echo "error: $(basename "$deb") has SHA-256 $(sha256sum "$deb" | cut -d' ' -f1)," \
      "expected ${deb_sha256[$package]}: refusing to use it" >&2
    exit 1
  fi
  dpkg-deb -x "$deb" "$staging/fortunes"
done
if [ ! -f "$staging/fortunes/usr/share/games/fortunes/fortunes" ]; then
  echo "error: the packages hold no usr/share/games/fortunes/fortunes" >&2
  exit 1
fi
touch "$staging/fortunes/.complete"
mv -T "$staging/fortunes" "$cache"
echo "Fortunes corpus ready at $text"
