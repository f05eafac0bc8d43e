#!/usr/bin/env bash
# The README's test command: installs what it needs, builds the WASM modules,
# runs every test of the workspace. Safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain: adding the wasm32-unknown-unknown target (idempotent)"
rustup target add wasm32-unknown-unknown

echo "==> building the example modules for wasm32"
./scripts/build-modules.sh

echo "==> running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
