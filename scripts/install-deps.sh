#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
# Called by the Makefile (make deps). Needs root or sudo when something is missing.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libxxhash-dev libjemalloc-dev libcriterion-dev liburing-dev libhiredis-dev
  redis-tools python3-redis python3-pytest
)
# Extra packages can be passed as arguments (the benchmark asks for redis-server).
PKGS+=("$@")

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
