# The data cache of the fetch scripts (sourced by fetch_data.sh and fetch_fortunes.sh): a corpus
# is fetched once into a directory that is either complete (it holds a marker, written last) or
# absent, never half there.
#   cache_open CACHE "what"     a complete CACHE: says so and exits 0; an incomplete one: an error;
#                               else makes $staging (removed on exit) and $staging/content beside
#                               CACHE, for the caller to fill
#   verify_sha256 FILE SHA256   an error naming FILE and both digests unless FILE has that digest
#   cache_close CACHE           marks $staging/content complete and renames it to CACHE

cache_open() {
  local cache="$1" what="$2"
  if [ -f "$cache/.complete" ]; then
    echo "$what already at $cache"
    exit 0
  fi
  if [ -e "$cache" ]; then
    echo "error: $cache exists but is incomplete (no $cache/.complete); remove it and run again" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$cache")"
  staging="$(realpath "$(mktemp -d "$(dirname "$cache")/.$(basename "$cache").XXXXXX")")"
  trap 'rm -rf "$staging"' EXIT
  mkdir "$staging/content"
}

verify_sha256() {
  local file="$1" expected="$2"
  if ! echo "$expected  $file" | sha256sum --check --status; then
    echo "error: $(basename "$file") has SHA-256 $(sha256sum "$file" | cut -d' ' -f1)," \
      "expected $expected: refusing to use it" >&2
    exit 1
  fi
}

cache_close() {
  touch "$staging/content/.complete"
  mv -T "$staging/content" "$1"
}
