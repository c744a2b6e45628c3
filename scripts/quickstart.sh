#!/usr/bin/env bash
# Builds vigie and starts it with the embedded defaults: SQLite under ./data,
# a commented config at ./data/vigie.toml, listening on 127.0.0.1:8008.
# The first start prints a registration token for your first account.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh build
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DVIGIE_TESTS=OFF >/dev/null
cmake --build build-release --target vigie -j"$(nproc)"
exec ./build-release/vigie serve "$@"
