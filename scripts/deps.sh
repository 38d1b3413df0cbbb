#!/usr/bin/env bash
# Installs the Debian packages tapegrad builds with, those that are missing only.
# Works as root or through sudo on a fresh Debian 12.
set -euo pipefail

packages=(g++ cmake ninja-build libxsimd-dev xtl-dev libfmt-dev doctest-dev libcli11-dev
          nlohmann-json3-dev libbenchmark-dev libopenblas-dev libopenmpi-dev openmpi-bin)
packages+=("$@")

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "Installing: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
