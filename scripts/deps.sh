#!/usr/bin/env bash
# Installs the Debian 12 packages vigie needs. Usage: deps.sh build|test
# Skips apt entirely when everything is already installed.
set -euo pipefail

BUILD_PKGS=(cmake g++ make pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
            libsodium-dev libssl-dev libsqlite3-dev libpq-dev libtoml11-dev libspdlog-dev
            libcli11-dev libvips-dev libjemalloc-dev libmaxminddb-dev)
TEST_PKGS=(libgtest-dev postgresql python3 python3-pytest python3-pytest-xdist python3-matrix-nio
           python3-olm python3-aiohttp clang libclang-rt-14-dev clang-format wrk synadm
           ninja-build)

want=("${BUILD_PKGS[@]}")
if [ "${1:-build}" = test ]; then
  want+=("${TEST_PKGS[@]}")
  # Node and npm for matrix-js-sdk: Debian's, unless the machine has its own.
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
